package tui

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/smtptls/smtptls/apply"
	"github.com/smtptls/smtptls/config"
	"github.com/smtptls/smtptls/probe"
	"github.com/smtptls/smtptls/validate"
)

func TestModeScreenAvailableIsTheDefaultAndLeadsToCertificate(t *testing.T) {
	h := newHarness(t).start(80, 24)
	h.wantScreen("TLS mode")
	h.wantView("> Available (recommended)", "Disabled", "Required", "step 1 of 6")
	h.press("enter")
	h.wantScreen("Certificate")
	h.wantView("step 2 of 6", "-----BEGIN CERTIFICATE-----", "both lines included")
}

func TestModeScreenRequiredNeedsASecondConfirmation(t *testing.T) {
	h := newHarness(t).start(80, 24)
	h.press("down", "enter")
	h.wantScreen("TLS mode")
	h.wantView("Never use it on a public gateway")
	h.press("n")
	h.wantScreen("TLS mode")
	h.wantNotView("Never use it on a public gateway")
	h.press("enter", "y")
	h.wantScreen("Certificate")
	if h.m.s.mode != config.ModeRequired || !h.m.s.requiredConfirmed {
		t.Fatalf("mode %s confirmed %v, want required and confirmed", h.m.s.mode, h.m.s.requiredConfirmed)
	}
}

func TestModeScreenDisabledSkipsToReview(t *testing.T) {
	h := newHarness(t).start(80, 24)
	h.press("up", "enter")
	h.wantScreen("Review")
	h.wantView("Disabled: no STARTTLS", "step 2 of 3", "plain text")
	h.press("esc")
	h.wantScreen("TLS mode")
}

func TestCertificateRecognisedUnderTheField(t *testing.T) {
	h := newHarness(t).start(80, 24)
	h.toCert()
	h.paste(pki(t, "leaf.pem"))
	h.wantView("✓ mail.example.test", "Example Test Intermediate R1", "2027-01-27")
}

func TestCertificateErrorsNameTheLineAndWhatToDo(t *testing.T) {
	h := newHarness(t).start(80, 24)
	h.toCert()
	// A CSR pasted instead of the certificate.
	h.paste(pki(t, "leaf.key"))
	h.wantView("✗ Line 1:", "Move the private key to the key field")
	h.press("ctrl+u")
	h.wantView("Nothing pasted yet")
}

func TestKeyIsNeverDrawn(t *testing.T) {
	h := newHarness(t).start(80, 24)
	h.toCert()
	h.paste(pki(t, "leaf.pem"))
	h.press("tab")
	h.wantScreen("Private key")
	key := pki(t, "leaf.key")
	h.paste(key)
	h.wantView("ECDSA P-256 private key", "-----BEGIN PRIVATE KEY-----", "hidden")
	for _, l := range strings.Split(key, "\n") {
		if len(l) > 8 && !strings.HasPrefix(l, "-----") && strings.Contains(h.view(), l[:8]) {
			t.Fatalf("key line %q drawn on screen:\n%s", l, h.view())
		}
	}
}

func TestKeyThatDoesNotMatchIsExplainedOnTheKeyStep(t *testing.T) {
	h := newHarness(t).start(80, 24)
	h.toCert()
	h.paste(pki(t, "leaf.pem"))
	h.press("tab")
	h.paste(pki(t, "other.key"))
	h.wantView("✗", "does not belong to the certificate")
	h.press("tab")
	h.paste(pki(t, "bundle.pem"))
	h.press("tab")
	h.wantScreen("Review")
	h.wantView("must be fixed before applying", "Apply is blocked")
	// Enter does not apply: it goes to the field at fault.
	h.press("enter")
	h.wantScreen("Private key")
	if len(h.requests) != 0 {
		t.Fatalf("apply was called with a mismatched key")
	}
}

func TestEncryptedKeyAsksForThePassPhraseMasked(t *testing.T) {
	h := newHarness(t).start(80, 24)
	h.toCert()
	h.paste(pki(t, "leaf.pem"))
	h.press("tab")
	h.paste(pki(t, "leaf-encrypted.key"))
	h.wantView("This key is encrypted", "Pass phrase:")
	// '?' and letters are text in the prompt, not bindings.
	h.press("wrong?")
	h.wantNotView("wrong?", "All keys")
	h.press("enter")
	h.wantView("Pass phrase:") // asked again
	h.press("correct horse", "enter")
	h.wantView("decrypted with the pass phrase")
	h.wantNotView("correct horse")
	h.press("tab")
	h.paste(pki(t, "bundle.pem"))
	h.press("tab", "enter")
	h.wantScreen("Result")
	if got := string(h.requests[0].Passphrase); got != "correct horse" {
		t.Fatalf("apply got pass phrase %q", got)
	}
}

func TestBundleShowsEveryCertificateAndFixes(t *testing.T) {
	h := newHarness(t).start(80, 30)
	h.toCert()
	h.paste(pki(t, "leaf.pem"))
	h.press("tab")
	h.paste(pki(t, "leaf.key"))
	h.press("tab")
	// Root first, then the leaf again, then the intermediate: save fixes all.
	h.paste(pki(t, "root.pem") + pki(t, "leaf.pem") + pki(t, "intermediate.pem"))
	h.wantView("Example Test Root CA", "Example Test Intermediate R1", "↻ On save:")
}

func TestMissingIntermediateIsExplainedOnTheBundleStep(t *testing.T) {
	h := newHarness(t).start(80, 30)
	h.toCert()
	h.paste(pki(t, "leaf.pem"))
	h.press("tab")
	h.paste(pki(t, "leaf.key"))
	h.press("tab")
	h.paste(pki(t, "root.pem"))
	h.wantView("Example Test Intermediate R1", "✗")
}

func TestEnterInsideAPasteNeverAdvances(t *testing.T) {
	h := newHarness(t).start(80, 24)
	h.toCert()
	cert := pki(t, "leaf.pem")
	h.typeOut(strings.ReplaceAll(cert, "\n", "\r\n"))
	h.wantScreen("Certificate")
	if got := h.m.s.cert.Value(); got != cert {
		t.Fatalf("typed-out paste arrived as %q, want %q", got, cert)
	}
	h.wantView("✓ mail.example.test")
}

func TestTypedOutPasteOnAListScreenFiresNoBinding(t *testing.T) {
	h := newHarness(t).start(80, 24)
	// "j" would move, Enter would choose: a burst does neither.
	h.typeOut("jjj\nk\n")
	h.wantScreen("TLS mode")
	h.wantView("> Available (recommended)")
	// The same keys typed by a person work.
	h.press("j")
	h.wantView("> Required")
}

func TestPastedTextFiresNoBinding(t *testing.T) {
	h := newHarness(t).start(80, 24)
	h.paste("j")
	h.paste("\r")
	h.wantScreen("TLS mode")
	h.wantView("> Available (recommended)")
	h.toCert()
	h.paste("?")
	h.wantNotView("All keys")
}

func TestPasteNormalisesCRLFAndDropsEscapes(t *testing.T) {
	h := newHarness(t).start(80, 24)
	h.toCert()
	cert := pki(t, "leaf.pem")
	dirty := "\x1b]52;c;ZXZpbA==\x07\x1b[31m" + strings.ReplaceAll(cert, "\n", "\r\n") + "\x1b[0m\x07"
	h.paste(dirty)
	if got := h.m.s.cert.Value(); got != cert {
		t.Fatalf("field holds %q, want the clean certificate", got)
	}
	if strings.Contains(h.view(), "\x1b") {
		t.Fatalf("escape sequence reached the screen: %q", h.view())
	}
	h.wantView("✓ mail.example.test")
}

func bigBundle(t testing.TB) string {
	t.Helper()
	unit := pki(t, "intermediate.pem") + pki(t, "root.pem")
	var b strings.Builder
	for b.Len() < 250<<10 {
		b.WriteString(unit)
	}
	return b.String()
}

func TestA250KBBundleArrivesWhole(t *testing.T) {
	big := bigBundle(t)
	for _, how := range []string{"bracketed", "typed-out"} {
		t.Run(how, func(t *testing.T) {
			h := newHarness(t).start(80, 24)
			h.toCert()
			h.press("tab", "tab")
			h.wantScreen("CA bundle")
			if how == "bracketed" {
				h.paste(big)
			} else {
				h.typeOut(big)
			}
			if got := h.m.s.bundle.Value(); got != big {
				t.Fatalf("bundle holds %d bytes in %d lines, want %d bytes in %d lines", len(got), strings.Count(got, "\n"), len(big), strings.Count(big, "\n"))
			}
			h.wantScreen("CA bundle")
			h.wantView(fmt.Sprintf("%d lines, 251.2 KB, %d certificate blocks", strings.Count(big, "\n"), strings.Count(big, "BEGIN")))
		})
	}
}

func TestReviewShowsSummaryChainTLSAAndChanges(t *testing.T) {
	h := newHarness(t).start(100, 60)
	h.fillAll()
	h.wantView("mail.example.test, smtp.example.test", "Example Test Intermediate R1",
		"2026-10-29 to 2027-01-27 (59 days left)", "ECDSA P-256", "1 leaf", "2 intermediate",
		"_2525._tcp.mail.example.test. IN TLSA", "  3 1 1 ", "✓ the certificate covers this name", "first configuration", "Ready.")
	h.press("t")
	if len(h.copied) != 1 || !strings.HasPrefix(h.copied[0], "_2525._tcp.mail.example.test. IN TLSA 3 1 1 ") {
		t.Fatalf("copied %q", h.copied)
	}
}

func TestReviewHostNameIsEditableAndRechecked(t *testing.T) {
	h := newHarness(t).start(100, 60)
	h.fillAll()
	h.press("h", "ctrl+u")
	h.send(tea.KeyMsg{Type: tea.KeyCtrlU})
	for range len("mail.example.test") {
		h.press("backspace")
	}
	h.press("mx.other.test", "enter")
	h.wantView("mx.other.test", "! the certificate does not cover this name")
}

func TestApplySuccessShowsStagesFingerprintAndVerifyCommand(t *testing.T) {
	h := newHarness(t).start(80, 40)
	h.result.Verify = &probe.Report{Hosts: []probe.Host{{Stages: []probe.Stage{
		{Name: "starttls", Status: probe.Pass, Detail: "offered and accepted"},
		{Name: "trust", Status: probe.Pass, Detail: "chains to Example Test Root CA"},
	}}}}
	h.fillAll()
	h.press("enter")
	h.wantScreen("Result")
	h.wantView("✓ Success: applied and verified", "✓ Check the certificate", "offered and accepted", "ab12",
		"smtptls verify --hostname mail.example.test 127.0.0.1:2525")
	req := h.requests[0]
	if req.Mode != config.ModeAvailable || string(req.Cert) != pki(t, "leaf.pem") || string(req.Key) != pki(t, "leaf.key") || string(req.CA) != pki(t, "bundle.pem") {
		t.Fatalf("apply request %+v", req)
	}
	h.press("c")
	if len(h.copied) != 1 || !strings.HasPrefix(h.copied[0], "smtptls verify") {
		t.Fatalf("copied %q", h.copied)
	}
	h.press("enter")
	if !h.quit {
		t.Fatal("enter on success did not close the wizard")
	}
}

func TestApplyFailureSaysPreviousServesAndGoesBackToTheField(t *testing.T) {
	h := newHarness(t).start(80, 30)
	h.result = apply.Result{RolledBack: true, Previous: "20261101T000000Z-0003", FailedStep: apply.StepVerify,
		Field: validate.FieldCABundle, Message: "Peers could not verify the chain the listener served."}
	h.steps = []apply.Step{{Name: apply.StepVerify, Status: apply.StepFailed, Detail: "chain incomplete"}, {Name: apply.StepRollback, Status: apply.StepOK}}
	h.fillAll()
	h.press("enter")
	h.wantScreen("Result")
	h.wantView("✗ Not applied", "could not verify the chain", "20261101T000000Z-0003) is serving again", "✗ Verify", "chain incomplete")
	h.press("enter")
	h.wantScreen("CA bundle")
	if h.m.s.bundle.Value() != pki(t, "bundle.pem") {
		t.Fatal("going back lost the pasted bundle")
	}
}

func installedFixture(t testing.TB, dir string, cert, key string) Installed {
	l := config.Loaded{Dir: dir, Generation: "20261101T000000Z-0001", Settings: config.DefaultSettings(false, "mail.example.test"),
		CertPEM: []byte(cert), KeyPEM: []byte(key), ChainPEM: []byte(pki(t, "intermediate.pem")), CAPEM: []byte(pki(t, "root.pem"))}
	l.Settings.Mode = config.ModeAvailable
	rep := validate.Check(validate.Input{Certificate: cert, Key: key, CABundle: string(l.ChainPEM) + string(l.CAPEM), Hostname: "mail.example.test", Now: testNow})
	return Installed{Loaded: l, Report: &rep, Running: true, Listen: "127.0.0.1:2525"}
}

func TestStartsOnRecoveryWhenTheInstalledCertificateExpired(t *testing.T) {
	h := newHarness(t)
	h.installed = installedFixture(t, h.dir, pki(t, "expired.pem"), pki(t, "expired.key"))
	h.installed.NeedsAttention = []string{"The installed certificate expired on 2026-11-25: peers refuse it."}
	h.installed.Field = validate.FieldCertificate
	h.start(80, 24)
	h.wantScreen("Needs attention")
	h.wantView("expired on 2026-11-25", "Press enter to fix it: paste a new certificate")
	h.wantNotView("Press r to apply")
	h.press("enter")
	h.wantScreen("Certificate")
	// The key and bundle start filled in from the installed config.
	if h.m.s.bundle.Empty() || h.m.s.key.Empty() {
		t.Fatal("installed key and bundle were not prefilled")
	}
}

func TestRecoveryReappliesAHealthyConfigWhenOnlyTheListenerIsDown(t *testing.T) {
	h := newHarness(t)
	h.installed = installedFixture(t, h.dir, pki(t, "leaf.pem"), pki(t, "leaf.key"))
	h.installed.Running = false
	h.installed.NeedsAttention = []string{"The listener is not running."}
	h.start(80, 24)
	h.wantScreen("Needs attention")
	h.wantView("Press r to apply the installed configuration again")
	h.press("r")
	h.wantScreen("Result")
	if r := h.requests[0]; r.Cert != nil || r.Key != nil || r.CA != nil || r.Mode != config.ModeAvailable {
		t.Fatalf("re-apply request should keep the installed material: %+v", r)
	}
}

func TestPrefillFromAValidConfigAndKeepIsOneKey(t *testing.T) {
	h := newHarness(t)
	h.installed = installedFixture(t, h.dir, pki(t, "leaf.pem"), pki(t, "leaf.key"))
	h.start(100, 60)
	h.wantScreen("TLS mode")
	h.wantView("(installed now)", "ctrl+k keep installed")
	h.press("ctrl+k")
	h.wantScreen("Review")
	h.wantView("No changes")
	h.press("esc", "enter")
	h.wantScreen("Certificate")
	h.wantView("✓ mail.example.test")
	h.press("ctrl+u")
	h.wantView("Press ctrl+k to keep the installed certificate")
	h.press("ctrl+k")
	if h.m.s.cert.Value() != pki(t, "leaf.pem") {
		t.Fatal("ctrl+k did not restore the installed certificate")
	}
}

func TestQuitAsksOnlyWhenSomethingWasEntered(t *testing.T) {
	h := newHarness(t).start(80, 24)
	h.press("enter") // Available: differs from the installed Disabled
	h.press("ctrl+c")
	h.wantView("Quit without applying?", "Nothing has been written")
	h.press("n")
	h.wantNotView("Quit without applying?")
	h.wantScreen("Certificate")
	h.press("ctrl+c", "y")
	if !h.quit {
		t.Fatal("y did not quit")
	}

	clean := newHarness(t).start(80, 24)
	clean.press("ctrl+c")
	if !clean.quit {
		t.Fatal("ctrl+c with nothing entered should quit at once")
	}
}

func TestFullHelpToggles(t *testing.T) {
	h := newHarness(t).start(80, 24)
	h.toCert()
	h.wantView("tab next step", "? all keys")
	h.press("?")
	h.wantView("All keys on this screen", "new line (never moves on)", "ctrl+o")
	h.press("esc")
	h.wantScreen("Certificate")
	h.wantNotView("All keys on this screen")
}

func TestLoadFromAFileWithTabCompletion(t *testing.T) {
	h := newHarness(t).start(80, 24)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "server-cert.pem"), []byte(pki(t, "leaf.pem")), 0o644); err != nil {
		t.Fatal(err)
	}
	h.toCert()
	h.press("ctrl+o")
	h.press(filepath.Join(dir, "serv"), "tab")
	h.wantView("server-cert.pem")
	h.press("enter")
	h.wantView("Loaded "+filepath.Join(dir, "server-cert.pem"), "✓ mail.example.test")
	h.press("ctrl+o", filepath.Join(dir, "nope.pem"), "enter")
	h.wantView("cannot open", "such file or directory")
}

func TestGenerateACSRSavesKey0600AndShowsTheRequest(t *testing.T) {
	h := newHarness(t).start(80, 30)
	h.toCert()
	h.press("ctrl+g")
	h.wantScreen("No certificate yet")
	h.press("enter")
	h.wantView("-----BEGIN CERTIFICATE REQUEST-----", "(0600, never shown)")
	files, _ := filepath.Glob(filepath.Join(h.dir, RequestsDir, "*.key"))
	if len(files) != 1 {
		t.Fatalf("want one key file, got %v", files)
	}
	st, err := os.Stat(files[0])
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v", st.Mode(), err)
	}
	dst, _ := os.Stat(filepath.Dir(files[0]))
	if dst.Mode().Perm() != 0o700 {
		t.Fatalf("requests dir mode %v", dst.Mode())
	}
	h.press("c")
	if len(h.copied) != 1 || !strings.Contains(h.copied[0], "CERTIFICATE REQUEST") || strings.Contains(h.copied[0], "PRIVATE") {
		t.Fatalf("copied %q", h.copied)
	}
}

func TestSelfSignedTestCertificateFillsTheFields(t *testing.T) {
	h := newHarness(t).start(100, 50)
	h.toCert()
	h.press("ctrl+g", "down", "enter")
	h.wantScreen("Review")
	h.wantView("mail.example.test", "self-signed")
	if _, err := os.Stat(filepath.Join(h.dir, RequestsDir)); err == nil {
		t.Fatal("a self-signed certificate must not write anything before apply")
	}
}

func TestViewFitsTheTerminalAndReflows(t *testing.T) {
	h := newHarness(t).start(80, 24)
	h.toCert()
	h.paste(pki(t, "leaf.pem"))
	for _, size := range [][2]int{{80, 24}, {120, 40}, {80, 24}, {200, 60}} {
		h.send(tea.WindowSizeMsg{Width: size[0], Height: size[1]})
		lines := strings.Split(h.view(), "\n")
		if len(lines) != size[1] {
			t.Fatalf("%dx%d: view has %d lines", size[0], size[1], len(lines))
		}
		for _, l := range lines {
			if w := lipglossWidth(l); w > size[0] {
				t.Fatalf("%dx%d: line %q is %d wide", size[0], size[1], l, w)
			}
		}
		if !strings.Contains(lines[len(lines)-1], "tab next step") {
			t.Fatalf("%dx%d: help line missing at the bottom: %q", size[0], size[1], lines[len(lines)-1])
		}
	}
}

func TestNoColorMeansNoEscapeSequences(t *testing.T) {
	h := newHarness(t).start(80, 24)
	h.toCert()
	h.paste(pki(t, "leaf.pem"))
	if strings.Contains(h.view(), "\x1b") {
		t.Fatalf("plain styles drew escapes: %q", h.view())
	}
}

func TestApplyRefusedByValidationListsTheProblemsAndWroteNothing(t *testing.T) {
	h := newHarness(t).start(80, 40)
	h.result = apply.Result{FailedStep: apply.StepValidate, Field: validate.FieldCertificate,
		Message: "The certificate expired while you were in the wizard.",
		Diagnostics: []validate.Diagnostic{{Severity: validate.SevError, Field: validate.FieldCertificate, Code: validate.CodeCertExpired,
			Message: "The certificate expired on 2026-11-28.", Hint: "Renew the certificate with your CA and paste the new one."}}}
	h.steps = []apply.Step{{Name: apply.StepValidate, Status: apply.StepFailed}}
	h.fillAll()
	h.press("enter")
	h.wantView("✗ Not applied.", "expired while you were", "✗ The certificate expired on 2026-11-28.", "Renew the certificate",
		"✓ Nothing was written", "enter fix certificate")
	h.press("enter")
	h.wantScreen("Certificate")
}

func TestCtrlCDuringApplyDoesNotInterruptIt(t *testing.T) {
	h := newHarness(t).start(80, 24)
	h.fillAll()
	as := h.m.screens[stepApply].(*applyScreen)
	h.m.cur = stepApply // as if the transaction were still running
	as.done = false
	h.press("ctrl+c")
	if h.quit {
		t.Fatal("ctrl+c quit in the middle of an apply")
	}
	h.wantView("Apply is running: it finishes or rolls back by itself")
}

func TestReviewShowsApplysDryRunChanges(t *testing.T) {
	h := newHarness(t)
	h.dir = "/etc/smtptls" // the default dir: commands need no --config-dir
	h.installed = installedFixture(t, h.dir, pki(t, "leaf.pem"), pki(t, "leaf.key"))
	h.preview = apply.Result{DryRun: true, Changes: []apply.Change{
		{What: "mode", Old: "available", New: "required"},
		{What: "certificate", Old: "0123456789abcdef0123456789abcdef", New: "fedcba9876543210fedcba9876543210"},
	}, Warnings: []string{"applying mode required will need confirmation"}}
	h.start(100, 70)
	h.press("down", "enter", "y", "tab", "tab", "tab")
	h.wantScreen("Review")
	h.wantView("mode: available → required", "certificate: 0123456789abcdef0123456789abcdef → fedcba9876543210fedcba9876543210",
		"! applying mode required will need confirmation", "`smtptls rollback` returns to it")
	if len(h.requests) != 0 {
		t.Fatalf("the dry run was recorded as an apply: %+v", h.requests)
	}
}

func TestEveryScreenSurvivesTinyAndHugeTerminals(t *testing.T) {
	h := newHarness(t).start(80, 24)
	h.fillAll()
	for st, sc := range h.m.screens {
		h.m.cur = st
		for _, size := range [][2]int{{1, 1}, {20, 5}, {40, 10}, {300, 100}} {
			h.send(tea.WindowSizeMsg{Width: size[0], Height: size[1]})
			v := h.view()
			if n := strings.Count(v, "\n") + 1; n < size[1] && size[1] >= 5 {
				t.Fatalf("%s at %v: %d lines", st.title(), size, n)
			}
			_ = sc.ShortHelp()
		}
	}
}

func TestPastingOverTheInstalledCertificateReplacesIt(t *testing.T) {
	h := newHarness(t)
	h.installed = installedFixture(t, h.dir, pki(t, "expired.pem"), pki(t, "expired.key"))
	h.installed.NeedsAttention = []string{"The installed certificate expired."}
	h.installed.Field = validate.FieldCertificate
	h.start(80, 24)
	h.press("enter")
	h.wantScreen("Certificate")
	h.paste(pki(t, "leaf.pem"))
	if got := h.m.s.cert.Value(); got != pki(t, "leaf.pem") {
		t.Fatalf("paste was appended to the installed certificate: %d bytes", len(got))
	}
	h.wantView("The paste replaced the installed certificate", "✓ mail.example.test")
	// Once edited, a second paste adds to the text as usual.
	h.paste("x")
	if got := h.m.s.cert.Value(); got != pki(t, "leaf.pem")+"x" {
		t.Fatalf("second paste: %q", got)
	}
}

func TestGoingBackToFixPutsTheCursorOnTheLineAtFault(t *testing.T) {
	h := newHarness(t).start(80, 24)
	h.toCert()
	h.paste(pki(t, "leaf.pem"))
	h.press("tab")
	h.paste(pki(t, "leaf.key"))
	h.press("tab")
	// A private key in the bundle, after two good certificates.
	h.paste(pki(t, "bundle.pem") + pki(t, "other.key"))
	h.press("home", "up", "up", "up") // somewhere else
	h.press("tab")
	h.wantScreen("Review")
	h.press("enter")
	h.wantScreen("CA bundle")
	if row := h.m.s.bundle.row + 1; row != strings.Count(pki(t, "bundle.pem"), "\n")+1 {
		t.Fatalf("cursor on line %d, want the key's BEGIN line %d", row, strings.Count(pki(t, "bundle.pem"), "\n")+1)
	}
}

func TestCtrlVExplainsTerminalPasteWithoutAClipboard(t *testing.T) {
	h := newHarness(t).start(80, 24)
	h.toCert()
	h.send(tea.KeyMsg{Type: tea.KeyCtrlV})
	h.wantView("Paste with your terminal")
	h.m.s.deps.ReadClipboard = func() (string, error) { return pki(t, "leaf.pem"), nil }
	h.send(tea.KeyMsg{Type: tea.KeyCtrlV})
	h.wantView("✓ mail.example.test")
}
