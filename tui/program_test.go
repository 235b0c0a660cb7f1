package tui

import (
	"bytes"
	"context"
	"io"
	"strings"
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
	h.dir = "/etc/smtptls" // the default: the golden screen names no temporary dir
	tm := teatest.NewTestModel(t, New(context.Background(), h.deps(), plainStyles()), teatest.WithInitialTermSize(80, 24))
	wait := func(s string) {
		t.Helper()
		teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte(s)) },
			teatest.WithDuration(20*time.Second), teatest.WithCheckInterval(10*time.Millisecond))
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
	wait("Success: applied and verified")
	if err := tm.Quit(); err != nil {
		t.Fatal(err)
	}
	m := tm.FinalModel(t, teatest.WithFinalTimeout(5*time.Second)).(*Model)
	if !m.Applied() {
		t.Fatal("the model does not report the apply")
	}
	golden.RequireEqual(t, []byte(m.View()))
}

// TestProgramTypedOutPasteArrivesWhole feeds a 250 KB bundle to a real
// program as a terminal without bracketed paste sends it (CR for every
// line break) through Bubble Tea's own input parser: every byte arrives,
// no Enter moves on, and the typed Tab before it still works.
func TestProgramTypedOutPasteArrivesWhole(t *testing.T) {
	h := newHarness(t)
	d := h.deps()
	d.Now = time.Now // burst detection needs the real clock here
	m := &probed{Model: New(context.Background(), d, plainStyles())}
	in, feed := io.Pipe()
	p := tea.NewProgram(m, tea.WithInput(in), tea.WithOutput(io.Discard), tea.WithoutSignals())
	big := bigBundle(t)
	errc := make(chan error, 1)
	go func() {
		defer p.Quit()
		for _, k := range []string{"\r", "\t", "\t"} { // a person: Enter, Tab, Tab
			time.Sleep(150 * time.Millisecond)
			if _, err := feed.Write([]byte(k)); err != nil {
				errc <- err
				return
			}
		}
		time.Sleep(150 * time.Millisecond)
		if _, err := feed.Write([]byte(strings.ReplaceAll(big, "\n", "\r"))); err != nil {
			errc <- err
			return
		}
		// Ask the program (in its own loop, so without a race) until the
		// last line has been handled.
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			reply := make(chan int, 1)
			p.Send(probeMsg{reply})
			if <-reply >= len(big) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		errc <- nil
	}()
	if _, err := p.Run(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if m.Current() != "CA bundle" {
		t.Fatalf("typed-out paste moved the wizard to %q", m.Current())
	}
	if got := m.s.bundle.Value(); got != big {
		t.Fatalf("bundle holds %d bytes in %d lines, want %d bytes in %d lines", len(got), strings.Count(got, "\n"), len(big), strings.Count(big, "\n"))
	}
}

// probed answers probeMsg from inside the program's loop.
type probed struct{ *Model }

type probeMsg struct{ reply chan int }

func (p *probed) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if pm, ok := msg.(probeMsg); ok {
		pm.reply <- p.s.bundle.Len()
		return p, nil
	}
	_, cmd := p.Model.Update(msg)
	return p, cmd
}
