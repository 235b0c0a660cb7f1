package tui

import (
	"fmt"
	"strings"
	"testing"

	"github.com/smtptls/smtptls/apply"
	"github.com/smtptls/smtptls/config"
)

// joinLines reads a screen as a person copying from it does: each line
// without its indentation and padding, a line ending in " \" continued
// with a space, any other line run on into the next.
func joinLines(view string) string {
	var b strings.Builder
	for _, l := range strings.Split(view, "\n") {
		l = strings.TrimSpace(strings.ReplaceAll(l, "│", ""))
		if c, ok := strings.CutSuffix(l, " \\"); ok {
			l = c + " "
		}
		b.WriteString(l)
	}
	return b.String()
}

// body is a frame without its help line, which ends in "…" when the keys
// do not fit (? lists them all).
func body(view string) string { return view[:strings.LastIndex(view, "\n")] }

func noSpace(s string) string { return strings.Join(strings.Fields(s), "") }

// Values admins copy by hand are never cut: at 40, 60, 80 and 200 columns
// the full fingerprint, TLSA record and commands are on screen.
func TestCopyableValuesAreWholeAtEveryWidth(t *testing.T) {
	const verify = "smtptls verify --hostname mail.example.test --ca /etc/smtptls/current/ca.pem 127.0.0.1:3001"
	const served = "21d4af71e5cbf23ba26dd41275d3d6f6ce5b0450dbc6eae35daecccd13dfcaca"
	for _, w := range []int{40, 60, 80, 200} {
		t.Run(fmt.Sprint(w), func(t *testing.T) {
			h := newHarness(t)
			h.result.Fingerprint = served
			h.preview = apply.Result{Changes: []apply.Change{{What: "certificate", Old: strings.Repeat("0a", 32), New: served}}}
			h.installed.Loaded.Generation = "20261101T093000Z-0003"
			h.start(w, 100)
			h.m.s.deps.VerifyCommand = func(string, string, config.Mode) string { return verify }
			h.fillAll()
			rs := h.m.screens[stepReview].(*reviewScreen)
			if rs.rep == nil || rs.rep.Summary == nil {
				t.Fatalf("no summary on the review:\n%s", h.view())
			}
			v := h.view()
			text := noSpace(joinLines(v))
			for _, want := range []string{rs.rep.Summary.CertSHA256, rs.tlsaRecord(), "certificate: " + strings.Repeat("0a", 32) + " → " + served} {
				if !strings.Contains(text, noSpace(want)) {
					t.Fatalf("at %d columns the review lacks %q; it shows:\n%s", w, want, v)
				}
			}
			if strings.Contains(body(v), "…") {
				t.Fatalf("at %d columns the review cuts something:\n%s", w, v)
			}
			h.press("enter")
			h.wantScreen("Result")
			v = h.view()
			if !strings.Contains(noSpace(joinLines(v)), served) {
				t.Fatalf("at %d columns the result lacks the served fingerprint; it shows:\n%s", w, v)
			}
			if !strings.Contains(joinLines(v), verify) {
				t.Fatalf("at %d columns the result lacks the verify command %q; it shows:\n%s", w, verify, v)
			}
			if strings.Contains(body(v), "…") {
				t.Fatalf("at %d columns the result cuts something:\n%s", w, v)
			}
		})
	}
}
