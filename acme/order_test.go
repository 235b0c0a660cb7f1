package acme

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"github.com/smtptls/smtptls/internal/loopback"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smtptls/smtptls/internal/pebbletest"
)

const testName = "mail.example.test"

// order runs one order against p and returns the result.
func order(t *testing.T, p *pebbletest.Server, dir string, s Settings) (Result, error) {
	t.Helper()
	s.Server = p.DirURL
	s.ServerCA = p.ListenerCAFile
	if s.Email == "" {
		s.Email = "postmaster@example.test"
	}
	if len(s.Domains) == 0 {
		s.Domains = []string{testName}
	}
	r := Request{ConfigDir: dir, Settings: s, DNSResolver: p.DNSAddr, PropagationTimeout: 20 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	return Obtain(ctx, r)
}

// chainsTo verifies res against pebble's root, as a peer would.
func chainsTo(t *testing.T, p *pebbletest.Server, res Result) {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(p.Root(t))
	inter := x509.NewCertPool()
	inter.AppendCertsFromPEM(res.ChainPEM)
	if _, err := res.Leaf.Verify(x509.VerifyOptions{DNSName: testName, Roots: roots, Intermediates: inter}); err != nil {
		t.Fatalf("the certificate does not chain to pebble's root: %v", err)
	}
}

func TestObtainHTTP01(t *testing.T) {
	t.Parallel()
	p := pebbletest.Start(t, pebbletest.Options{})
	dir := t.TempDir()
	addr := "127.0.0.1:" + strconv.Itoa(p.HTTPPort)
	res, err := order(t, p, dir, Settings{Challenge: HTTP01, HTTPAddr: addr})
	if err != nil {
		t.Fatalf("order: %v", err)
	}
	chainsTo(t, p, res)
	if !res.NewAccount {
		t.Error("the first order did not register an account")
	}
	fi, err := os.Stat(filepath.Join(dir, SubDir, AccountKey))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("account key: %v %v, want mode 0600", err, fi)
	}
	if fi, _ := os.Stat(filepath.Join(dir, SubDir)); fi.Mode().Perm() != 0o700 {
		t.Errorf("acme directory mode %v, want 0700", fi.Mode().Perm())
	}
	// A second order reuses the account and, given the key, keeps it.
	key, err := ParseKey(res.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	r2 := Request{ConfigDir: dir, Key: key, Settings: Settings{Server: p.DirURL, ServerCA: p.ListenerCAFile, Email: "postmaster@example.test",
		Domains: []string{testName}, Challenge: HTTP01, HTTPAddr: addr}}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res2, err := Obtain(ctx, r2)
	if err != nil {
		t.Fatalf("second order: %v", err)
	}
	if res2.NewAccount {
		t.Error("the second order registered a new account")
	}
	if string(res2.KeyPEM) != string(res.KeyPEM) {
		t.Error("the second order did not keep the certificate key")
	}
	if res2.Leaf.SerialNumber.Cmp(res.Leaf.SerialNumber) == 0 {
		t.Error("the second order returned the same certificate")
	}
}

func TestObtainTLSALPN01(t *testing.T) {
	t.Parallel()
	p := pebbletest.Start(t, pebbletest.Options{})
	res, err := order(t, p, t.TempDir(), Settings{Challenge: TLSALPN01, TLSALPNAddr: "127.0.0.1:" + strconv.Itoa(p.TLSPort), KeyType: KeyRSA2048})
	if err != nil {
		t.Fatalf("order: %v", err)
	}
	chainsTo(t, p, res)
	if _, ok := res.Leaf.PublicKey.(interface{ Size() int }); !ok {
		t.Errorf("key type %T, want RSA", res.Leaf.PublicKey)
	}
	if res.Settings.KeyType != KeyRSA2048 || res.Settings.Challenge != TLSALPN01 {
		t.Errorf("result settings %+v, want what renew must repeat (rsa2048, tls-alpn-01)", res.Settings)
	}
}

func TestObtainDNS01(t *testing.T) {
	t.Setenv("LEGO_DISABLE_CNAME_SUPPORT", "true")
	p := pebbletest.Start(t, pebbletest.Options{})
	hook := p.DNSHook(t)
	res, err := order(t, p, t.TempDir(), Settings{Challenge: DNS01, DNSHook: hook, Domains: []string{testName, "*.example.test"}})
	if err != nil {
		t.Fatalf("order: %v", err)
	}
	chainsTo(t, p, res)
	log, _ := os.ReadFile(filepath.Join(p.Dir, "dns-hook.log"))
	for _, want := range []string{"present _acme-challenge.mail.example.test. ", "cleanup _acme-challenge.mail.example.test. ", "present _acme-challenge.example.test. "} {
		if !strings.Contains(string(log), want) {
			t.Errorf("the hook was not run as %q:\n%s", want, log)
		}
	}
}

func TestObtainHTTP01Unreachable(t *testing.T) {
	t.Parallel()
	p := pebbletest.Start(t, pebbletest.Options{})
	// The responder binds a port the CA does not connect to, as when port
	// 80 is closed at the firewall.
	other := "127.0.0.1:" + strconv.Itoa(loopback.FreePort(t))
	_, err := order(t, p, t.TempDir(), Settings{Challenge: HTTP01, HTTPAddr: other})
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T), want *acme.Error", err, err)
	}
	for _, want := range []string{"could not reach http://mail.example.test/.well-known/acme-challenge/", "open port 80", "--challenge dns-01", "port 25"} {
		if !strings.Contains(e.Message, want) {
			t.Errorf("message lacks %q: %s", want, e.Message)
		}
	}
	if e.Step != StepChallenge {
		t.Errorf("step %q, want challenge", e.Step)
	}
}

func TestObtainNeedsEAB(t *testing.T) {
	t.Parallel()
	p := pebbletest.Start(t, pebbletest.Options{EAB: map[string]string{"kid-1": "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"}})
	addr := "127.0.0.1:" + strconv.Itoa(p.HTTPPort)
	_, err := order(t, p, t.TempDir(), Settings{Challenge: HTTP01, HTTPAddr: addr})
	if err == nil || !strings.Contains(err.Error(), "--eab-kid") {
		t.Fatalf("without EAB: %v, want a message naming --eab-kid", err)
	}
	dir := t.TempDir()
	r := Request{ConfigDir: dir, EABKID: "kid-1", EABHMAC: "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W",
		Settings: Settings{Server: p.DirURL, ServerCA: p.ListenerCAFile, Email: "a@example.test", Domains: []string{testName}, HTTPAddr: addr}}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := Obtain(ctx, r)
	if err != nil {
		t.Fatalf("with EAB: %v", err)
	}
	chainsTo(t, p, res)
}

func TestKeyPEMIsPKCS8(t *testing.T) {
	k, err := NewKey(KeyEC256)
	if err != nil {
		t.Fatal(err)
	}
	if KeyTypeOf(k) != KeyEC256 {
		t.Errorf("KeyTypeOf = %q", KeyTypeOf(k))
	}
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	back, err := ParseKey(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	if err != nil || KeyTypeOf(back) != KeyEC256 {
		t.Fatalf("ParseKey: %v", err)
	}
}

func TestObtainDNS01HookFailureIsExplained(t *testing.T) {
	t.Setenv("LEGO_DISABLE_CNAME_SUPPORT", "true")
	p := pebbletest.Start(t, pebbletest.Options{})
	hook := filepath.Join(t.TempDir(), "hook")
	if err := os.WriteFile(hook, []byte("#!/bin/sh\necho 'API token rejected by the DNS provider' >&2\nexit 3\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := order(t, p, t.TempDir(), Settings{Challenge: DNS01, DNSHook: hook})
	var e *Error
	if !errors.As(err, &e) || e.Step != StepChallenge {
		t.Fatalf("error %v, want a challenge *acme.Error", err)
	}
	t.Log(e.Message)
	for _, want := range []string{"the DNS hook " + hook + " present _acme-challenge.mail.example.test.", "API token rejected", "fix the hook"} {
		if !strings.Contains(e.Message, want) {
			t.Errorf("message lacks %q: %s", want, e.Message)
		}
	}
}

func TestObtainDNS01PropagationWaitIsBounded(t *testing.T) {
	t.Setenv("LEGO_DISABLE_CNAME_SUPPORT", "true")
	p := pebbletest.Start(t, pebbletest.Options{})
	// A hook that says yes but publishes nothing.
	hook := filepath.Join(t.TempDir(), "hook")
	if err := os.WriteFile(hook, []byte("#!/bin/sh\nexit 0\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	r := Request{ConfigDir: t.TempDir(), DNSResolver: p.DNSAddr, PropagationTimeout: 2 * time.Second,
		Settings: Settings{Server: p.DirURL, ServerCA: p.ListenerCAFile, Email: "a@example.test", Domains: []string{testName}, Challenge: DNS01, DNSHook: hook}}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, err := Obtain(ctx, r)
	var e *Error
	if e, ok := err.(*Error); ok {
		t.Log(e.Message)
	}
	if !errors.As(err, &e) || e.Step != StepChallenge || !strings.Contains(e.Message, "did not become visible in time") {
		t.Fatalf("error %v, want the propagation wait to end with a message about the hook", err)
	}
}

func TestObtainResponderPortTaken(t *testing.T) {
	t.Parallel()
	p := pebbletest.Start(t, pebbletest.Options{})
	busy, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p.HTTPPort))
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_, err = order(t, p, t.TempDir(), Settings{Challenge: HTTP01, HTTPAddr: busy.Addr().String()})
	var e *Error
	if !errors.As(err, &e) || e.Step != StepChallenge {
		t.Fatalf("error %v, want a challenge *acme.Error", err)
	}
	for _, want := range []string{"the http-01 responder could not listen on " + busy.Addr().String(), "address already in use", "another program (often a web server)", "--challenge dns-01"} {
		if !strings.Contains(e.Message, want) {
			t.Errorf("message lacks %q: %s", want, e.Message)
		}
	}
}
