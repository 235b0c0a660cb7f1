package tui

import (
	"bytes"
	"context"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/charmbracelet/x/exp/teatest"
)

// TestProgramPasteApplySuccess runs the wizard as a real Bubble Tea
// program (teatest): commands run concurrently, checks arrive as they
// finish, and the final screen is compared with its golden file.
func TestProgramPasteApplySuccess(t *testing.T) {
	h := newHarness(t)
	tm := teatest.NewTestModel(t, New(context.Background(), h.deps(), plainStyles()), teatest.WithInitialTermSize(80, 24))
	wait := func(s string) {
		t.Helper()
		teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte(s)) },
			teatest.WithDuration(5*time.Second), teatest.WithCheckInterval(10*time.Millisecond))
	}
	key := func(k tea.KeyType) { tm.Send(tea.KeyMsg{Type: k}) }
	paste := func(s string) { tm.Send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s), Paste: true}) }

	wait("How should this gateway handle STARTTLS?")
	key(tea.KeyEnter)
	wait("both lines included")
	paste(pki(t, "leaf.pem"))
	wait("✓ mail.example.test")
	key(tea.KeyTab)
	paste(pki(t, "leaf.key"))
	wait("✓ ECDSA P-256 private key")
	key(tea.KeyTab)
	paste(pki(t, "bundle.pem"))
	wait("(root, line 13)")
	key(tea.KeyTab)
	wait("Ready.")
	key(tea.KeyEnter)
	wait("Applied and verified")
	if err := tm.Quit(); err != nil {
		t.Fatal(err)
	}
	m := tm.FinalModel(t, teatest.WithFinalTimeout(5*time.Second)).(*Model)
	if !m.Applied() {
		t.Fatal("the model does not report the apply")
	}
	golden.RequireEqual(t, []byte(m.View()))
}
