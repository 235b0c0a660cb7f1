package main

import (
	"context"
	"encoding/json"
	"github.com/smtptls/smtptls/internal/loopback"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/smtptls/smtptls/acme"
	"github.com/smtptls/smtptls/config"
	"github.com/smtptls/smtptls/internal/pebbletest"
	"github.com/smtptls/smtptls/postfix/postfixtest"
)

const acmeName = "mail.example.test"

// acmeBin is one smtptls binary for every ACME test of this run.
var acmeBin struct {
	once sync.Once
	path string
	err  error
}

// TestMain removes the shared binary once every test of the package ran.
func TestMain(m *testing.M) {
	code := m.Run()
	if acmeBin.path != "" && acmeBin.err == nil {
		os.RemoveAll(filepath.Dir(acmeBin.path))
	}
	os.Exit(code)
}

func sharedBinary(t testing.TB) string {
	t.Helper()
	acmeBin.once.Do(func() {
		d, err := os.MkdirTemp("", "smtptls-acme-test-")
		if err != nil {
			acmeBin.err = err
			return
		}
		acmeBin.path = filepath.Join(d, "smtptls")
		if out, err := exec.Command("go", "build", "-o", acmeBin.path, ".").CombinedOutput(); err != nil {
			acmeBin.err = err
			acmeBin.path = string(out)
		}
	})
	if acmeBin.err != nil {
		t.Fatalf("go build: %v\n%s", acmeBin.err, acmeBin.path)
	}
	return acmeBin.path
}

// acmeEnv is a config directory with a pebble to order from; its listener
// is stopped when the test ends.
type acmeEnv struct {
	*applyEnv
	p *pebbletest.Server
}

// newObtainedACMEEnv is newACMEEnv with a certificate obtained by http-01
// and served.
func newObtainedACMEEnv(t testing.TB) *acmeEnv {
	t.Helper()
	a := newACMEEnv(t)
	if out, errOut, code := a.run(a.acmeArgs("http-01")...); code != exitOK {
		t.Fatalf("acme exit %d\n%s%s", code, out, errOut)
	}
	return a
}

func newACMEEnv(t testing.TB) *acmeEnv {
	t.Helper()
	p := pebbletest.Start(t, pebbletest.Options{})
	// Not pebble's validation ports: those are free until the responders bind them.
	a := &applyEnv{t: t, bin: sharedBinary(t), dir: filepath.Join(t.TempDir(), "cfg"), port: loopback.FreePorts(t, 1, p.HTTPPort, p.TLSPort)[0]}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		exec.CommandContext(ctx, a.bin, "stop", "--config-dir", a.dir).Run()
		if b, err := os.ReadFile(filepath.Join(a.dir, config.PidFile)); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
				if pr, err := os.FindProcess(pid); err == nil && pr.Signal(syscall.Signal(0)) == nil {
					pr.Kill()
				}
			}
		}
	})
	return &acmeEnv{applyEnv: a, p: p}
}

func (a *acmeEnv) httpAddr() string { return "127.0.0.1:" + strconv.Itoa(a.p.HTTPPort) }

// acmeArgs are the flags of an order from this env's pebble.
func (a *acmeEnv) acmeArgs(challenge string, extra ...string) []string {
	args := []string{"acme", "--config-dir", a.dir, "--email", "postmaster@example.test", "--domain", acmeName,
		"--server", a.p.DirURL, "--server-ca", a.p.ListenerCAFile, "--challenge", challenge,
		"--http-addr", a.httpAddr(), "--tls-alpn-addr", "127.0.0.1:" + strconv.Itoa(a.p.TLSPort),
		"--listen", a.listen()}
	return append(args, extra...)
}

// served is the fingerprint of the certificate the listener serves, checked
// by openssl against pebble's root and the host name.
func (a *acmeEnv) served() string {
	return opensslServed(a.t, a.listen(), a.p.RootFile(a.t), acmeName)
}

// installed is the live generation's certificate and key.
func (a *acmeEnv) installed() config.Loaded {
	a.t.Helper()
	l, err := config.Load(a.dir, config.ThisHost())
	if err != nil {
		a.t.Fatal(err)
	}
	return l
}

func TestACMEHTTP01ServesCertificate(t *testing.T) {
	t.Parallel()
	a := newACMEEnv(t)
	out, errOut, code := a.run(a.acmeArgs("http-01")...)
	if code != exitOK {
		t.Fatalf("acme exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"ok   account  registered postmaster@example.test", "ok   challenge mail.example.test: answering http-01 on " + a.httpAddr(),
		"ok   finalize", "ok   verify", "live and verified", "DANE TLSA 3 1 1 "} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	l := a.installed()
	if got, want := a.served(), leafFP(t, l.CertPEM); got != want {
		t.Errorf("openssl sees %s, want the ordered %s", got, want)
	}
	// The responder was bound only while the CA validated.
	if c, err := net.DialTimeout("tcp", a.httpAddr(), time.Second); err == nil {
		c.Close()
		t.Errorf("the http-01 responder still listens on %s", a.httpAddr())
	}
	modes := map[string]os.FileMode{
		acme.Dir(a.dir): 0o700,
		filepath.Join(acme.Dir(a.dir), acme.AccountKey):   0o600,
		filepath.Join(acme.Dir(a.dir), acme.SettingsFile): 0o600,
	}
	for path, want := range modes {
		fi, err := os.Stat(path)
		if err != nil {
			t.Errorf("%v", err)
		} else if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %v, want %v", path, fi.Mode().Perm(), want)
		}
	}
	akey, _ := os.ReadFile(filepath.Join(acme.Dir(a.dir), acme.AccountKey))
	assertNoKeyIn(t, "acme output", out+errOut, l.KeyPEM)
	assertNoKeyIn(t, "acme output", out+errOut, akey)
}

func TestACMETLSALPN01ServesCertificate(t *testing.T) {
	t.Parallel()
	a := newACMEEnv(t)
	out, errOut, code := a.run(a.acmeArgs("tls-alpn-01", "--key-type", "rsa2048", "--json")...)
	if code != exitOK {
		t.Fatalf("acme exit %d\n%s%s", code, out, errOut)
	}
	var res acmeResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, out)
	}
	if !res.Renewed || res.Apply == nil || !res.Apply.Applied || !strings.HasPrefix(res.TLSA, "3 1 1 ") {
		t.Errorf("JSON result: %+v", res)
	}
	l := a.installed()
	if got, want := a.served(), leafFP(t, l.CertPEM); got != want {
		t.Errorf("openssl sees %s, want the ordered %s", got, want)
	}
	if !strings.Contains(string(l.KeyPEM), "PRIVATE KEY") {
		t.Fatal("no key installed")
	}
	assertNoKeyIn(t, "acme --json output", out+errOut, l.KeyPEM)
	k, err := acme.ParseKey(l.KeyPEM)
	if err != nil || acme.KeyTypeOf(k) != acme.KeyRSA2048 {
		t.Errorf("installed key %v %v, want rsa2048", acme.KeyTypeOf(k), err)
	}
}

func TestACMEDNS01ServesCertificate(t *testing.T) {
	t.Parallel()
	a := newACMEEnv(t)
	hook := a.p.DNSHook(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c := a.cmd(ctx, a.acmeArgs("dns-01", "--dns-hook", hook)...)
	c.Env = append(c.Env, envDNSResolver+"="+a.p.DNSAddr)
	outb, err := c.CombinedOutput()
	out := string(outb)
	if err != nil {
		t.Fatalf("acme: %v\n%s", err, out)
	}
	if !strings.Contains(out, "TXT _acme-challenge.mail.example.test. published by "+hook) {
		t.Errorf("output does not say the hook published the record:\n%s", out)
	}
	log, _ := os.ReadFile(filepath.Join(a.p.Dir, "dns-hook.log"))
	if !strings.Contains(string(log), "present _acme-challenge.mail.example.test. ") || !strings.Contains(string(log), "cleanup _acme-challenge.mail.example.test. ") {
		t.Errorf("the hook was not run as PROGRAM present|cleanup FQDN VALUE:\n%s", log)
	}
	if got, want := a.served(), leafFP(t, a.installed().CertPEM); got != want {
		t.Errorf("openssl sees %s, want the ordered %s", got, want)
	}
}

func TestRenewKeepsKeyAndServes(t *testing.T) {
	t.Parallel()
	a := newObtainedACMEEnv(t)
	first := a.installed()

	// Pebble's certificates last five years: nothing is due.
	out, errOut, code := a.run("renew", "--config-dir", a.dir)
	if code != exitOK || !strings.Contains(out, "Nothing to do") {
		t.Fatalf("renew when not due: exit %d\n%s%s", code, out, errOut)
	}
	if cur := a.installed(); cur.Generation != first.Generation {
		t.Errorf("a renew with nothing due wrote generation %s", cur.Generation)
	}
	out, errOut, code = a.run("renew", "--config-dir", a.dir, "--json")
	var nd acmeResult
	if err := json.Unmarshal([]byte(out), &nd); err != nil || code != exitOK || nd.Due == nil || *nd.Due || nd.Renewed || !strings.Contains(nd.Reason, "not due") {
		t.Errorf("renew --json when nothing is due: exit %d, %v, %+v\n%s%s", code, err, nd, out, errOut)
	}

	out, errOut, code = a.run("renew", "--config-dir", a.dir, "--force")
	if code != exitOK {
		t.Fatalf("renew --force exit %d\n%s%s", code, out, errOut)
	}
	second := a.installed()
	if leafFP(t, second.CertPEM) == leafFP(t, first.CertPEM) {
		t.Fatal("renew --force installed the same certificate")
	}
	k1, _ := acme.ParseKey(first.KeyPEM)
	k2, _ := acme.ParseKey(second.KeyPEM)
	if t1, t2 := acme.TLSA(k1.Public()), acme.TLSA(k2.Public()); t1 != t2 {
		t.Errorf("renew changed the key: TLSA %s, then %s", t1, t2)
	}
	assertNoKeyIn(t, "renew output", out+errOut, second.KeyPEM)
	if !strings.Contains(out, "the key was kept") {
		t.Errorf("renew does not say the key (and TLSA) was kept:\n%s", out)
	}
	if got, want := a.served(), leafFP(t, second.CertPEM); got != want {
		t.Errorf("after renew openssl sees %s, want the renewed %s", got, want)
	}
}

func TestRenewFailedChallengeKeepsOldCertificate(t *testing.T) {
	t.Parallel()
	a := newObtainedACMEEnv(t)
	before := a.installed()

	// The CA connects to port HTTPPort; the stored settings now bind another
	// one, as when port 80 is closed at a firewall.
	s, err := acme.LoadSettings(a.dir)
	if err != nil {
		t.Fatal(err)
	}
	s.HTTPAddr = "127.0.0.1:" + strconv.Itoa(loopback.FreePorts(t, 1, a.p.HTTPPort, a.p.TLSPort, a.port)[0])
	if err := acme.SaveSettings(a.dir, s); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := a.run("renew", "--config-dir", a.dir, "--force")
	if code != exitFail {
		t.Fatalf("renew with an unreachable responder: exit %d, want 1\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"FAIL challenge", "could not reach http://mail.example.test/.well-known/acme-challenge/", "open port 80", "--challenge dns-01",
		"keeps serving"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if cur := a.installed(); cur.Generation != before.Generation {
		t.Errorf("a failed renewal switched to generation %s", cur.Generation)
	}
	if got, want := a.served(), leafFP(t, before.CertPEM); got != want {
		t.Errorf("after the failed renewal openssl sees %s, want the old %s", got, want)
	}
	out, errOut, code = a.run("status", "--config-dir", a.dir)
	if code != exitFail {
		t.Errorf("status after a failed renewal: exit %d, want 1\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"last renewal", "FAILED: the CA could not reach", "next renewal", "the last ACME renewal"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	out, _, _ = a.run("status", "--config-dir", a.dir, "--json")
	var sj struct {
		ACME *acmeStatus `json:"acme"`
	}
	if err := json.Unmarshal([]byte(out), &sj); err != nil || sj.ACME == nil || sj.ACME.LastOK || !strings.Contains(sj.ACME.LastError, "could not reach") || sj.ACME.NextTry.IsZero() {
		t.Errorf("status --json does not carry the failed renewal: %v %+v\n%s", err, sj.ACME, out)
	}
}

func TestACMEUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"acme", "--email", "a@example.test"}, "no --domain given"},
		{[]string{"acme", "--domain", "mail.example.test"}, "--email"},
		{[]string{"acme", "--email", "a@example.test", "--domain", "mail.example.test", "--challenge", "smtp-25"}, "ACME cannot validate over port 25"},
		{[]string{"acme", "--email", "a@example.test", "--domain", "mail.example.test", "--challenge", "dns-01"}, "--dns-hook PROGRAM"},
		{[]string{"acme", "--email", "a@example.test", "--domain", "mail.example.test", "--eab-kid", "k"}, "go together"},
		{[]string{"acme", "--email", "a@example.test", "--domain", "mail.example.test", "--mode", "disabled"}, "use available or required"},
		{[]string{"acme", "--email", "a@example.test", "--domain", "mail.example.test", "--target", "exim"}, "use bundled"},
	} {
		var out, errOut strings.Builder
		e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, host: config.Host{Getenv: func(string) string { return "" }}, now: time.Now}
		code := run(context.Background(), e, append(tc.args, "--config-dir", t.TempDir()))
		if code != exitUsage || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, errOut.String(), tc.want)
		}
	}
	var out, errOut strings.Builder
	e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, host: config.Host{Getenv: func(string) string { return "" }}, now: time.Now}
	if code := run(context.Background(), e, []string{"renew", "--config-dir", t.TempDir()}); code != exitUsage || !strings.Contains(errOut.String(), "run smtptls acme first") {
		t.Errorf("renew without ACME: exit %d, %q", code, errOut.String())
	}
}

// The Postfix target gets its certificate the same way, and renew keeps
// renewing it there.
func TestACMEPostfixTarget(t *testing.T) {
	c := newPFCmd(t, postfixtest.Options{})
	p := pebbletest.Start(t, pebbletest.Options{})
	root := p.RootFile(t)
	out, errOut, code := c.run("acme", "--config-dir", c.dir, "--email", "postmaster@example.test", "--domain", acmeName,
		"--server", p.DirURL, "--server-ca", p.ListenerCAFile, "--http-addr", "127.0.0.1:"+strconv.Itoa(p.HTTPPort),
		"--target", "postfix", "--postfix-dir", c.pf.ConfigDir)
	if code != exitOK {
		t.Fatalf("acme --target postfix: exit %d\n%s%s\nmaillog:\n%s", code, out, errOut, c.pf.MailLog())
	}
	l, err := config.Load(c.dir, config.ThisHost())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := opensslServed(t, c.pf.Addr(), root, acmeName), leafFP(t, l.CertPEM); got != want {
		t.Fatalf("Postfix serves %s, want the ordered %s", got, want)
	}
	checkMainCFConsistent(t, c, "after acme")

	out, errOut, code = c.run("renew", "--config-dir", c.dir, "--force")
	if code != exitOK {
		t.Fatalf("renew --force: exit %d\n%s%s", code, out, errOut)
	}
	l2, err := config.Load(c.dir, config.ThisHost())
	if err != nil {
		t.Fatal(err)
	}
	if leafFP(t, l2.CertPEM) == leafFP(t, l.CertPEM) || string(l2.KeyPEM) != string(l.KeyPEM) {
		t.Error("renew did not install a new certificate with the same key")
	}
	if got, want := opensslServed(t, c.pf.Addr(), root, acmeName), leafFP(t, l2.CertPEM); got != want {
		t.Errorf("after renew Postfix serves %s, want %s", got, want)
	}
}

// --new-key first shows the next TLSA record and switches nothing; run
// again, it switches to exactly that key.
func TestACMENewKeyShowsNextTLSABeforeSwitch(t *testing.T) {
	t.Parallel()
	a := newObtainedACMEEnv(t)
	first := a.installed()
	k1, _ := acme.ParseKey(first.KeyPEM)
	current := acme.TLSA(k1.Public())

	out, errOut, code := a.run(a.acmeArgs("http-01", "--new-key")...)
	if code != exitOK {
		t.Fatalf("acme --new-key: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "current TLSA "+current) || !strings.Contains(out, "next    TLSA 3 1 1 ") || !strings.Contains(out, "Publish the next TLSA record") {
		t.Fatalf("acme --new-key does not show both records and what to do:\n%s", out)
	}
	next := out[strings.Index(out, "next    TLSA ")+len("next    TLSA ") : strings.Index(out, "next    TLSA ")+len("next    TLSA ")+len(current)]
	if cur := a.installed(); cur.Generation != first.Generation {
		t.Errorf("acme --new-key switched to generation %s before the record was published", cur.Generation)
	}
	if got := a.served(); got != leafFP(t, first.CertPEM) {
		t.Errorf("the listener serves %s, want the old certificate still", got)
	}
	st, _, _ := a.run("status", "--config-dir", a.dir)
	if !strings.Contains(st, "TLSA now      "+current) || !strings.Contains(st, "TLSA next     "+next) {
		t.Errorf("status does not show the current and next TLSA records:\n%s", st)
	}
	fi, err := os.Stat(filepath.Join(acme.Dir(a.dir), acme.NextKeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("next key file: %v %v, want 0600", err, fi)
	}

	out, errOut, code = a.run(a.acmeArgs("http-01", "--new-key")...)
	if code != exitOK {
		t.Fatalf("acme --new-key, second run: exit %d\n%s%s", code, out, errOut)
	}
	second := a.installed()
	k2, _ := acme.ParseKey(second.KeyPEM)
	if got := acme.TLSA(k2.Public()); got != next {
		t.Errorf("switched to TLSA %s, want the announced %s", got, next)
	}
	if !strings.Contains(out, "previous   TLSA "+current) {
		t.Errorf("the switch does not name the previous record:\n%s", out)
	}
	if got := a.served(); got != leafFP(t, second.CertPEM) {
		t.Errorf("the listener serves %s, want the new certificate", got)
	}
	if _, err := os.Stat(filepath.Join(acme.Dir(a.dir), acme.NextKeyFile)); err == nil {
		t.Error("the next key file is still there after the switch")
	}
}

// renew with an injected clock: 31 days before expiry nothing is due; 30
// days before, it renews, applies and the listener serves the new one.
func TestRenewDueByClock(t *testing.T) {
	t.Parallel()
	a := newObtainedACMEEnv(t)
	first := a.installed()
	leaf := parseLeafPEM(first.CertPEM)
	renewAt := leaf.NotAfter.Add(-30 * 24 * time.Hour)
	renew := func(now time.Time) (string, int) {
		var out, errOut strings.Builder
		e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, exe: a.bin, now: func() time.Time { return now },
			host: config.Host{Root: false, Getenv: func(k string) string {
				if k == "NO_COLOR" {
					return "1"
				}
				return ""
			}, UserConfigDir: os.UserConfigDir}}
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		code := run(ctx, e, []string{"renew", "--config-dir", a.dir})
		return out.String() + errOut.String(), code
	}
	out, code := renew(renewAt.Add(-24 * time.Hour))
	if code != exitOK || !strings.Contains(out, "Nothing to do") || !strings.Contains(out, "renewal starts "+renewAt.UTC().Format("2006-01-02")) {
		t.Fatalf("31 days before expiry: exit %d\n%s", code, out)
	}
	if a.installed().Generation != first.Generation {
		t.Fatal("renewed although nothing was due")
	}
	out, code = renew(renewAt)
	if code != exitOK || !strings.Contains(out, "Renewing: the certificate expires in 30 days") {
		t.Fatalf("30 days before expiry: exit %d\n%s", code, out)
	}
	second := a.installed()
	if second.Generation == first.Generation || leafFP(t, second.CertPEM) == leafFP(t, first.CertPEM) {
		t.Fatal("renew did not install a new certificate")
	}
	if got := a.served(); got != leafFP(t, second.CertPEM) {
		t.Errorf("the listener serves %s, want the renewed %s", got, leafFP(t, second.CertPEM))
	}
}

// The wizard's "no certificate yet?" screen orders from pebble, applies
// through the same transaction, and leaves settings that renew repeats.
func TestWizardE2EACMEOrderServesAndRenews(t *testing.T) {
	wizNeed(t, "tmux", "openssl")
	a := newACMEEnv(t)
	// The wizard has no --server-ca field: Go's SSL_CERT_FILE trusts
	// pebble's listener as a private CA's admin would trust their CA.
	w := startWizard(t, a.bin, a.dir, "SSL_CERT_FILE="+a.p.ListenerCAFile)
	w.waitFor(20*time.Second, "How should this gateway handle STARTTLS?")
	w.keys("Enter")
	w.waitFor(15*time.Second, "Certificate · step 2 of 6")
	w.keys("C-g")
	w.waitFor(15*time.Second, "Get a certificate by ACME (Let's Encrypt) for mail.example.test")
	w.keys("Down")
	w.keys("Down")
	w.keys("Enter")
	w.waitFor(15*time.Second, "Get a certificate from an ACME CA", "Names        mail.example.test")
	// One field at a time, as a person types: keys that arrive in one
	// burst with text are taken for a paste.
	w.keys("postmaster@example.test")
	w.waitFor(15*time.Second, "> E-mail       postmaster@example.test")
	w.keys("Down")
	w.waitFor(15*time.Second, "> Names")
	w.keys("Down")
	w.waitFor(15*time.Second, "> Challenge")
	w.keys("Down")
	w.waitFor(15*time.Second, "> Listen on")
	w.keys("C-u")
	w.waitFor(15*time.Second, "> Listen on\n")
	w.keys(a.httpAddr())
	w.waitFor(15*time.Second, "> Listen on    "+a.httpAddr())
	w.keys("Down")
	w.waitFor(15*time.Second, "> CA")
	w.keys("C-u")
	w.waitFor(15*time.Second, "> CA\n")
	w.keys(a.p.DirURL)
	w.waitFor(15*time.Second, "Listen on    "+a.httpAddr(), "CA           "+a.p.DirURL)
	w.keys("Enter")
	w.waitFor(60*time.Second, "Review · step 5 of 6", "Ready.")
	w.keys("Enter")
	w.waitFor(60*time.Second, "✓ Success: applied and verified")

	l := a.installed()
	if got := wizServed(t, w.addr, a.p.RootFile(t)); got != leafFP(t, l.CertPEM) {
		t.Fatalf("the listener serves %s, want the ordered %s", got, leafFP(t, l.CertPEM))
	}
	s, err := acme.LoadSettings(a.dir)
	if err != nil || s.Email != "postmaster@example.test" || s.HTTPAddr != a.httpAddr() {
		t.Fatalf("stored ACME settings: %+v %v", s, err)
	}
	c := a.cmd(context.Background(), "renew", "--config-dir", a.dir, "--force")
	c.Env = append(c.Env, "SSL_CERT_FILE="+a.p.ListenerCAFile)
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("renew --force after the wizard: %v\n%s", err, out)
	}
	l2 := a.installed()
	if leafFP(t, l2.CertPEM) == leafFP(t, l.CertPEM) || string(l2.KeyPEM) != string(l.KeyPEM) {
		t.Error("renew after the wizard did not install a new certificate with the same key")
	}
}

// A CA that requires external account binding: refused without, with a
// message naming the flags; registered with --eab-kid and --eab-hmac-file,
// and the HMAC key is stored nowhere.
func TestACMEExternalAccountBinding(t *testing.T) {
	t.Parallel()
	const hmac = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"
	p := pebbletest.Start(t, pebbletest.Options{EAB: map[string]string{"kid-1": hmac}})
	a := &acmeEnv{applyEnv: &applyEnv{t: t, bin: sharedBinary(t), dir: filepath.Join(t.TempDir(), "cfg"), port: loopback.FreePorts(t, 1, p.HTTPPort, p.TLSPort)[0]}, p: p}
	t.Cleanup(func() { exec.Command(a.bin, "stop", "--config-dir", a.dir).Run() })

	out, errOut, code := a.run(a.acmeArgs("http-01")...)
	if code != exitFail || !strings.Contains(out, "requires external account binding: pass --eab-kid ID --eab-hmac-file FILE") {
		t.Fatalf("without EAB: exit %d, want 1 and a message naming the flags\n%s%s", code, out, errOut)
	}
	hmacFile := filepath.Join(t.TempDir(), "eab-hmac")
	if err := os.WriteFile(hmacFile, []byte(hmac+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = a.run(a.acmeArgs("http-01", "--eab-kid", "kid-1", "--eab-hmac-file", hmacFile)...)
	if code != exitOK {
		t.Fatalf("with EAB: exit %d\n%s%s", code, out, errOut)
	}
	if got, want := a.served(), leafFP(t, a.installed().CertPEM); got != want {
		t.Errorf("openssl sees %s, want the ordered %s", got, want)
	}
	filepath.WalkDir(acme.Dir(a.dir), func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, _ := os.ReadFile(path); strings.Contains(string(b), hmac) {
				t.Errorf("%s holds the EAB HMAC key", path)
			}
		}
		return nil
	})
}
