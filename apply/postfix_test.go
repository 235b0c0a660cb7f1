package apply

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/smtptls/smtptls/config"
	"github.com/smtptls/smtptls/internal/testpki"
	"github.com/smtptls/smtptls/postfix"
	"github.com/smtptls/smtptls/postfix/postfixtest"
)

// pfEnv is a private running Postfix and an smtptls config dir that
// configures it, driven in process through the real transaction.
type pfEnv struct {
	t   testing.TB
	pf  *postfixtest.Instance
	dir string
	d   Deps
	// chains are named certificate chains for mail.example.test, each from
	// its own root.
	chains map[string]*testpki.Chain
}

func newPFEnv(t testing.TB, o postfixtest.Options) *pfEnv {
	t.Helper()
	postfixtest.Skip(t)
	if tt, ok := t.(*testing.T); ok {
		// Each test has its own instance; they spend most of their time
		// waiting on Postfix, so they run side by side.
		tt.Parallel()
	}
	pf := postfixtest.Start(t, o)
	h := config.Host{Root: true, Getenv: func(string) string { return "" }, UserConfigDir: func() (string, error) { return "", errors.New("none") }}
	e := &pfEnv{t: t, pf: pf, dir: filepath.Join(t.TempDir(), "smtptls"), chains: map[string]*testpki.Chain{},
		d: Deps{Host: h, Roots: x509.NewCertPool(), VerifyTimeout: 5 * time.Second}}
	return e
}

func (e *pfEnv) chain(name string) *testpki.Chain {
	if c, ok := e.chains[name]; ok {
		return c
	}
	c := testpki.MustChain(time.Now(), testpki.ECDSAP256, "mail.example.test")
	e.chains[name] = c
	return c
}

func (e *pfEnv) fp(name string) string {
	sum := sha256.Sum256(e.chain(name).Leaf.Cert.Raw)
	return hex.EncodeToString(sum[:])
}

// request applies chain name (or keeps the installed one for "") in mode.
func (e *pfEnv) request(mode config.Mode, name string) Request {
	r := Request{ConfigDir: e.dir, Mode: mode, Hostname: "mail.example.test", Target: config.TargetPostfix, PostfixDir: e.pf.ConfigDir,
		ConfirmRequired: mode == config.ModeRequired}
	if name != "" {
		c := e.chain(name)
		r.Cert, r.Key, r.CA = c.Leaf.PEM(), c.Leaf.KeyPEM(), c.Bundle()
	}
	return r
}

func (e *pfEnv) apply(r Request) Result {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return Run(ctx, e.d, r, nil)
}

func (e *pfEnv) mustApply(r Request) Result {
	e.t.Helper()
	res := e.apply(r)
	if !res.Applied {
		e.t.Fatalf("apply failed at %s: %s\nsteps: %+v\nmaillog:\n%s", res.FailedStep, res.Message, res.Steps, tail(e.pf.MailLog(), 20))
	}
	return res
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// postconfN is `postconf -n` as a map.
func (e *pfEnv) postconfN() map[string]string {
	e.t.Helper()
	m := map[string]string{}
	for _, line := range strings.Split(e.pf.Postconf("-n"), "\n") {
		if k, v, ok := strings.Cut(line, " = "); ok {
			m[k] = v
		} else if k, ok := strings.CutSuffix(line, " ="); ok {
			m[k] = ""
		}
	}
	return m
}

func changedKeys(a, b map[string]string) []string {
	var out []string
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			out = append(out, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// sClient runs openssl s_client with STARTTLS against the instance,
// trusting only chain name's root, and returns the leaf fingerprint it saw
// (retrying for up to 5 s: smtpd processes that are finishing a session
// serve the old certificate until they exit).
func (e *pfEnv) sClient(name string) (fp, out string, err error) {
	e.t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		e.t.Skip("openssl not installed")
	}
	ca := filepath.Join(e.t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, e.chain(name).Root.PEM(), 0o644); err != nil {
		e.t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		cmd := exec.CommandContext(ctx, "openssl", "s_client", "-connect", e.pf.Addr(), "-starttls", "smtp", "-CAfile", ca,
			"-verify_return_error", "-verify_hostname", "mail.example.test", "-servername", "mail.example.test", "-showcerts")
		cmd.Stdin = strings.NewReader("QUIT\r\n")
		b, runErr := cmd.CombinedOutput()
		cancel()
		out, err = string(b), runErr
		fp = leafOf(b)
		if (err == nil && fp == e.fp(name)) || time.Now().After(deadline) {
			return fp, out, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// leafOf is the fingerprint of the first certificate in s_client output.
func leafOf(out []byte) string {
	return leafFingerprint(out)
}

// smtpSay opens a plaintext session and returns the reply to each command.
func smtpSay(t testing.TB, addr string, cmds ...string) []string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(c)
	read := func() string {
		var last string
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("read reply: %v", err)
			}
			last = strings.TrimRight(line, "\r\n")
			if len(last) < 4 || last[3] != '-' {
				return last
			}
		}
	}
	read() // banner
	var replies []string
	for _, cmd := range cmds {
		if _, err := c.Write([]byte(cmd + "\r\n")); err != nil {
			t.Fatal(err)
		}
		replies = append(replies, read())
	}
	return replies
}

// First adoption of a Postfix with TLS off: main.cf changes in exactly the
// touched parameters, the chain file is 0600 in the generation, the old
// values are recorded, and openssl sees the new chain.
func TestPostfixFirstAdoption(t *testing.T) {
	e := newPFEnv(t, postfixtest.Options{})
	before := e.postconfN()
	res := e.mustApply(e.request(config.ModeAvailable, "a"))

	after := e.postconfN()
	if got := changedKeys(before, after); strings.Join(got, ",") != "smtpd_tls_chain_files,smtpd_tls_security_level" {
		t.Errorf("postconf -n changed in %v, want exactly smtpd_tls_chain_files and smtpd_tls_security_level", got)
	}
	chainPath := filepath.Join(e.dir, config.CurrentLink, config.PostfixChainFile)
	if after["smtpd_tls_chain_files"] != chainPath || after["smtpd_tls_security_level"] != "may" {
		t.Errorf("main.cf now: chain %q level %q", after["smtpd_tls_chain_files"], after["smtpd_tls_security_level"])
	}
	gdir := filepath.Join(e.dir, config.GenerationsDir, res.Generation)
	fi, err := os.Stat(filepath.Join(gdir, config.PostfixChainFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("chain file: %v %v", fi, err)
	}
	b, _ := os.ReadFile(filepath.Join(gdir, config.PostfixChainFile))
	c := e.chain("a")
	if string(b) != string(c.Leaf.KeyPEM())+string(c.Leaf.PEM())+string(c.Intermediate.PEM()) {
		t.Errorf("chain file is not key, leaf, intermediate")
	}
	var prev map[string]postfix.Param
	pb, _ := os.ReadFile(filepath.Join(gdir, config.PostfixPreviousFile))
	if err := json.Unmarshal(pb, &prev); err != nil {
		t.Fatalf("previous values: %v\n%s", err, pb)
	}
	if prev["smtpd_tls_security_level"] != (postfix.Param{Value: "none", Set: true}) || prev["smtpd_tls_chain_files"].Set {
		t.Errorf("recorded previous values: %+v", prev)
	}
	l, err := config.Load(e.dir, e.d.Host)
	if err != nil || l.Settings.Target != config.TargetPostfix || l.Settings.Postfix.ConfigDir != e.pf.ConfigDir {
		t.Errorf("generation settings: target %q postfix dir %q (%v)", l.Settings.Target, l.Settings.Postfix.ConfigDir, err)
	}
	fp, out, err := e.sClient("a")
	if err != nil || fp != e.fp("a") || !strings.Contains(out, "Verify return code: 0 (ok)") {
		t.Fatalf("openssl s_client: fp %s want %s: %v\n%s", fp, e.fp("a"), err, out)
	}
	if !strings.Contains(out, "Test Intermediate") {
		t.Errorf("the intermediate is not served:\n%s", out)
	}
	st, err := Current(context.Background(), e.d, e.dir)
	if err != nil || len(st.NeedsAttention) != 0 || !st.ServesInstalled || st.Target != config.TargetPostfix {
		t.Errorf("status after adoption: %+v %v", st, err)
	}
}

// A certificate change is a switch and a reload: main.cf is not rewritten.
func TestPostfixCertificateChange(t *testing.T) {
	e := newPFEnv(t, postfixtest.Options{})
	e.mustApply(e.request(config.ModeAvailable, "a"))
	mainBefore := e.pf.MainCF()
	fi0, _ := os.Stat(filepath.Join(e.pf.ConfigDir, "main.cf"))
	res := e.mustApply(e.request(config.ModeAvailable, "b"))
	if !bytes.Equal(mainBefore, e.pf.MainCF()) {
		t.Errorf("main.cf changed on a certificate change")
	}
	if fi1, _ := os.Stat(filepath.Join(e.pf.ConfigDir, "main.cf")); !os.SameFile(fi0, fi1) {
		t.Errorf("main.cf was rewritten (a new file) on a certificate change")
	}
	if !strings.Contains(stepDetail(res, StepReload), "already") {
		t.Errorf("reload step: %q", stepDetail(res, StepReload))
	}
	if fp, out, err := e.sClient("b"); err != nil || fp != e.fp("b") {
		t.Fatalf("openssl s_client sees %s, want %s: %v\n%s", fp, e.fp("b"), err, out)
	}
}

func stepDetail(r Result, name StepName) string {
	for _, s := range r.Steps {
		if s.Name == name {
			return s.Detail
		}
	}
	return ""
}

// Each mode on the wire: disabled offers no STARTTLS, available serves the
// chain and takes plaintext mail, required refuses plaintext MAIL with 530.
func TestPostfixModesOnTheWire(t *testing.T) {
	e := newPFEnv(t, postfixtest.Options{})

	e.mustApply(e.request(config.ModeAvailable, "a"))
	if fp, out, err := e.sClient("a"); err != nil || fp != e.fp("a") {
		t.Fatalf("available: openssl sees %s: %v\n%s", fp, err, out)
	}
	r := smtpSay(t, e.pf.Addr(), "EHLO client.example.test", "MAIL FROM:<a@example.test>", "QUIT")
	if !strings.HasPrefix(r[1], "250") {
		t.Errorf("available: plaintext MAIL got %q, want 250", r[1])
	}

	res := e.mustApply(e.request(config.ModeRequired, ""))
	if !strings.Contains(stepDetail(res, StepVerify), "refuses mail without STARTTLS") {
		t.Errorf("required verify: %q", stepDetail(res, StepVerify))
	}
	if e.postconfN()["smtpd_tls_security_level"] != "encrypt" {
		t.Errorf("required is not encrypt in main.cf")
	}
	r = smtpSay(t, e.pf.Addr(), "EHLO client.example.test", "MAIL FROM:<a@example.test>", "QUIT")
	if !strings.HasPrefix(r[1], "530") {
		t.Errorf("required: plaintext MAIL got %q, want 530", r[1])
	}
	if fp, out, err := e.sClient("a"); err != nil || fp != e.fp("a") {
		t.Fatalf("required: openssl sees %s: %v\n%s", fp, err, out)
	}

	e.mustApply(e.request(config.ModeDisabled, ""))
	r = smtpSay(t, e.pf.Addr(), "EHLO client.example.test", "STARTTLS", "QUIT")
	if strings.HasPrefix(r[1], "220") {
		t.Errorf("disabled: STARTTLS accepted: %q", r[1])
	}
	if e.postconfN()["smtpd_tls_security_level"] != "none" {
		t.Errorf("disabled is not none in main.cf")
	}
}

// A paste that validation refuses touches neither main.cf nor what is
// served.
func TestPostfixRefusedPasteChangesNothing(t *testing.T) {
	e := newPFEnv(t, postfixtest.Options{})
	e.mustApply(e.request(config.ModeAvailable, "a"))
	mainBefore := e.pf.MainCF()
	gens, _ := config.ListGenerations(e.dir)

	r := e.request(config.ModeAvailable, "b")
	r.Key = e.chain("c").Leaf.KeyPEM() // another certificate's key
	res := e.apply(r)
	if res.Applied || res.FailedStep != StepValidate {
		t.Fatalf("a mismatched key was not refused at validate: %+v", res)
	}
	if !bytes.Equal(mainBefore, e.pf.MainCF()) {
		t.Errorf("main.cf changed after a refused paste")
	}
	if now, _ := config.ListGenerations(e.dir); len(now) != len(gens) {
		t.Errorf("a generation was written for a refused paste")
	}
	if fp, out, err := e.sClient("a"); err != nil || fp != e.fp("a") {
		t.Errorf("served after a refused paste: %s, want %s: %v\n%s", fp, e.fp("a"), err, out)
	}
}

// A Postfix that fails its reload is rolled back: main.cf as before, the
// old certificate still served.
func TestPostfixFailedReloadRollsBack(t *testing.T) {
	e := newPFEnv(t, postfixtest.Options{})
	e.mustApply(e.request(config.ModeAvailable, "a"))
	before := e.postconfN()
	// The hook writes a parameter that postfix check refuses, in the same
	// postconf -e call as smtptls's own.
	e.d.PostfixExtra = map[string]string{"mail_owner": "smtptls-no-such-user"}
	res := e.apply(e.request(config.ModeRequired, "b"))
	e.d.PostfixExtra = nil
	if res.Applied || !res.RolledBack || res.FailedStep != StepReload {
		t.Fatalf("want a rollback at reload, got applied=%v rolledback=%v failed=%s: %s", res.Applied, res.RolledBack, res.FailedStep, res.Message)
	}
	if !strings.Contains(res.Message, "postfix check") {
		t.Errorf("message does not say postfix check failed: %s", res.Message)
	}
	if d := changedKeys(before, e.postconfN()); len(d) != 0 {
		t.Errorf("after rollback postconf -n differs in %v", d)
	}
	if fp, out, err := e.sClient("a"); err != nil || fp != e.fp("a") {
		t.Errorf("after rollback openssl sees %s, want the old %s: %v\n%s", fp, e.fp("a"), err, out)
	}
	r := smtpSay(t, e.pf.Addr(), "EHLO client.example.test", "MAIL FROM:<a@example.test>", "QUIT")
	if !strings.HasPrefix(r[1], "250") {
		t.Errorf("after rollback plaintext MAIL got %q: mode required leaked", r[1])
	}
	l, _ := config.Load(e.dir, e.d.Host)
	if l.Generation != res.Previous {
		t.Errorf("store current %s, want the previous %s", l.Generation, res.Previous)
	}
}

// Postfix that is not running is refused before anything is written.
func TestPostfixNotRunningRefusedBeforeWriting(t *testing.T) {
	e := newPFEnv(t, postfixtest.Options{NoStart: true})
	mainBefore := e.pf.MainCF()
	res := e.apply(e.request(config.ModeAvailable, "a"))
	if res.Applied || !res.EnvironmentError || !strings.Contains(res.Message, "start Postfix first") {
		t.Fatalf("not running: %+v", res)
	}
	if gens, _ := config.ListGenerations(e.dir); len(gens) != 0 {
		t.Errorf("generations written: %v", gens)
	}
	if !bytes.Equal(mainBefore, e.pf.MainCF()) {
		t.Errorf("main.cf changed")
	}
}

// Without root, say so plainly; nothing is written.
func TestPostfixNeedsRoot(t *testing.T) {
	e := newPFEnv(t, postfixtest.Options{NoStart: true})
	e.d.Host.Root = false
	res := e.apply(e.request(config.ModeAvailable, "a"))
	if res.Applied || !res.EnvironmentError || !strings.Contains(res.Message, "needs root") {
		t.Fatalf("as non-root: %+v", res)
	}
}

// Required mode needs the second confirmation for Postfix too.
func TestPostfixRequiredNeedsConfirmation(t *testing.T) {
	e := newPFEnv(t, postfixtest.Options{})
	mainBefore := e.pf.MainCF()
	r := e.request(config.ModeRequired, "a")
	r.ConfirmRequired = false
	res := e.apply(r)
	if res.Applied || !strings.Contains(res.Message, "--yes") {
		t.Fatalf("required without confirmation: %+v", res)
	}
	if !bytes.Equal(mainBefore, e.pf.MainCF()) {
		t.Errorf("main.cf changed")
	}
}

// The dry run lists main.cf's parameters with their present values.
func TestPostfixDryRunShowsParameters(t *testing.T) {
	e := newPFEnv(t, postfixtest.Options{})
	mainBefore := e.pf.MainCF()
	r := e.request(config.ModeRequired, "a")
	r.DryRun = true
	res := e.apply(r)
	want := map[string][2]string{
		"main.cf smtpd_tls_security_level": {"none", "encrypt"},
		"main.cf smtpd_tls_chain_files":    {"(not set)", filepath.Join(e.dir, "current", config.PostfixChainFile)},
	}
	for _, c := range res.Changes {
		if w, ok := want[c.What]; ok {
			if c.Old != w[0] || c.New != w[1] {
				t.Errorf("%s: %s -> %s, want %s -> %s", c.What, c.Old, c.New, w[0], w[1])
			}
			delete(want, c.What)
		}
	}
	if len(want) > 0 {
		t.Errorf("dry run lacks %v: %+v", want, res.Changes)
	}
	if !bytes.Equal(mainBefore, e.pf.MainCF()) {
		t.Errorf("a dry run changed main.cf")
	}
}

// status notices a hand edit of smtpd_tls_security_level, naming both
// values.
func TestPostfixStatusNoticesHandEdit(t *testing.T) {
	e := newPFEnv(t, postfixtest.Options{})
	e.mustApply(e.request(config.ModeAvailable, "a"))
	e.pf.Postconf("-e", "smtpd_tls_security_level=none")
	st, err := Current(context.Background(), e.d, e.dir)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, a := range st.NeedsAttention {
		if strings.Contains(a, "smtpd_tls_security_level is none") && strings.Contains(a, "smtptls set may") {
			found = true
		}
	}
	if !found || st.ServesInstalled {
		t.Errorf("hand edit not reported: %q", st.NeedsAttention)
	}
}

// Once a config dir configures Postfix, main.cf names files in it: moving
// it to the bundled listener is refused before anything is written.
func TestPostfixTargetChangeRefused(t *testing.T) {
	e := newPFEnv(t, postfixtest.Options{})
	e.mustApply(e.request(config.ModeAvailable, "a"))
	mainBefore := e.pf.MainCF()
	gens, _ := config.ListGenerations(e.dir)
	r := e.request(config.ModeAvailable, "")
	r.Target = config.TargetBundled
	res := e.apply(r)
	if res.Applied || !strings.Contains(res.Message, "not supported") || !strings.Contains(res.Message, "nothing was written") {
		t.Fatalf("switch to bundled: %+v", res)
	}
	if now, _ := config.ListGenerations(e.dir); len(now) != len(gens) || !bytes.Equal(mainBefore, e.pf.MainCF()) {
		t.Errorf("something was written")
	}
}

// A master.cf -o override of a parameter smtptls writes would make the
// change invisible to peers: refused before anything is written.
func TestPostfixMasterOverrideRefused(t *testing.T) {
	e := newPFEnv(t, postfixtest.Options{SMTPDArgs: "-o smtpd_tls_security_level=none"})
	mainBefore := e.pf.MainCF()
	res := e.apply(e.request(config.ModeAvailable, "a"))
	if res.Applied || !res.EnvironmentError || !strings.Contains(res.Message, "smtpd_tls_security_level=none") || !strings.Contains(res.Message, "master.cf") {
		t.Fatalf("override not refused: %+v", res)
	}
	if !bytes.Equal(mainBefore, e.pf.MainCF()) {
		t.Errorf("main.cf changed")
	}
	if gens, _ := config.ListGenerations(e.dir); len(gens) != 0 {
		t.Errorf("generations written: %v", gens)
	}
}

// Rolling back to a generation without a certificate (disabled from the
// start) must not leave main.cf naming the store's chain file, which that
// generation does not have.
func TestPostfixRollbackToNoCertificate(t *testing.T) {
	e := newPFEnv(t, postfixtest.Options{})
	first := e.mustApply(e.request(config.ModeDisabled, ""))
	e.mustApply(e.request(config.ModeAvailable, "a"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res := Rollback(ctx, e.d, e.dir, first.Generation, nil)
	if !res.Applied {
		t.Fatalf("rollback: %s", res.Message)
	}
	for k, v := range e.postconfN() {
		if strings.HasPrefix(k, "smtpd_tls_") && (strings.HasSuffix(k, "_files") || strings.HasSuffix(k, "_file")) {
			if v == "" {
				continue
			}
			if _, err := os.Stat(v); err != nil {
				t.Errorf("main.cf %s names %s, which does not exist: %v", k, v, err)
			}
		}
	}
	if e.postconfN()["smtpd_tls_security_level"] != "none" {
		t.Errorf("level after rollback: %q", e.postconfN()["smtpd_tls_security_level"])
	}
}

// A --postfix-dir without main.cf is named as such, not as "not running".
func TestPostfixWrongDirNamed(t *testing.T) {
	e := newPFEnv(t, postfixtest.Options{NoStart: true})
	r := e.request(config.ModeAvailable, "a")
	r.PostfixDir = filepath.Join(t.TempDir(), "no-postfix-here")
	res := e.apply(r)
	if res.Applied || !res.EnvironmentError || !strings.Contains(res.Message, "no Postfix configuration in "+r.PostfixDir) || !strings.Contains(res.Message, "--postfix-dir") {
		t.Fatalf("wrong dir: %+v", res.Message)
	}
}

// smtpd_tls_chain_files is a list: a config dir with a space would be read
// as two files, so it is refused before writing.
func TestPostfixConfigDirWithSpaceRefused(t *testing.T) {
	e := newPFEnv(t, postfixtest.Options{})
	e.dir = filepath.Join(t.TempDir(), "smtp tls")
	mainBefore := e.pf.MainCF()
	res := e.apply(e.request(config.ModeAvailable, "a"))
	if res.Applied || !strings.Contains(res.Message, "space or a comma") {
		t.Fatalf("a config dir with a space: %+v", res.Message)
	}
	if !bytes.Equal(mainBefore, e.pf.MainCF()) {
		t.Errorf("main.cf changed")
	}
}
