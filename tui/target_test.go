package tui

import (
	"context"
	"testing"

	"github.com/smtptls/smtptls/config"
)

const foundPostfix = "Postfix 3.7.11, smtpd on 0.0.0.0:25, TLS currently: may, certificate mail.example.test expires 2027-01-27 (57 days)"

// On a fresh install with Postfix found, the first screen says what was
// found and asks which to configure; Postfix is what apply is then told.
func TestTargetQuestionWhenPostfixFound(t *testing.T) {
	h := newHarness(t)
	h.postfix = func(context.Context) (string, bool) { return foundPostfix, true }
	h.start(100, 30)
	h.wantScreen("Mail server")
	h.wantView("Which mail server should get TLS?", "Found: Postfix 3.7.11, smtpd on 0.0.0.0:25, TLS currently: may,", "expires 2027-01-27", "> The Postfix running here", "step 1 of 7")
	h.press("enter")
	h.wantScreen("TLS mode")
	h.wantView("step 2 of 7")
	h.press("up", "enter") // disabled: straight to review
	h.wantScreen("Review")
	h.wantView("Server", "the Postfix running here")
	h.wantNotView("Listen on")
	h.press("enter")
	h.wantScreen("Result")
	if len(h.requests) != 1 || h.requests[0].Target != config.TargetPostfix || h.requests[0].Listen != "" {
		t.Fatalf("apply asked for %+v", h.requests)
	}
}

// Choosing the bundled listener, or having applied before, keeps today's
// behaviour.
func TestTargetQuestionBundledOrAlreadyChosen(t *testing.T) {
	h := newHarness(t)
	h.postfix = func(context.Context) (string, bool) { return foundPostfix, true }
	h.start(100, 30)
	h.press("down", "enter")
	h.wantScreen("TLS mode")
	h.press("up", "enter", "enter")
	h.wantScreen("Result")
	if len(h.requests) != 1 || h.requests[0].Target != config.TargetBundled {
		t.Fatalf("apply asked for %+v", h.requests)
	}

	h = newHarness(t)
	h.postfix = func(context.Context) (string, bool) { return foundPostfix, true }
	h.installed.Loaded.Generation = "20261101T000000Z-0001"
	h.start(100, 30)
	h.wantScreen("TLS mode")
	h.wantView("step 1 of 6")

	h = newHarness(t)
	h.postfix = func(context.Context) (string, bool) { return "", false }
	h.start(100, 30)
	h.wantScreen("TLS mode")
}

// An installed Postfix target: no question, the review names the server,
// and apply gets no listen address (Postfix says where it listens).
func TestInstalledPostfixTargetKeepsListenOut(t *testing.T) {
	h := newHarness(t)
	h.postfix = func(context.Context) (string, bool) { return foundPostfix, true }
	h.installed.Loaded.Generation = "20261101T000000Z-0001"
	h.installed.Loaded.Settings.Target = config.TargetPostfix
	h.installed.Loaded.Settings.Postfix.ConfigDir = "/srv/postfix"
	h.start(100, 30)
	h.wantScreen("TLS mode")
	h.press("up", "enter")
	h.wantScreen("Review")
	h.wantView("Server", "main.cf in /srv/postfix")
	h.wantNotView("Listen on")
	h.press("enter")
	h.wantScreen("Result")
	if len(h.requests) != 1 || h.requests[0].Listen != "" || h.requests[0].Target != "" {
		t.Fatalf("apply asked for %+v", h.requests)
	}
}
