package smtpd

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smtptls/smtptls/config"
	"github.com/smtptls/smtptls/internal/testpki"
)

const testHost = "mail.example.test"

// fixture is a config directory with a test PKI.
type fixture struct {
	t     testing.TB
	dir   string
	chain *testpki.Chain
	roots *x509.CertPool
	n     int
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ch := testpki.MustChain(time.Now(), testpki.ECDSAP256, testHost)
	roots := x509.NewCertPool()
	roots.AddCert(ch.Root.Cert)
	dir := shortTempDir(t)
	return &fixture{t: t, dir: dir, chain: ch, roots: roots}
}

// shortTempDir keeps Unix socket paths under the 108-byte limit.
func shortTempDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("", "smtpd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func testSettings(mode config.Mode) config.Settings {
	s := config.DefaultSettings(false, testHost)
	s.Mode = mode
	s.Listen = "127.0.0.1:0"
	return s
}

// writeGen writes a generation with the fixture's chain (or ch) and makes
// it current, as the config store does.
func (f *fixture) writeGen(s config.Settings, ch *testpki.Chain) string {
	f.t.Helper()
	if ch == nil {
		ch = f.chain
	}
	f.n++
	gen := fmt.Sprintf("20261128T120000Z-%04d", f.n)
	gdir := filepath.Join(f.dir, config.GenerationsDir, gen)
	must(f.t, os.MkdirAll(gdir, 0o700))
	data, err := config.MarshalSettings(s)
	must(f.t, err)
	must(f.t, os.WriteFile(filepath.Join(gdir, config.SettingsFile), data, 0o600))
	if s.Mode.NeedsCertificate() {
		must(f.t, os.WriteFile(filepath.Join(gdir, config.CertFile), ch.Leaf.PEM(), 0o600))
		must(f.t, os.WriteFile(filepath.Join(gdir, config.KeyFile), ch.Leaf.KeyPEM(), 0o600))
		must(f.t, os.WriteFile(filepath.Join(gdir, config.ChainFile), ch.Bundle(), 0o600))
		must(f.t, os.WriteFile(filepath.Join(gdir, config.CAFile), ch.Root.PEM(), 0o600))
	}
	link := filepath.Join(f.dir, config.CurrentLink)
	tmp := link + ".tmp"
	os.Remove(tmp)
	must(f.t, os.Symlink(filepath.Join(config.GenerationsDir, gen), tmp))
	must(f.t, os.Rename(tmp, link))
	return gen
}

// config loads the current generation as the listener would.
func (f *fixture) config() Config {
	f.t.Helper()
	l, err := config.Load(f.dir, testHostEnv())
	must(f.t, err)
	cfg, err := ConfigFrom(l)
	must(f.t, err)
	return cfg
}

func (f *fixture) caFile() string {
	p := filepath.Join(f.dir, "test-ca.pem")
	if _, err := os.Stat(p); err != nil {
		must(f.t, os.WriteFile(p, f.chain.Root.PEM(), 0o600))
	}
	return p
}

func testHostEnv() config.Host {
	return config.Host{Getenv: func(string) string { return "" }, UserConfigDir: func() (string, error) { return "/nonexistent", nil }}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// logBuf collects slog output for assertions.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startServer runs the fixture's current config on loopback.
func startServer(t *testing.T, f *fixture, mutate ...func(*Config)) (*Server, *logBuf) {
	t.Helper()
	return startServerOpts(t, f, Options{}, mutate...)
}

// startServerOpts is startServer with options (logger and drain timeout
// are the test's own).
func startServerOpts(t *testing.T, f *fixture, opts Options, mutate ...func(*Config)) (*Server, *logBuf) {
	t.Helper()
	cfg := f.config()
	for _, m := range mutate {
		m(&cfg)
	}
	lb := &logBuf{}
	opts.Logger, opts.DrainTimeout = slog.New(slog.NewTextHandler(lb, nil)), 5*time.Second
	srv, err := New(cfg, opts)
	must(t, err)
	must(t, srv.Start())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return srv, lb
}

// client is a raw SMTP peer that reads replies exactly as sent.
type client struct {
	t  testing.TB
	c  net.Conn
	r  *bufio.Reader
	tc *tls.Conn
}

func dial(t testing.TB, addr string) *client {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	must(t, err)
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	t.Cleanup(func() { c.Close() })
	return &client{t: t, c: c, r: bufio.NewReader(c)}
}

// greet dials addr, reads the greeting and says EHLO client.example: a
// session ready for MAIL (or STARTTLS).
func greet(t testing.TB, addr string) *client {
	t.Helper()
	c := dial(t, addr)
	c.reply()
	c.expect("EHLO client.example", "250-")
	return c
}

// reply reads one whole (possibly multi-line) reply.
func (c *client) reply() string {
	c.t.Helper()
	var lines []string
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("read reply: %v (got %q)", err, lines)
		}
		lines = append(lines, strings.TrimRight(line, "\r\n"))
		if len(line) < 4 || line[3] != '-' {
			return strings.Join(lines, "\n")
		}
	}
}

func (c *client) send(s string) {
	c.t.Helper()
	var w net.Conn = c.c
	if c.tc != nil {
		w = c.tc
	}
	if _, err := w.Write([]byte(s)); err != nil {
		c.t.Fatalf("write %q: %v", s, err)
	}
}

// cmd sends one command line and returns the reply.
func (c *client) cmd(line string) string {
	c.t.Helper()
	c.send(line + "\r\n")
	return c.reply()
}

func (c *client) expect(line, prefix string) string {
	c.t.Helper()
	r := c.cmd(line)
	if !strings.HasPrefix(r, prefix) {
		c.t.Fatalf("%s: got %q, want %q...", line, r, prefix)
	}
	return r
}

// starttls upgrades the connection, verifying against roots.
func (c *client) starttls(roots *x509.CertPool) tls.ConnectionState {
	c.t.Helper()
	c.expect("STARTTLS", "220 ")
	c.tc = tls.Client(c.c, &tls.Config{ServerName: testHost, RootCAs: roots})
	must(c.t, c.tc.Handshake())
	c.r = bufio.NewReader(c.tc)
	return c.tc.ConnectionState()
}

func (c *client) close() { c.c.Close() }

func cipherName(id uint16) string { return tls.CipherSuiteName(id) }

// waitFor polls cond; the server logs a session after the peer's QUIT.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// dialFrom connects from another loopback address, to test per-IP limits.
func dialFrom(t testing.TB, src, addr string) *client {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	must(t, err)
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	t.Cleanup(func() { c.Close() })
	return &client{t: t, c: c, r: bufio.NewReader(c)}
}

// peer is a minimal SMTP client for load tests and benchmarks: no
// testing.T, so it can run on any goroutine.
type peer struct {
	c net.Conn
	r *bufio.Reader
}

func (p *peer) step(send, want string) error {
	if p.r == nil {
		p.r = bufio.NewReader(p.c)
	}
	if send != "" {
		if _, err := p.c.Write([]byte(send)); err != nil {
			return err
		}
	}
	for {
		line, err := p.r.ReadString('\n')
		if err != nil {
			return fmt.Errorf("after %q: %w", strings.TrimSpace(send), err)
		}
		if len(line) >= 4 && line[3] == '-' {
			continue
		}
		if !strings.HasPrefix(line, want) {
			return fmt.Errorf("after %q: got %q, want %q", strings.TrimSpace(send), strings.TrimSpace(line), want)
		}
		return nil
	}
}

// tlsClientInsecure is the client end of STARTTLS for load tests, where
// the figure or the behaviour under test is the server's, not trust.
// helloPeer dials addr, reads the greeting and says EHLO as name; with
// useTLS it then runs STARTTLS (the certificate unchecked: what is measured
// or checked is the server) and says EHLO again. The caller closes c.
func helloPeer(addr, name string, useTLS bool) (p *peer, c net.Conn, err error) {
	c, err = net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, nil, err
	}
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	p = &peer{c: c}
	ehlo := "EHLO " + name + "\r\n"
	if err = p.step("", "220 "); err == nil {
		err = p.step(ehlo, "250 ")
	}
	if err == nil && useTLS {
		if err = p.step("STARTTLS\r\n", "220 "); err == nil {
			tc := tlsClientInsecure(c)
			if err = tc.Handshake(); err == nil {
				p = &peer{c: tc}
				err = p.step(ehlo, "250 ")
			}
		}
	}
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	return p, c, nil
}

func tlsClientInsecure(c net.Conn) *tls.Conn {
	return tls.Client(c, &tls.Config{ServerName: testHost, InsecureSkipVerify: true})
}
