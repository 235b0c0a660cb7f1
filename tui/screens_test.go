package tui

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/charmbracelet/x/exp/golden"

	"github.com/smtptls/smtptls/apply"
	"github.com/smtptls/smtptls/probe"
	"github.com/smtptls/smtptls/validate"
)

// capture is one screen as the README shows it.
type capture struct {
	name, caption string
	view          string
}

// captureScreens drives the wizard through every screen at 80x24 with
// colors off, on the fixed fixture PKI and clock.
func captureScreens(t *testing.T) []capture {
	var out []capture
	snap := func(h *harness, name, caption string) {
		out = append(out, capture{name: name, caption: caption, view: h.view()})
	}
	fresh := func() *harness {
		h := newHarness(t)
		h.dir = "/etc/smtptls"
		h.installed.Loaded.Dir = h.dir
		h.result.Verify = &probe.Report{Hosts: []probe.Host{{Stages: []probe.Stage{
			{Name: "connect", Status: probe.Pass, Detail: "connected to 127.0.0.1:2525"},
			{Name: "banner", Status: probe.Pass, Detail: "220 mail.example.test ESMTP Service Ready"},
			{Name: "starttls", Status: probe.Pass, Detail: "offered and accepted"},
			{Name: "handshake", Status: probe.Pass, Detail: "TLS 1.3, TLS_AES_128_GCM_SHA256, X25519MLKEM768"},
			{Name: "chain", Status: probe.Pass, Detail: "2 certificates in order"},
			{Name: "trust", Status: probe.Pass, Detail: `trusted: chains to "Example Test Root CA"`},
			{Name: "hostname", Status: probe.Pass, Detail: "mail.example.test matches"},
			{Name: "expiry", Status: probe.Pass, Detail: "59 days left"},
			{Name: "fingerprint", Status: probe.Pass, Detail: "serves the installed certificate"},
		}}}}
		h.result.Fingerprint = "21d4af71e5cbf23ba26dd41275d3d6f6ce5b0450dbc6eae35daecccd13dfcaca"
		h.steps = []apply.Step{
			{Name: apply.StepValidate, Status: apply.StepOK, Detail: "no problems"},
			{Name: apply.StepWrite, Status: apply.StepOK, Detail: "generation 20261128T120000Z-0001"},
			{Name: apply.StepSwitch, Status: apply.StepOK},
			{Name: apply.StepReload, Status: apply.StepOK, Detail: "listener reloaded"},
			{Name: apply.StepVerify, Status: apply.StepOK, Detail: "serves the new certificate"},
		}
		return h.start(80, 24)
	}

	h := fresh()
	snap(h, "mode", "1. Mode. Available is preselected; Disabled skips straight to the review.")
	h.press("down", "enter")
	snap(h, "mode-required", "Required asks a second time, and says why.")
	h.press("n", "up", "enter")
	snap(h, "certificate-empty", "2. Certificate, before pasting. Enter is a newline here; Tab moves on.")
	h.paste(pki(t, "leaf.pem"))
	snap(h, "certificate", "The certificate is checked as soon as it is pasted.")
	h.press("tab")
	h.paste(pki(t, "other.key"))
	snap(h, "key-mismatch", "3. Private key: never drawn. A key that belongs to another certificate is explained at once.")
	h.press("ctrl+u")
	h.paste(pki(t, "leaf-encrypted.key"))
	snap(h, "key-passphrase", "An encrypted key asks for its pass phrase and is decrypted in memory.")
	h.press("correct horse", "enter")
	snap(h, "key", "Decrypted and matching.")
	h.press("tab")
	h.paste(pki(t, "root.pem") + pki(t, "leaf.pem") + pki(t, "intermediate.pem"))
	snap(h, "bundle", "4. CA bundle: one line per certificate, and what saving will fix.")
	h.press("tab")
	snap(h, "review", "5. Review: everything that will be applied; scroll for warnings, TLSA and changes.")
	h.press("pgdown")
	snap(h, "review-more", "The rest of the review.")
	as := h.m.screens[stepApply].(*applyScreen)
	as.steps = map[apply.StepName]apply.Step{
		apply.StepValidate: {Name: apply.StepValidate, Status: apply.StepOK, Detail: "no problems"},
		apply.StepWrite:    {Name: apply.StepWrite, Status: apply.StepOK, Detail: "generation 20261128T120000Z-0001"},
		apply.StepSwitch:   {Name: apply.StepSwitch, Status: apply.StepOK},
		apply.StepReload:   {Name: apply.StepReload, Status: apply.StepRunning},
	}
	h.m.cur = stepApply
	snap(h, "apply", "6. Apply, while it runs.")
	h.m.cur = stepReview
	h.press("enter")
	snap(h, "success", "Success: what a sending server sees, the served fingerprint, the command to check again.")

	h = fresh()
	h.result = apply.Result{RolledBack: true, Previous: "20261101T093000Z-0003", FailedStep: apply.StepVerify, Field: validate.FieldCABundle,
		Message: "The listener served the new certificate, but peers cannot build a chain to a trusted root."}
	h.steps = []apply.Step{
		{Name: apply.StepValidate, Status: apply.StepOK}, {Name: apply.StepWrite, Status: apply.StepOK},
		{Name: apply.StepSwitch, Status: apply.StepOK}, {Name: apply.StepReload, Status: apply.StepOK},
		{Name: apply.StepVerify, Status: apply.StepFailed, Detail: "unable to get local issuer certificate"},
		{Name: apply.StepRollback, Status: apply.StepOK, Detail: "previous generation serving again"},
	}
	h.fillAll()
	h.press("enter")
	snap(h, "rolled-back", "Recovery after a failed apply: the old configuration is serving again; enter goes to the field at fault.")

	h = newHarness(t)
	h.installed = installedFixture(t, "/etc/smtptls", pki(t, "expired.pem"), pki(t, "expired.key"))
	h.installed.NeedsAttention = []string{
		"The installed certificate for mail.example.test expired on 2026-11-25: verifying peers refuse it.",
		"The listener serves a certificate other than the installed one (reload never happened).",
	}
	h.installed.Field = validate.FieldCertificate
	h.start(80, 24)
	snap(h, "recovery", "Started on a broken install: the wizard opens here.")

	h = fresh()
	h.toCert()
	h.paste(pki(t, "leaf.pem") + pki(t, "leaf.key"))
	snap(h, "certificate-with-key", "A private key pasted where a certificate belongs is named for what it is, and never drawn.")

	h = fresh()
	h.toCert()
	h.press("ctrl+g")
	snap(h, "no-certificate", "No certificate yet (ctrl+g on the certificate step).")
	h.press("esc", "?")
	snap(h, "help", "? shows every key of the screen.")

	h = fresh()
	h.toCert()
	h.press("ctrl+g", "down", "down", "enter")
	snap(h, "acme", "Or get one by ACME: the names start as the host name; the order's progress, and any failure in words, follow. `smtptls renew` renews it later.")
	return out
}

func TestScreens(t *testing.T) {
	for _, c := range captureScreens(t) {
		t.Run(c.name, func(t *testing.T) {
			if lines := strings.Count(c.view, "\n") + 1; lines != 24 {
				t.Fatalf("%d lines, want 24", lines)
			}
			golden.RequireEqual(t, []byte(c.view))
		})
	}
}

// TestREADMEShowsEveryScreen keeps the "## The wizard" section of the
// README equal to the screens above; go generate ./tui rewrites it.
func TestREADMEShowsEveryScreen(t *testing.T) {
	path := filepath.Join("..", "README.md")
	readme, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := readmeSection(captureScreens(t))
	text := string(readme)
	start := strings.Index(text, "\n## The wizard\n")
	if start < 0 && !flagUpdate() {
		t.Fatal("README.md has no \"## The wizard\" section: run go generate ./tui")
	}
	// The section runs to the next top-level heading: the rest of the
	// README belongs to others and is left as it is.
	var before, got, after string
	if start < 0 {
		before, after = strings.TrimRight(text, "\n")+"\n\n", ""
	} else {
		before, got = text[:start+1], text[start+1:]
		if end := strings.Index(got, "\n## "); end >= 0 {
			got, after = got[:end+1], got[end+1:]
		}
	}
	if flagUpdate() {
		if after != "" {
			want += "\n"
		}
		if err := os.WriteFile(path, []byte(before+want+after), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if strings.TrimRight(got, "\n") != strings.TrimRight(want, "\n") {
		t.Fatalf("README's wizard section is out of date: run go generate ./tui\n--- want ---\n%s", want)
	}
}

func readmeSection(cs []capture) string {
	var b strings.Builder
	b.WriteString("## The wizard\n\n")
	b.WriteString("`smtptls` (or `smtptls setup --config-dir DIR`) opens it. Every screen below is\n")
	b.WriteString("captured at 80x24 with colors off by `go generate ./tui`, and a test fails when\n")
	b.WriteString("they drift from what the wizard really draws. Keys: Tab moves on from a paste\n")
	b.WriteString("field (Enter is a newline there, so a paste can never skip a step), Esc goes\n")
	b.WriteString("back, `?` lists every key, Ctrl+C quits and asks first if you entered anything.\n")
	b.WriteString("On the review, `l` sets the listen address and `h` the host name; the host\n")
	b.WriteString("name starts as the installed one, else this machine's name when the certificate\n")
	b.WriteString("covers it, else the certificate's first name, and the review says which. A\n")
	b.WriteString("private key is never drawn, in whatever field it is pasted. On the Linux\n")
	b.WriteString("console (`TERM=linux`) and on VT100/VT220 terminals the symbols fall back to\n")
	b.WriteString("ASCII (`+` ok, `x` problem, `!` warning, `~` fixed on save).\n")
	b.WriteString("Nothing is written before you apply.\n")
	for _, c := range cs {
		b.WriteString("\n" + c.caption + "\n\n```text\n")
		for _, l := range strings.Split(c.view, "\n") {
			b.WriteString(strings.TrimRight(l, " ") + "\n")
		}
		b.WriteString("```\n")
	}
	return b.String()
}
