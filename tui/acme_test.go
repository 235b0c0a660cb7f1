package tui

import (
	"context"
	"strings"
	"testing"

	"github.com/smtptls/smtptls/acme"
)

// toACME opens the ACME screen from the certificate step.
func (h *harness) toACME() {
	h.t.Helper()
	h.toCert()
	h.press("ctrl+g")
	h.wantScreen("No certificate yet")
	h.wantView("Get a certificate by ACME (Let's Encrypt) for mail.example.test")
	h.press("down", "down", "enter")
	h.wantScreen("Certificate by ACME")
}

func TestACMEOrderFillsTheFieldsAndIsStoredOnceLive(t *testing.T) {
	h := newHarness(t).start(100, 40)
	var asked acme.Settings
	var saved []acme.Settings
	h.m.s.deps.Order = func(_ context.Context, s acme.Settings, progress func(acme.Event)) (acme.Result, error) {
		asked = s
		progress(acme.Event{Step: acme.StepAccount, Detail: "registered " + s.Email})
		progress(acme.Event{Step: acme.StepChallenge, Name: "mail.example.test", Detail: "answering http-01 on :80"})
		progress(acme.Event{Step: acme.StepFinalize, Detail: "certificate issued"})
		return acme.Result{CertPEM: []byte(pki(t, "leaf.pem")), KeyPEM: []byte(pki(t, "leaf.key")), ChainPEM: []byte(pki(t, "intermediate.pem"))}, nil
	}
	h.m.s.deps.SaveACME = func(s acme.Settings) error { saved = append(saved, s); return nil }
	h.toACME()
	// The names are prefilled with the host name; the e-mail is typed.
	h.wantView("Names        mail.example.test", "‹ http-01 ›", "port 80 of every name", "ACME cannot use port 25")
	h.press("postmaster@example.test", "enter")
	h.wantScreen("Review")
	h.wantView("mail.example.test")
	if asked.Email != "postmaster@example.test" || len(asked.Domains) != 1 || asked.Domains[0] != "mail.example.test" ||
		asked.Challenge != acme.HTTP01 || asked.HTTPAddr != ":80" || asked.Server != acme.LetsEncrypt {
		t.Fatalf("ordered with %+v", asked)
	}
	if len(saved) != 0 {
		t.Fatal("ACME settings stored before the certificate was applied")
	}
	h.press("enter")
	h.wantScreen("Result")
	if len(h.requests) != 1 || !strings.Contains(string(h.requests[0].Cert), "BEGIN CERTIFICATE") || len(h.requests[0].Key) == 0 {
		t.Fatalf("apply was not given the ordered certificate: %d requests", len(h.requests))
	}
	if len(saved) != 1 || saved[0].Email != "postmaster@example.test" {
		t.Fatalf("ACME settings stored after apply: %+v, want the order's", saved)
	}
}

func TestACMEFailureIsExplainedAndNothingFilled(t *testing.T) {
	h := newHarness(t).start(100, 40)
	h.m.s.deps.Order = func(_ context.Context, s acme.Settings, progress func(acme.Event)) (acme.Result, error) {
		progress(acme.Event{Step: acme.StepAccount, Detail: "registered " + s.Email})
		return acme.Result{}, &acme.Error{Step: acme.StepChallenge, Message: "the CA could not reach http://mail.example.test/.well-known/acme-challenge/... (connection refused): open port 80 of mail.example.test to the internet, or use --challenge dns-01"}
	}
	h.toACME()
	// dns-01 needs its hook: said before anything is ordered.
	h.press("postmaster@example.test", "down", "down", "right", "right", "enter")
	h.wantView("‹ dns-01 ›", "--dns-hook PROGRAM")
	h.press("left", "left")
	h.wantView("‹ http-01 ›", ":80")
	h.press("enter")
	h.wantScreen("Certificate by ACME")
	h.wantView("✓ Account: registered postmaster@example.test", "✗ the CA could not reach http://mail.example.test/.well-known/acme-challenge/",
		"open port 80", "Nothing was installed")
	if h.m.s.cert.Value() != "" || h.m.s.acme != nil {
		t.Fatal("a failed order filled the certificate field")
	}
	h.press("esc")
	h.wantScreen("No certificate yet")
}
