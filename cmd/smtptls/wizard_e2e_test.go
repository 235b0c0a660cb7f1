package main

// End-to-end tests of the wizard in a real terminal: the built binary runs
// under tmux, PEMs made by openssl are pasted with tmux's paste-buffer
// (bracketed with -p, typed out without), and the result is checked on the
// wire with openssl s_client. Each test is one admin's task.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"github.com/smtptls/smtptls/internal/loopback"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smtptls/smtptls/config"
	"github.com/smtptls/smtptls/internal/testpki"
)

// wizTerm is a tmux server of its own with one 80x24 window running the wizard.
type wizTerm struct {
	t    *testing.T
	sock string
	bin  string
	dir  string
	addr string
}

func wizNeed(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed: apt-get install %s", tool, tool)
		}
	}
}

func wizBuild(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "smtptls")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// startWizard runs `smtptls setup` in tmux; cleanup stops the listener and
// the tmux server whatever happened.
func startWizard(t *testing.T, bin, dir string, env ...string) *wizTerm {
	t.Helper()
	w := &wizTerm{t: t, sock: filepath.Join(t.TempDir(), "tmux.sock"), bin: bin, dir: dir,
		addr: "127.0.0.1:" + strconv.Itoa(loopback.FreePort(t))}
	// The admin's terminal: no NO_COLOR, and no CI either, which termenv
	// takes to mean "not a terminal" (CI runs these tests with CI=true).
	args := append([]string{"env", "-u", "NO_COLOR", "-u", "CI", "TERM=xterm-256color", "COLORTERM=truecolor"}, env...)
	cmd := strings.Join(append(args, bin, "setup",
		"--config-dir", dir, "--listen", w.addr, "--hostname", "mail.example.test"), " ")
	w.tmux("new-session", "-d", "-s", "wiz", "-x", "80", "-y", "24", cmd, ";", "set-option", "-t", "wiz", "remain-on-exit", "on")
	t.Cleanup(func() {
		_ = exec.Command(bin, "stop", "--config-dir", dir).Run()
		_ = exec.Command("tmux", "-S", w.sock, "kill-server").Run()
	})
	return w
}

func (w *wizTerm) tmux(args ...string) string {
	w.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-S", w.sock}, args...)...).CombinedOutput()
	if err != nil {
		w.t.Fatalf("tmux %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func (w *wizTerm) screen() string { return w.tmux("capture-pane", "-p", "-t", "wiz", "-S", "-100") }

// colored reports whether the screen holds any color (SGR 30-38, 40-48,
// 90-97, 100-107); reverse video for the cursor is not color.
func (w *wizTerm) colored() bool {
	return sgrColor.MatchString(w.tmux("capture-pane", "-p", "-e", "-t", "wiz"))
}

var sgrColor = regexp.MustCompile(`\x1b\[(?:[0-9]+;)*(?:3[0-8]|4[0-8]|9[0-7]|10[0-7])(?:;[0-9]+)*m`)

// waitFor waits until the screen shows every one of texts.
func (w *wizTerm) waitFor(timeout time.Duration, texts ...string) string {
	w.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := w.screen()
		missing := ""
		for _, x := range texts {
			if !strings.Contains(s, x) {
				missing = x
				break
			}
		}
		if missing == "" {
			return s
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("screen never showed %q; it shows:\n%s", missing, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (w *wizTerm) keys(keys ...string) {
	w.tmux(append([]string{"send-keys", "-t", "wiz"}, keys...)...)
}

// paste puts a file on the terminal as the admin's paste: bracketed
// (paste-buffer -p, the usual case) or typed out, every line break a CR.
func (w *wizTerm) paste(file string, bracketed bool) {
	w.tmux("load-buffer", "-b", "p", file)
	args := []string{"paste-buffer", "-b", "p", "-t", "wiz"}
	if bracketed {
		args = append(args, "-p")
	}
	w.tmux(args...)
}

// wizPKI makes root → intermediate → leaf with openssl, plus a key that
// belongs to nothing.
type wizPKI struct{ leaf, key, bundle, root, otherKey string }

func makeWizPKI(t *testing.T) wizPKI {
	t.Helper()
	d := t.TempDir()
	p := func(n string) string { return filepath.Join(d, n) }
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("openssl", args...).CombinedOutput(); err != nil {
			t.Fatalf("openssl %v: %v\n%s", args, err, out)
		}
	}
	write := func(n, s string) {
		if err := os.WriteFile(p(n), []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ec := []string{"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"}
	run(append([]string{"req", "-x509"}, append(ec, "-keyout", p("root.key"), "-out", p("root.pem"), "-days", "3650", "-subj", "/CN=Wizard Test Root")...)...)
	run(append([]string{"req"}, append(ec, "-keyout", p("int.key"), "-out", p("int.csr"), "-subj", "/CN=Wizard Test Intermediate")...)...)
	write("ca.ext", "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n")
	run("x509", "-req", "-in", p("int.csr"), "-CA", p("root.pem"), "-CAkey", p("root.key"), "-CAcreateserial", "-out", p("int.pem"), "-days", "1000", "-extfile", p("ca.ext"))
	run(append([]string{"req"}, append(ec, "-keyout", p("leaf.key"), "-out", p("leaf.csr"), "-subj", "/CN=mail.example.test")...)...)
	write("leaf.ext", "subjectAltName=DNS:mail.example.test\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n")
	run("x509", "-req", "-in", p("leaf.csr"), "-CA", p("int.pem"), "-CAkey", p("int.key"), "-CAcreateserial", "-out", p("leaf.pem"), "-days", "90", "-extfile", p("leaf.ext"))
	run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", p("other.key"))
	inter, _ := os.ReadFile(p("int.pem"))
	root, _ := os.ReadFile(p("root.pem"))
	write("bundle.pem", string(inter)+string(root))
	return wizPKI{leaf: p("leaf.pem"), key: p("leaf.key"), bundle: p("bundle.pem"), root: p("root.pem"), otherKey: p("other.key")}
}

func wizFingerprint(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM", file)
	}
	sum := sha256.Sum256(blk.Bytes)
	return hex.EncodeToString(sum[:])
}

// wizServed asks the listener for its certificate over STARTTLS with
// openssl, verifying chain and name, and returns its SHA-256.
func wizServed(t *testing.T, addr, caFile string) string {
	t.Helper()
	cmd := exec.Command("openssl", "s_client", "-connect", addr, "-starttls", "smtp", "-CAfile", caFile,
		"-verify_return_error", "-verify_hostname", "mail.example.test", "-servername", "mail.example.test")
	cmd.Stdin = strings.NewReader("")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("openssl s_client: %v\n%s", err, out)
	}
	blk, _ := pem.Decode(out[strings.Index(string(out), "-----BEGIN CERTIFICATE-----"):])
	if blk == nil {
		t.Fatalf("s_client printed no certificate:\n%s", out)
	}
	sum := sha256.Sum256(blk.Bytes)
	return hex.EncodeToString(sum[:])
}

func TestWizardE2EPasteApplyServes(t *testing.T) {
	wizNeed(t, "tmux", "openssl")
	bin, pk, dir := wizBuild(t), makeWizPKI(t), filepath.Join(t.TempDir(), "cfg")
	w := startWizard(t, bin, dir)

	w.waitFor(20*time.Second, "How should this gateway handle STARTTLS?", "> Available (recommended)")
	if !w.colored() {
		t.Fatal("no color on a 256-color terminal without NO_COLOR")
	}
	w.keys("Enter")
	w.waitFor(15*time.Second, "Certificate · step 2 of 6", "-----BEGIN CERTIFICATE-----")

	w.paste(pk.leaf, true)
	w.waitFor(15*time.Second, "✓ mail.example.test, issued by Wizard Test Intermediate")
	w.keys("Tab")
	w.waitFor(15*time.Second, "Private key · step 3 of 6")

	w.paste(pk.key, true)
	s := w.waitFor(15*time.Second, "✓ ECDSA P-256 private key", "hidden")
	keyPEM, _ := os.ReadFile(pk.key)
	for _, l := range strings.Split(string(keyPEM), "\n") {
		if len(l) > 10 && !strings.HasPrefix(l, "-----") && strings.Contains(s, l[:10]) {
			t.Fatalf("the private key is on screen:\n%s", s)
		}
	}
	w.keys("Tab")
	w.waitFor(15*time.Second, "CA bundle · step 4 of 6")

	// Typed out, as by a terminal without bracketed paste: every line
	// break is an Enter, and none of them may move on.
	w.paste(pk.bundle, false)
	s = w.waitFor(15*time.Second, "✓ Wizard Test Intermediate", "✓ Wizard Test Root")
	if !strings.Contains(s, "CA bundle · step 4 of 6") {
		t.Fatalf("the typed-out paste left the bundle step:\n%s", s)
	}
	w.keys("Tab")
	w.waitFor(15*time.Second, "Review · step 5 of 6", "✓ the certificate covers this name", "Ready.")
	if _, err := os.Stat(filepath.Join(dir, config.CurrentLink)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("something was written before apply: %v", err)
	}
	w.keys("Enter")
	w.waitFor(60*time.Second, "✓ Success: applied and verified", "What a sending server sees")

	if got, want := wizServed(t, w.addr, pk.root), wizFingerprint(t, pk.leaf); got != want {
		t.Fatalf("listener serves %s, want the pasted certificate %s", got, want)
	}
	w.keys("Enter")
	w.waitFor(15*time.Second, "smtptls: applied and verified")
}

func TestWizardE2EMismatchedKeyWritesNothing(t *testing.T) {
	wizNeed(t, "tmux", "openssl")
	bin, pk, dir := wizBuild(t), makeWizPKI(t), filepath.Join(t.TempDir(), "cfg")
	w := startWizard(t, bin, dir)

	w.waitFor(20*time.Second, "How should this gateway handle STARTTLS?")
	w.keys("Enter")
	w.waitFor(15*time.Second, "Certificate · step 2 of 6")
	w.paste(pk.leaf, true)
	w.waitFor(15*time.Second, "✓ mail.example.test")
	w.keys("Tab")
	w.waitFor(15*time.Second, "Private key · step 3 of 6")
	w.paste(pk.otherKey, true)
	w.waitFor(15*time.Second, "does not belong to the certificate", "openssl pkey -pubout")
	w.keys("Tab")
	w.paste(pk.bundle, true)
	w.waitFor(15*time.Second, "✓ Wizard Test Root")
	w.keys("Tab")
	w.waitFor(15*time.Second, "must be fixed before applying", "does not belong", "Apply is blocked")
	w.keys("Enter") // goes to the field at fault, applies nothing
	w.waitFor(15*time.Second, "Private key · step 3 of 6")
	w.keys("C-c")
	w.waitFor(15*time.Second, "Quit without applying?", "Nothing has been written")
	w.keys("y")
	w.waitFor(15*time.Second, "smtptls: nothing applied.")

	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == config.CurrentLink || e.Name() == config.GenerationsDir {
			t.Fatalf("the config directory was written to: %s", e.Name())
		}
	}
}

func TestWizardE2EStartsOnRecoveryForAnExpiredCertificate(t *testing.T) {
	wizNeed(t, "tmux")
	bin, dir := wizBuild(t), filepath.Join(t.TempDir(), "cfg")
	now := time.Now()
	ch := testpki.MustChain(now.AddDate(0, -4, 0), testpki.ECDSAP256, "mail.example.test")
	expired, err := ch.Intermediate.Issue(testpki.Template{CommonName: "mail.example.test", DNSNames: []string{"mail.example.test"},
		NotBefore: now.AddDate(0, -3, 0), NotAfter: now.AddDate(0, 0, -2)})
	if err != nil {
		t.Fatal(err)
	}
	st, err := config.OpenStore(dir, config.ThisHost())
	if err != nil {
		t.Fatal(err)
	}
	lock, err := st.Lock("wizard e2e test")
	if err != nil {
		t.Fatal(err)
	}
	set := config.DefaultSettings(false, "mail.example.test")
	set.Mode = config.ModeAvailable
	gen, err := st.Stage(set, config.Material{CertPEM: expired.PEM(), KeyPEM: expired.KeyPEM(), ChainPEM: ch.Intermediate.PEM(), CAPEM: ch.Root.PEM()})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Activate(gen); err != nil {
		t.Fatal(err)
	}
	if err := lock.Unlock(); err != nil {
		t.Fatal(err)
	}

	w := startWizard(t, bin, dir, "NO_COLOR=1")
	s := w.waitFor(20*time.Second, "Needs attention", "This gateway's TLS needs attention.", "expired", "Press enter to fix it")
	if w.colored() {
		t.Fatalf("color drawn with NO_COLOR=1:\n%q", w.tmux("capture-pane", "-p", "-e", "-t", "wiz"))
	}
	if strings.Contains(s, "Press r to apply the installed configuration again") {
		t.Fatalf("offers to re-apply an expired certificate:\n%s", s)
	}
	w.keys("Enter")
	w.waitFor(15*time.Second, "Certificate · step")
}

func TestWizardE2EEncryptedKeyIsDecryptedInMemory(t *testing.T) {
	wizNeed(t, "tmux", "openssl")
	bin, pk, dir := wizBuild(t), makeWizPKI(t), filepath.Join(t.TempDir(), "cfg")
	encKey := filepath.Join(t.TempDir(), "leaf-encrypted.key")
	if out, err := exec.Command("openssl", "pkcs8", "-topk8", "-v2", "aes256", "-in", pk.key, "-out", encKey,
		"-passout", "pass:pass phrase 42").CombinedOutput(); err != nil {
		t.Fatalf("openssl pkcs8: %v\n%s", err, out)
	}
	w := startWizard(t, bin, dir)
	w.waitFor(20*time.Second, "How should this gateway handle STARTTLS?")
	w.keys("Enter")
	w.waitFor(15*time.Second, "Certificate · step 2 of 6")
	w.paste(pk.leaf, true)
	w.waitFor(15*time.Second, "✓ mail.example.test")
	w.keys("Tab")
	w.waitFor(15*time.Second, "Private key · step 3 of 6")
	w.paste(encKey, true)
	w.waitFor(15*time.Second, "This key is encrypted", "Pass phrase:")
	// Typed with its Enter in one go, as a password manager or a script
	// does: the Enter lands within a millisecond of the phrase.
	w.tmux("send-keys", "-t", "wiz", "-l", "pass phrase 42", ";", "send-keys", "-t", "wiz", "Enter")
	if s := w.waitFor(15*time.Second, "decrypted with the pass phrase"); strings.Contains(s, "pass phrase 42") {
		t.Fatalf("the pass phrase is on screen:\n%s", s)
	}
	w.keys("Tab")
	w.waitFor(15*time.Second, "CA bundle · step 4 of 6")
	w.paste(pk.bundle, true)
	w.waitFor(15*time.Second, "✓ Wizard Test Root")
	w.keys("Tab")
	w.waitFor(15*time.Second, "Ready.")
	w.keys("Enter")
	w.waitFor(60*time.Second, "✓ Success: applied and verified")
	if got, want := wizServed(t, w.addr, pk.root), wizFingerprint(t, pk.leaf); got != want {
		t.Fatalf("listener serves %s, want %s", got, want)
	}
	keyFile := filepath.Join(dir, config.CurrentLink, config.KeyFile)
	st, err := os.Stat(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(keyFile)
	if st.Mode().Perm() != 0o600 || !strings.Contains(string(b), "-----BEGIN PRIVATE KEY-----") || strings.Contains(string(b), "pass phrase") {
		t.Fatalf("stored key: mode %v, %q", st.Mode().Perm(), strings.SplitN(string(b), "\n", 2)[0])
	}
}

// TestWizardE2EDumbTerminalIsRefusedWithTheCommandsToUse: TERM=dumb cannot
// move the cursor, so the full-screen wizard would be a scroll of frames;
// it says which commands do the same job instead.
func TestWizardE2EDumbTerminalIsRefusedWithTheCommandsToUse(t *testing.T) {
	wizNeed(t, "tmux")
	bin, dir := wizBuild(t), filepath.Join(t.TempDir(), "cfg")
	w := startWizard(t, bin, dir, "TERM=dumb")
	s := w.waitFor(20*time.Second, "TERM=dumb", "smtptls validate --cert FILE --key FILE --ca FILE", "smtptls apply --mode available")
	if strings.Contains(s, "How should this gateway handle STARTTLS?") {
		t.Fatalf("the wizard drew its screens on a dumb terminal:\n%s", s)
	}
}

// TestWizardE2EBunchedKeysAreActedOn sends keys the way tmux, scripts and
// laggy links do, several in one write: every one of them is acted on.
func TestWizardE2EBunchedKeysAreActedOn(t *testing.T) {
	wizNeed(t, "tmux", "openssl")
	bin, pk, dir := wizBuild(t), makeWizPKI(t), filepath.Join(t.TempDir(), "cfg")
	w := startWizard(t, bin, dir)
	w.waitFor(20*time.Second, "How should this gateway handle STARTTLS?", "> Available (recommended)")

	w.keys("Down", "Enter") // one call: both keys in one write
	w.waitFor(15*time.Second, "Required refuses mail from every sender")
	w.keys("n")
	w.waitFor(15*time.Second, "> Required")
	w.keys("Up", "Enter")
	w.waitFor(15*time.Second, "Certificate · step 2 of 6")

	// A paste typed out by the terminal (no bracketed paste), with the Tab
	// right behind it: the Tab moves on, no line break of the paste does.
	w.tmux("load-buffer", "-b", "p", pk.leaf)
	w.tmux("paste-buffer", "-b", "p", "-t", "wiz", ";", "send-keys", "-t", "wiz", "Tab")
	w.waitFor(15*time.Second, "Private key · step 3 of 6")
	w.keys("Escape")
	w.waitFor(15*time.Second, "Certificate · step 2 of 6", "✓ mail.example.test, issued by Wizard Test Intermediate")
}

// TestWizardE2ECopyIsClaimedOnlyWhenItArrives copies the TLSA record in
// tmux: with tmux's default set-clipboard nothing reaches a clipboard, so
// the wizard must not say "Copied"; with set-clipboard on the record lands
// in tmux's buffer (and the terminal's clipboard) and it says so.
func TestWizardE2ECopyIsClaimedOnlyWhenItArrives(t *testing.T) {
	wizNeed(t, "tmux", "openssl")
	bin, pk, dir := wizBuild(t), makeWizPKI(t), filepath.Join(t.TempDir(), "cfg")
	w := startWizard(t, bin, dir)
	w.waitFor(20*time.Second, "How should this gateway handle STARTTLS?")
	w.keys("Enter")
	w.waitFor(15*time.Second, "Certificate · step 2 of 6")
	for _, f := range []struct{ file, shows string }{{pk.leaf, "✓ mail.example.test"}, {pk.key, "✓ ECDSA P-256 private key"}, {pk.bundle, "✓ Wizard Test Root"}} {
		w.paste(f.file, true)
		w.waitFor(15*time.Second, f.shows)
		w.keys("Tab")
	}
	w.waitFor(15*time.Second, "Review · step 5 of 6", "Ready.")

	w.tmux("set-option", "-g", "set-clipboard", "external") // tmux's default
	w.keys("t")
	s := w.waitFor(15*time.Second, "Not copied", "set-clipboard on")
	if strings.Contains(s, "Copied") {
		t.Fatalf("claims a copy tmux kept to itself:\n%s", s)
	}

	w.tmux("set-option", "-g", "set-clipboard", "on")
	w.keys("Down") // a key clears the note
	w.waitFor(15*time.Second, "Ready.")
	w.keys("t")
	w.waitFor(15*time.Second, "Copied the TLSA record")
	deadline := time.Now().Add(10 * time.Second)
	for {
		buf, _ := exec.Command("tmux", "-S", w.sock, "show-buffer").Output()
		if strings.Contains(string(buf), "._tcp.mail.example.test. IN TLSA 3 1 1 ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tmux's buffer holds %q, not the TLSA record", buf)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestWizardE2ELinuxConsoleGetsASCIISymbols: the Linux console's fonts
// lack ✓ and ✗; on TERM=linux the wizard draws their ASCII fallbacks.
func TestWizardE2ELinuxConsoleGetsASCIISymbols(t *testing.T) {
	wizNeed(t, "tmux", "openssl")
	bin, pk, dir := wizBuild(t), makeWizPKI(t), filepath.Join(t.TempDir(), "cfg")
	w := startWizard(t, bin, dir, "TERM=linux")
	w.waitFor(20*time.Second, "How should this gateway handle STARTTLS?")
	w.keys("Enter")
	w.waitFor(15*time.Second, "Certificate · step 2 of 6")
	w.paste(pk.leaf, true)
	s := w.waitFor(15*time.Second, "+ mail.example.test, issued by Wizard Test Intermediate")
	if strings.ContainsAny(s, "✓✗↻…→↓↑") {
		t.Fatalf("symbols the console cannot show are on screen:\n%s", s)
	}
}
