package tui

import (
	"fmt"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
)

// Terminals, tmux (`send-keys Down Enter`), password managers and laggy SSH
// links deliver keys 0 to 8 ms apart: every one of them must be acted on,
// in order.
var burstGaps = []time.Duration{0, 2 * time.Millisecond, 8 * time.Millisecond}

func TestBunchedKeysAreAllActedOnInOrder(t *testing.T) {
	for _, gap := range burstGaps {
		t.Run(fmt.Sprint(gap), func(t *testing.T) {
			h := newHarness(t).start(80, 24)
			h.keysAt(gap, "down", "enter")
			h.wantView("Required refuses mail")
			h.keysAt(gap, "y")
			h.wantScreen("Certificate")
			if h.m.Mode() != "required" {
				t.Fatalf("mode %q after Down Enter y", h.m.Mode())
			}
			h.keysAt(gap, "esc", "up", "enter")
			h.wantScreen("Certificate")
			if h.m.Mode() != "available" {
				t.Fatalf("mode %q after Esc Up Enter", h.m.Mode())
			}
		})
	}
}

func TestPassPhraseTypedWithItsEnterDecrypts(t *testing.T) {
	for _, gap := range burstGaps {
		t.Run(fmt.Sprint(gap), func(t *testing.T) {
			h := newHarness(t).start(80, 24)
			h.toCert()
			h.paste(pki(t, "leaf.pem"))
			h.press("tab")
			h.paste(pki(t, "leaf-encrypted.key"))
			h.wantView("Pass phrase:")
			h.keysAt(gap, "correct horse", "enter")
			h.wantView("decrypted with the pass phrase")
			// A password manager types the phrase in one write.
			h.keysAt(gap, "tab", "esc")
			h.wantScreen("Private key")
		})
	}
}

func TestTypedOutPasteFollowedAtOnceByTabMovesOn(t *testing.T) {
	h := newHarness(t).start(80, 24)
	h.toCert()
	cert := pki(t, "leaf.pem")
	h.clk.setStep(0)
	for _, l := range strings.Split(strings.TrimSuffix(cert, "\n"), "\n") {
		h.clk.advance(200 * time.Microsecond)
		h.sendNoTimers(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(l)})
		h.clk.advance(200 * time.Microsecond)
		h.sendNoTimers(tea.KeyMsg{Type: tea.KeyEnter})
	}
	h.clk.advance(200 * time.Microsecond)
	h.sendNoTimers(tea.KeyMsg{Type: tea.KeyTab})
	h.clk.advance(time.Second)
	h.fire()
	h.wantScreen("Private key")
	if got := h.m.s.cert.Value(); got != cert {
		t.Fatalf("typed-out paste arrived as %q, want %q", got, cert)
	}
}

func TestBracketedPasteStartsNoBurst(t *testing.T) {
	h := newHarness(t).start(80, 24)
	h.toCert()
	h.clk.setStep(0)
	h.sendNoTimers(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(pki(t, "leaf.pem")), Paste: true})
	h.clk.advance(time.Millisecond)
	h.sendNoTimers(tea.KeyMsg{Type: tea.KeyTab})
	// No timer fires: the Tab was acted on as it came.
	h.wantScreen("Private key")
}

// Ctrl+C right after another key (tmux answers a screen capture and a
// send-keys within a few ms) must show the quit question at once, not
// leave the last frame of the burst on screen.
func TestCtrlCInABurstIsDrawn(t *testing.T) {
	h := newHarness(t).start(80, 24)
	h.toCert()
	h.paste(pki(t, "leaf.pem"))
	h.clk.setStep(0)
	h.sendNoTimers(tea.KeyMsg{Type: tea.KeyRight})
	h.view()
	h.clk.advance(time.Millisecond)
	h.sendNoTimers(tea.KeyMsg{Type: tea.KeyCtrlC})
	h.fire()
	h.wantView("Quit without applying?")
}

// The answer to the quit question, sent by a script the moment the
// question is on screen (a few ms after Ctrl+C), is acted on: the dialog
// takes no text, so "y" or "n" in a burst is a key, not pasted text.
func TestQuitAnswerRightAfterCtrlCIsActedOn(t *testing.T) {
	for _, gap := range burstGaps {
		for _, answer := range []string{"y", "n"} {
			t.Run(fmt.Sprint(gap, answer), func(t *testing.T) {
				h := newHarness(t).start(80, 24)
				h.toCert()
				h.press("tab")
				h.keysAt(gap, "ctrl+c", answer)
				if answer == "y" {
					if !h.quit {
						t.Fatalf("not quit after Ctrl+C then y %v later:\n%s", gap, h.view())
					}
					return
				}
				h.wantNotView("Quit without applying?")
				h.wantScreen("Private key")
				if h.quit {
					t.Fatal("quit after Ctrl+C then n")
				}
			})
		}
	}
}
