// Package pebbletest runs Debian's pebble (a test ACME server) and
// pebble-challtestsrv (its fake DNS) on loopback ports for one test, so
// ACME is tested against a real server, offline.
package pebbletest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/smtptls/smtptls/internal/loopback"
)

// Options shape one pebble.
type Options struct {
	// HTTPPort and TLSPort are where pebble's validator connects for http-01
	// and tls-alpn-01: the ports the responders under test bind. Zero picks
	// a free port.
	HTTPPort, TLSPort int
	// EAB, when not empty, makes external account binding required with
	// these key IDs and base64url HMAC keys.
	EAB map[string]string
}

// Server is a running pebble with its fake DNS.
type Server struct {
	// DirURL is the ACME directory.
	DirURL string
	// ListenerCAFile is the PEM file that pebble's HTTPS listener chains
	// to: what an ACME client must trust (--server-ca).
	ListenerCAFile string
	// HTTPPort and TLSPort are where pebble validates http-01 and
	// tls-alpn-01.
	HTTPPort, TLSPort int
	// DNSAddr is challtestsrv's DNS server (every name resolves to
	// 127.0.0.1; TXT records come from SetTXT).
	DNSAddr string
	// ChallURL is challtestsrv's management API (set-txt, clear-txt).
	ChallURL string
	// Dir is a scratch directory holding the files above.
	Dir string

	mgmt   string
	client *http.Client
}

// Skip skips t unless both pebble binaries are installed.
func Skip(t testing.TB) {
	t.Helper()
	for _, b := range []string{"pebble", "pebble-challtestsrv"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Skipf("%s not installed (Debian package pebble: apt-get install pebble): %v", b, err)
		}
	}
}

// Start runs pebble and challtestsrv for t and stops both when t ends.
// Their ports were free a moment before they bind them; when another
// process took one meanwhile, both start again on other ports.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	Skip(t)
	for attempt := 1; ; attempt++ {
		s, err := tryStart(t, o)
		if err == nil {
			return s
		}
		if !errors.Is(err, errPortTaken) || attempt == 3 {
			t.Fatal(err)
		}
		t.Logf("pebbletest: %v; starting again on other ports", err)
	}
}

// errPortTaken: a port was taken between being picked and being bound.
var errPortTaken = errors.New("a port was taken before pebble could bind it")

func tryStart(t testing.TB, o Options) (*Server, error) {
	t.Helper()
	dir := t.TempDir()
	s := &Server{Dir: dir, HTTPPort: o.HTTPPort, TLSPort: o.TLSPort}
	dnsPort := freeUDPPort(t)
	ports := loopback.FreePorts(t, 5, dnsPort, o.HTTPPort, o.TLSPort)
	if s.HTTPPort == 0 {
		s.HTTPPort = ports[0]
	}
	if s.TLSPort == 0 {
		s.TLSPort = ports[1]
	}
	certFile, keyFile, pool := writeListenerCert(t, dir)
	s.ListenerCAFile = certFile
	s.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}

	s.DNSAddr = "127.0.0.1:" + strconv.Itoa(dnsPort)
	challMgmt := "127.0.0.1:" + strconv.Itoa(ports[2])
	s.ChallURL = "http://" + challMgmt
	challDone := start(t, dir, "challtestsrv", nil, "pebble-challtestsrv", "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
		"-http01", "", "-https01", "", "-tlsalpn01", "", "-dns01", s.DNSAddr, "-management", challMgmt)

	listen := "127.0.0.1:" + strconv.Itoa(ports[3])
	s.mgmt = "https://127.0.0.1:" + strconv.Itoa(ports[4])
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress":                  listen,
		"managementListenAddress":        s.mgmt[len("https://"):],
		"certificate":                    certFile,
		"privateKey":                     keyFile,
		"httpPort":                       s.HTTPPort,
		"tlsPort":                        s.TLSPort,
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": len(o.EAB) > 0,
		"externalAccountMACKeys":         o.EAB,
	}}
	b, _ := json.Marshal(cfg)
	cfgFile := filepath.Join(dir, "pebble-config.json")
	if err := os.WriteFile(cfgFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	// No validation delay, no rejected nonces, no reused authorizations:
	// every order validates its challenges, fast and the same every run.
	envs := []string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0"}
	pebbleDone := start(t, dir, "pebble", envs, "pebble", "-config", cfgFile, "-dnsserver", s.DNSAddr)
	s.DirURL = "https://" + listen + "/dir"

	// exited explains a program that stopped before it answered.
	exited := func(name string) error {
		logs, _ := os.ReadFile(filepath.Join(dir, name+".log"))
		if bytes.Contains(logs, []byte("address already in use")) {
			return fmt.Errorf("%s: %w", name, errPortTaken)
		}
		return fmt.Errorf("%s exited before it answered:\n%s", name, logs)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-pebbleDone:
			return nil, exited("pebble")
		case <-challDone:
			return nil, exited("challtestsrv")
		default:
		}
		resp, err := s.client.Get(s.DirURL)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			logs, _ := os.ReadFile(filepath.Join(dir, "pebble.log"))
			return nil, fmt.Errorf("pebble did not answer on %s: %v\n%s", s.DirURL, err, logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for {
		select {
		case <-challDone:
			return nil, exited("challtestsrv")
		default:
		}
		c, err := net.DialTimeout("tcp", challMgmt, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			logs, _ := os.ReadFile(filepath.Join(dir, "challtestsrv.log"))
			return nil, fmt.Errorf("pebble-challtestsrv did not answer on %s: %v\n%s", challMgmt, err, logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return s, nil
}

// start runs one program, logging to dir/name.log, killed when t ends;
// the channel is closed when it exits.
func start(t testing.TB, dir, name string, env []string, prog string, args ...string) <-chan struct{} {
	t.Helper()
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(prog, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start %s: %v", prog, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	return done
}

// Root is the root that pebble issues under; it changes at every start.
func (s *Server) Root(t testing.TB) []byte {
	t.Helper()
	return s.get(t, s.mgmt+"/roots/0")
}

// Intermediate is the certificate that signs pebble's leaves.
func (s *Server) Intermediate(t testing.TB) []byte {
	t.Helper()
	return s.get(t, s.mgmt+"/intermediates/0")
}

// RootFile writes Root to a file in Dir and returns its path.
func (s *Server) RootFile(t testing.TB) string {
	t.Helper()
	p := filepath.Join(s.Dir, "pebble-root.pem")
	if err := os.WriteFile(p, s.Root(t), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func (s *Server) get(t testing.TB, url string) []byte {
	t.Helper()
	resp, err := s.client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v %s", url, resp.StatusCode, err, b)
	}
	return b
}

// SetTXT publishes a TXT record through challtestsrv, as a DNS provider's
// API would.
func (s *Server) SetTXT(t testing.TB, fqdn, value string) {
	t.Helper()
	s.post(t, "/set-txt", map[string]string{"host": fqdn, "value": value})
}

func (s *Server) post(t testing.TB, path string, v any) {
	t.Helper()
	b, _ := json.Marshal(v)
	resp, err := http.Post(s.ChallURL+path, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %s", path, resp.Status)
	}
}

// Client is an HTTP client that trusts pebble's listener.
func (s *Server) Client() *http.Client { return s.client }

// freeUDPPort is a port free for both UDP and TCP (challtestsrv binds both).
func freeUDPPort(t testing.TB) int {
	t.Helper()
	for i := 0; i < 50; i++ {
		u, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		u.Close()
		if err == nil {
			l.Close()
			return port
		}
	}
	t.Fatal("no port free for both UDP and TCP")
	return 0
}

// writeListenerCert makes the certificate of pebble's HTTPS listener: a
// self-signed one for localhost and 127.0.0.1 (the package ships none).
func writeListenerCert(t testing.TB, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(now.UnixNano()),
		Subject:               pkix.Name{CommonName: "localhost"},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "listener-cert.pem"), filepath.Join(dir, "listener-key.pem")
	cpem := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(certFile, cpem, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AppendCertsFromPEM(cpem)
	return certFile, keyFile, pool
}

// DNSHook writes a dns-01 hook script (PROGRAM present|cleanup FQDN VALUE)
// that publishes the record through challtestsrv with curl or python3.
func (s *Server) DNSHook(t testing.TB) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed (the dns-01 hook script uses it): apt-get install python3")
	}
	p := filepath.Join(s.Dir, "dns-hook")
	script := fmt.Sprintf(`#!%s
# A dns-01 hook as smtptls runs it: dns-hook present|cleanup FQDN VALUE.
import json, sys, urllib.request
action, fqdn, value = sys.argv[1], sys.argv[2], sys.argv[3]
path = {"present": "/set-txt", "cleanup": "/clear-txt"}[action]
body = {"host": fqdn, "value": value} if action == "present" else {"host": fqdn}
req = urllib.request.Request(%q + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
urllib.request.urlopen(req, timeout=10).read()
with open(%q, "a") as log:
    log.write("%%s %%s %%s\n" %% (action, fqdn, value))
`, py, s.ChallURL, filepath.Join(s.Dir, "dns-hook.log"))
	if err := os.WriteFile(p, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	return p
}

// WaitClosed waits until nothing listens on addr any more (a responder
// bound only while validating), bounded by ctx.
func WaitClosed(ctx context.Context, addr string) error {
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return nil
		}
		c.Close()
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s still accepts connections", addr)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
