package tui

import (
	"net"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/smtptls/smtptls/config"
)

// The listen address is set on the review with l, like the host name with
// h: checked as it is entered, and what apply is asked to use.
func TestListenAddressIsEditedOnTheReview(t *testing.T) {
	h := newHarness(t)
	h.installed.Loaded.Settings = config.DefaultSettings(true, "mail.example.test") // root: :25
	h.start(80, 24)
	h.fillAll()
	h.wantView("Listen on     :25")

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	freeAddr := free.Addr().String()
	free.Close()

	h.press("l")
	h.wantView("Listen on: :25")
	for _, tc := range []struct{ typed, says string }{
		{"mail.example.test", "not an address to listen on"},
		{"127.0.0.1:99999", "no valid port"},
		{busy.Addr().String(), "something else already listens on"},
	} {
		h.press("ctrl+u")
		h.press(tc.typed, "enter")
		h.wantView(tc.says, "Listen on: "+tc.typed)
	}
	h.press("ctrl+u")
	h.press(freeAddr, "enter")
	h.wantNotView("Listen on: ")
	h.wantView("Listen on     " + freeAddr)
	h.press("enter")
	h.wantScreen("Result")
	if len(h.requests) != 1 || h.requests[0].Listen != freeAddr {
		t.Fatalf("apply was asked for %+v, want listen %s", h.requests, freeAddr)
	}
}

// The host name: the installed one, else this machine's name when the
// certificate covers it, else the certificate's first name; the screen
// says which and why, and speaks of a name "you entered" only when one was.
func TestHostNameDefaultsToANameTheCertificateCovers(t *testing.T) {
	for _, tc := range []struct {
		name, machine, flag string
		installed           bool
		want, why           string
		mismatch            bool
	}{
		{name: "machine name not on the certificate", machine: "vm", want: "mail.example.test", why: "the certificate's first name; this machine's name, vm, is not on it"},
		{name: "machine name on the certificate", machine: "smtp.example.test", want: "smtp.example.test", why: "this machine's name"},
		{name: "installed", machine: "vm", installed: true, want: "mail.example.test", why: "the installed setting"},
		{name: "entered", machine: "vm", flag: "vm.example.test", want: "vm.example.test", why: "entered", mismatch: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.installed.Loaded.Settings.Hostname = tc.machine
			if tc.installed {
				h.installed = installedFixture(t, h.dir, pki(t, "leaf.pem"), pki(t, "leaf.key"))
			}
			h.hostFlag = tc.flag
			h.start(80, 40)
			h.toCert()
			h.press("ctrl+u")
			h.paste(pki(t, "leaf.pem"))
			cert := h.view()
			h.press("tab", "ctrl+u")
			h.paste(pki(t, "leaf.key"))
			h.press("tab", "ctrl+u")
			h.paste(pki(t, "bundle.pem"))
			h.press("tab")
			h.wantScreen("Review")
			if h.m.Hostname() != tc.want {
				t.Fatalf("host name %q, want %q", h.m.Hostname(), tc.want)
			}
			review := h.view()
			all := noSpace(joinLines(cert + review))
			if !strings.Contains(all, noSpace("("+tc.why+"; h to edit)")) {
				t.Fatalf("the review does not say why (%s):\n%s", tc.why, review)
			}
			if !strings.Contains(all, "._tcp."+tc.want+".") {
				h.press("pgdown")
				if !strings.Contains(joinLines(h.view()), "._tcp."+tc.want+".") {
					t.Fatalf("the TLSA record is not for %s:\n%s", tc.want, h.view())
				}
			}
			entered := strings.Contains(all, noSpace("host name you entered"))
			if entered != tc.mismatch {
				t.Fatalf("\"the host name you entered\" shown: %v, want %v:\n%s\n%s", entered, tc.mismatch, cert, review)
			}
		})
	}
}

// The installed delivery is carried over by the wizard's apply, so the
// review shows it: where mail goes, and which domains are accepted.
func TestReviewShowsInstalledRelay(t *testing.T) {
	h := newHarness(t)
	s := config.DefaultSettings(false, "mail.example.test")
	s.Delivery = config.DeliveryRelay
	s.Relay.NextHop = "smtp://10.0.0.5:25"
	s.AcceptDomains = []string{"example.test", "example.net"}
	h.installed.Loaded.Settings = s
	h.start(100, 30)
	h.press("up", "enter")
	h.wantScreen("Review")
	h.wantView("Delivery      relay to smtp://10.0.0.5:25 (TLS may)", "Accepts       example.test, example.net; other domains get 550 5.7.1")
}

// The pass phrase belongs to the key it decrypted: when the key field
// changes it is forgotten, and the next encrypted key asks for its own.
func TestPassPhraseIsForgottenWhenTheKeyChanges(t *testing.T) {
	h := newHarness(t).start(80, 24)
	h.toCert()
	h.paste(pki(t, "leaf.pem"))
	h.press("tab")
	h.paste(pki(t, "leaf-encrypted.key"))
	h.wantView("Pass phrase:")
	h.press("correct horse", "enter")
	h.wantView("decrypted with the pass phrase")
	h.press("ctrl+u")
	if len(h.m.s.passphrase) != 0 {
		t.Fatal("the pass phrase is kept after the key field was cleared")
	}
	h.paste(pki(t, "leaf-encrypted.key"))
	h.wantView("Pass phrase:")
	h.wantNotView("decrypted with the pass phrase")
}

// A CRLF file pasted through a terminal arrives with CR CR for every line
// break: it counts as one, so line numbers match the file.
func TestCRLFFilePastedThroughATerminalKeepsItsLineNumbers(t *testing.T) {
	h := newHarness(t).start(80, 30)
	h.toCert()
	crlf := strings.ReplaceAll(pki(t, "leaf.pem")+pki(t, "leaf.key"), "\n", "\r\n")
	h.paste(strings.ReplaceAll(crlf, "\n", "\r")) // what the terminal sends
	h.wantView("18 lines", "Line 14: The certificate field holds a private key")
	// A file with blank lines between blocks, LF only, keeps them.
	h.press("ctrl+u")
	h.paste(strings.ReplaceAll(pki(t, "leaf.pem")+"\n"+pki(t, "leaf.key"), "\n", "\r"))
	h.wantView("19 lines", "Line 15: The certificate field holds a private key")
}

// A ✓ beside a ✗ for the same key says "fine" and "broken" at once.
func TestNoCheckMarkBesideAnErrorInTheSameField(t *testing.T) {
	h := newHarness(t).start(80, 30)
	h.toCert()
	h.paste(pki(t, "leaf.pem"))
	h.press("tab")
	h.paste(pki(t, "other.key"))
	h.wantView("✗", "does not belong")
	h.wantNotView("✓")
	h.press("tab", "esc", "esc")
	h.wantScreen("Certificate")
	h.press("ctrl+u")
	h.paste(pki(t, "expired.pem"))
	h.wantView("✗", "expired")
	h.wantNotView("✓")
}

// After a resize the review still starts at its top: the title, the mode
// and the listen address stay in view.
func TestReviewKeepsItsTopInViewAfterAResize(t *testing.T) {
	for _, sz := range [][4]int{{80, 24, 100, 30}, {60, 20, 80, 24}, {80, 24, 60, 20}, {80, 24, 40, 14}, {200, 60, 80, 24}} {
		h := newHarness(t).start(sz[0], sz[1])
		h.fillAll()
		h.send(tea.WindowSizeMsg{Width: sz[2], Height: sz[3]})
		lines := strings.Split(h.view(), "\n")
		if len(lines) != sz[3] || !strings.HasPrefix(lines[0], "smtptls setup · Review") || !strings.HasPrefix(lines[2], "Mode") {
			t.Fatalf("%dx%d → %dx%d: the review's top is not in view:\n%s", sz[0], sz[1], sz[2], sz[3], h.view())
		}
	}
}

// The help lists only keys that do something on the screen.
func TestHelpListsOnlyKeysThatWork(t *testing.T) {
	h := newHarness(t).start(80, 30)
	h.press("?")
	h.wantView("All keys on this screen")
	h.wantNotView("ctrl+k") // nothing installed to keep
	h.press("esc")
	h.toCert()
	h.press("?")
	h.wantView("ctrl+g")
	h.wantNotView("ctrl+k")
	h.press("esc", "esc", "up", "enter")
	h.wantScreen("Review")
	h.press("?")
	h.wantView("edit listen address")
	h.wantNotView("edit host name", "copy TLSA") // Disabled: no certificate
}

// Required mode's review repeats the mode screen's warning, where apply is
// pressed.
func TestRequiredModeReviewRepeatsTheWarning(t *testing.T) {
	h := newHarness(t).start(80, 30)
	h.press("down", "enter", "y")
	h.wantScreen("Certificate")
	h.paste(pki(t, "leaf.pem"))
	h.press("tab")
	h.paste(pki(t, "leaf.key"))
	h.press("tab")
	h.paste(pki(t, "bundle.pem"))
	h.press("tab")
	h.wantScreen("Review")
	h.wantView("! Required refuses mail from every sender that does not use TLS")
}

// The same CRLF file typed out by a terminal without bracketed paste: two
// Enters for every line break.
func TestCRLFFileTypedOutKeepsItsLineNumbers(t *testing.T) {
	h := newHarness(t).start(80, 30)
	h.toCert()
	h.clk.setStep(0)
	for _, l := range strings.Split(strings.TrimSuffix(pki(t, "leaf.pem")+pki(t, "leaf.key"), "\n"), "\n") {
		h.clk.advance(200 * time.Microsecond)
		h.sendNoTimers(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(l)})
		for range 2 {
			h.clk.advance(200 * time.Microsecond)
			h.sendNoTimers(tea.KeyMsg{Type: tea.KeyEnter})
		}
	}
	h.clk.advance(time.Second)
	h.fire()
	h.clk.setStep(50 * time.Millisecond)
	h.wantScreen("Certificate")
	h.wantView("18 lines", "Line 14: The certificate field holds a private key")
}
