package postfix_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/smtptls/smtptls/config"
	"github.com/smtptls/smtptls/internal/testpki"
	"github.com/smtptls/smtptls/postfix"
	"github.com/smtptls/smtptls/postfix/postfixtest"
)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

func TestParseVersion(t *testing.T) {
	for in, want := range map[string]postfix.Version{
		"3.7.11\n":      {3, 7, 11},
		"3.10-20240109": {3, 10, 0},
		"2.11.3":        {2, 11, 3},
	} {
		got, err := postfix.ParseVersion(in)
		if err != nil || got != want {
			t.Errorf("ParseVersion(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "three", "3"} {
		if _, err := postfix.ParseVersion(bad); err == nil {
			t.Errorf("ParseVersion(%q): no error", bad)
		}
	}
}

// Postfix before 3.4 has no smtpd_tls_chain_files: the one file is named as
// both the certificate and the key file.
func TestParamsByVersion(t *testing.T) {
	got := postfix.Params(config.ModeRequired, "/etc/smtptls/current/postfix-chain.pem", postfix.Version{3, 3, 0})
	want := map[string]string{"smtpd_tls_security_level": "encrypt",
		"smtpd_tls_cert_file": "/etc/smtptls/current/postfix-chain.pem", "smtpd_tls_key_file": "/etc/smtptls/current/postfix-chain.pem"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("3.3: %v, want %v", got, want)
	}
	got = postfix.Params(config.ModeAvailable, "/c/postfix-chain.pem", postfix.Version{3, 4, 0})
	want = map[string]string{"smtpd_tls_security_level": "may", "smtpd_tls_chain_files": "/c/postfix-chain.pem"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("3.4: %v, want %v", got, want)
	}
	// Disabled without material leaves the file parameters alone.
	got = postfix.Params(config.ModeDisabled, "", postfix.Version{3, 7, 11})
	if !reflect.DeepEqual(got, map[string]string{"smtpd_tls_security_level": "none"}) {
		t.Errorf("disabled: %v", got)
	}
}

func TestChainPEMOrder(t *testing.T) {
	ch := testpki.MustChain(time.Now(), testpki.ECDSAP256, "mail.example.test")
	b, err := postfix.ChainPEM(config.Material{CertPEM: ch.Leaf.PEM(), KeyPEM: ch.Leaf.KeyPEM(), ChainPEM: ch.Intermediate.PEM()})
	if err != nil {
		t.Fatal(err)
	}
	want := string(ch.Leaf.KeyPEM()) + string(ch.Leaf.PEM()) + string(ch.Intermediate.PEM())
	if string(b) != want {
		t.Errorf("chain file is not key, leaf, chain in that order")
	}
	if _, err := postfix.ChainPEM(config.Material{CertPEM: ch.Leaf.PEM()}); err == nil {
		t.Error("no error without a key")
	}
}

func TestPickListen(t *testing.T) {
	svcs := `smtp      inet  n       -       y       -       -       smtpd
submission inet n       -       y       -       -       smtpd -o smtpd_tls_security_level=encrypt
pickup    unix  n       -       y       60      1       pickup
`
	for _, c := range []struct {
		master, ifaces, want, dial string
		public                     bool
	}{
		{svcs, "all", "0.0.0.0:25", "127.0.0.1:25", true},
		{svcs, "loopback-only", "127.0.0.1:25", "127.0.0.1:25", false},
		{svcs, "192.0.2.1, 127.0.0.1", "192.0.2.1:25, 127.0.0.1:25", "127.0.0.1:25", true},
		{"127.0.0.1:2525 inet n - n - - smtpd\n", "all", "127.0.0.1:2525", "127.0.0.1:2525", false},
		{"smtp inet n - y - 1 postscreen\nsmtpd pass - - y - - smtpd\n", "all", "0.0.0.0:25", "127.0.0.1:25", true},
	} {
		l, err := postfix.PickListenForTest(c.master, c.ifaces, "ipv4")
		if err != nil {
			t.Errorf("%q: %v", c.master, err)
			continue
		}
		if l.String() != c.want || l.Dial() != c.dial || l.Public() != c.public {
			t.Errorf("%q with %q: %s dial %s public %v; want %s dial %s public %v", c.master, c.ifaces, l, l.Dial(), l.Public(), c.want, c.dial, c.public)
		}
	}
	l, err := postfix.PickListenForTest("smtp inet n - y - - smtpd -o smtpd_tls_security_level=none -o smtpd_helo_required=yes\n", "all", "ipv4")
	if err != nil || strings.Join(l.Overrides, ",") != "smtpd_tls_security_level=none" {
		t.Errorf("overrides: %v %v", l.Overrides, err)
	}
	if _, err := postfix.PickListenForTest("pickup unix n - y 60 1 pickup\n", "all", "ipv4"); err == nil || !strings.Contains(err.Error(), "--listen") {
		t.Errorf("no smtpd service: %v", err)
	}
}

func TestSetRefusesLineBreaks(t *testing.T) {
	p := &postfix.Instance{ConfigDir: t.TempDir(), Postconf: "/bin/false"}
	err := p.Set(context.Background(), map[string]string{"smtpd_tls_security_level": "may\nrelayhost = evil"})
	if err == nil || !strings.Contains(err.Error(), "line break") {
		t.Fatalf("got %v", err)
	}
}

// A real private Postfix: read, write in one call, restore, and postconf -n
// differs in exactly the parameters written.
func TestRealSetRestore(t *testing.T) {
	pf := postfixtest.Start(t, postfixtest.Options{NoStart: true, Main: map[string]string{"smtpd_tls_cert_file": "/old/cert.pem"}})
	p := postfix.New(pf.ConfigDir)
	c := ctx(t)
	before, err := p.AllExplicit(c)
	if err != nil {
		t.Fatal(err)
	}
	prev, err := p.Explicit(c, postfix.TouchedParams...)
	if err != nil {
		t.Fatal(err)
	}
	wantPrev := map[string]postfix.Param{
		"smtpd_tls_security_level": {Value: "none", Set: true},
		"smtpd_tls_cert_file":      {Value: "/old/cert.pem", Set: true},
		"smtpd_tls_chain_files":    {},
		"smtpd_tls_key_file":       {},
	}
	if !reflect.DeepEqual(prev, wantPrev) {
		t.Fatalf("explicit before: %v, want %v", prev, wantPrev)
	}
	if err := p.Set(c, map[string]string{"smtpd_tls_security_level": "may", "smtpd_tls_chain_files": "/x/chain.pem"}); err != nil {
		t.Fatal(err)
	}
	after, err := p.AllExplicit(c)
	if err != nil {
		t.Fatal(err)
	}
	if d := changed(before, after); !reflect.DeepEqual(d, []string{"smtpd_tls_chain_files", "smtpd_tls_security_level"}) {
		t.Errorf("postconf -n changed in %v", d)
	}
	if err := p.Restore(c, prev); err != nil {
		t.Fatal(err)
	}
	restored, err := p.AllExplicit(c)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(before, restored) {
		t.Errorf("after restore postconf -n differs: %v", changed(before, restored))
	}
	v, err := p.Version(c)
	if err != nil || !v.AtLeast(2, 0) {
		t.Errorf("version %v, %v", v, err)
	}
}

func changed(a, b map[string]string) []string {
	var out []string
	seen := map[string]bool{}
	for k, v := range a {
		seen[k] = true
		if w, ok := b[k]; !ok || w != v {
			out = append(out, k)
		}
	}
	for k := range b {
		if !seen[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// The running private instance: status, where it listens, check, and a
// reload that makes a new chain file served (seen by openssl s_client).
func TestRealRunningListenReload(t *testing.T) {
	pf := postfixtest.Start(t, postfixtest.Options{})
	p := postfix.New(pf.ConfigDir)
	c := ctx(t)
	if up, err := p.Running(c); err != nil || !up {
		t.Fatalf("running: %v, %v", up, err)
	}
	l, err := p.SMTPListen(c)
	if err != nil {
		t.Fatal(err)
	}
	if l.Dial() != pf.Addr() || l.Public() {
		t.Errorf("listen %s (dial %s), want %s", l, l.Dial(), pf.Addr())
	}
	ch := testpki.MustChain(time.Now(), testpki.ECDSAP256, "mail.example.test")
	b, err := postfix.ChainPEM(config.Material{CertPEM: ch.Leaf.PEM(), KeyPEM: ch.Leaf.KeyPEM(), ChainPEM: ch.Intermediate.PEM()})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "chain.pem")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, ch.Root.PEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	v, _ := p.Version(c)
	if err := p.Set(c, postfix.Params(config.ModeAvailable, file, v)); err != nil {
		t.Fatal(err)
	}
	if err := p.Check(c); err != nil {
		t.Fatal(err)
	}
	if err := p.Reload(c); err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	var out []byte
	for deadline := time.Now().Add(5 * time.Second); ; {
		cmd := exec.CommandContext(c, "openssl", "s_client", "-connect", pf.Addr(), "-starttls", "smtp", "-CAfile", ca,
			"-verify_return_error", "-verify_hostname", "mail.example.test", "-servername", "mail.example.test", "-brief")
		cmd.Stdin = strings.NewReader("")
		out, err = cmd.CombinedOutput()
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil || !strings.Contains(string(out), "Verification: OK") {
		t.Fatalf("openssl s_client: %v\n%s\nmaillog:\n%s", err, out, pf.MailLog())
	}
	pf.Stop()
	if up, err := p.Running(c); err != nil || up {
		t.Errorf("after stop: running %v, %v", up, err)
	}
}

// Describe says what the wizard shows before asking which to configure.
func TestRealDescribe(t *testing.T) {
	ch := testpki.MustChain(time.Now(), testpki.ECDSAP256, "mail.example.test")
	file := filepath.Join(t.TempDir(), "chain.pem")
	b, _ := postfix.ChainPEM(config.Material{CertPEM: ch.Leaf.PEM(), KeyPEM: ch.Leaf.KeyPEM()})
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	pf := postfixtest.Start(t, postfixtest.Options{NoStart: true, Main: map[string]string{"smtpd_tls_security_level": "may", "smtpd_tls_chain_files": file}})
	f, err := postfix.New(pf.ConfigDir).Describe(ctx(t), true)
	if err != nil {
		t.Fatal(err)
	}
	got := f.Summary(time.Now())
	for _, want := range []string{"Postfix 3.", "smtpd on " + pf.Addr(), "TLS currently: may", "certificate mail.example.test expires", "not running"} {
		if !strings.Contains(got, want) {
			t.Errorf("summary %q lacks %q", got, want)
		}
	}
	if _, err := (&postfix.Instance{ConfigDir: pf.ConfigDir, Postconf: "/nonexistent/postconf"}).Describe(ctx(t), true); err == nil {
		t.Error("no error without postconf")
	}
}
