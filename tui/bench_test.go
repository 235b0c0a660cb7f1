package tui

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/bubbles/textarea"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/smtptls/smtptls/validate"
)

// benchHarness is a wizard at 80x24 on the CA bundle step.
func benchHarness(b *testing.B) *harness {
	h := newHarness(b).start(80, 24)
	h.toCert()
	h.press("tab", "tab")
	h.wantScreen("CA bundle")
	return h
}

// BenchmarkPaste250KB is one bracketed paste of a 250 KB bundle: the
// update and the frame drawn after it (target: under 50 ms). The check it
// starts runs off the update loop and is measured on its own below.
func BenchmarkPaste250KB(b *testing.B) {
	h := benchHarness(b)
	msg := tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(bigBundle(b)), Paste: true}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		h.m.s.bundle.Clear()
		b.StartTimer()
		h.m.Update(msg)
		_ = h.m.View()
	}
	b.StopTimer()
	if h.m.s.bundle.Len() < 250<<10 {
		b.Fatalf("bundle holds %d bytes", h.m.s.bundle.Len())
	}
}

// BenchmarkKeystroke250KB is one key typed in the middle of a field that
// holds a 250 KB bundle: update and frame (target: under 16 ms).
func BenchmarkKeystroke250KB(b *testing.B) {
	h := benchHarness(b)
	h.paste(bigBundle(b))
	h.m.s.bundle.GotoLine(2000)
	ins := tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{'A'}}
	del := tea.KeyMsg{Type: tea.KeyBackspace}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if i%2 == 0 {
			h.m.Update(ins)
		} else {
			h.m.Update(del)
		}
		_ = h.m.View()
	}
}

// BenchmarkFirstFrame is start-up to the first frame drawn (target: under
// 100 ms): model, size, frame; the installed state loads in the background.
func BenchmarkFirstFrame(b *testing.B) {
	h := newHarness(b)
	d := h.deps()
	b.ReportAllocs()
	for range b.N {
		m := New(context.Background(), d, plainStyles())
		_ = m.Init()
		m.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
		_ = m.View()
	}
}

// BenchmarkFirstInteractiveFrame adds reading a (fake) installed state and
// drawing the mode screen.
func BenchmarkFirstInteractiveFrame(b *testing.B) {
	h := newHarness(b)
	d := h.deps()
	st := plainStyles()
	b.ReportAllocs()
	for range b.N {
		m := New(context.Background(), d, st)
		msg := m.Init()()
		m.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
		m.Update(msg)
		_ = m.View()
	}
}

// BenchmarkCheckBundle250KB is the background check of that bundle (not on
// the update loop), first time and cached.
func BenchmarkCheckBundle250KB(b *testing.B) {
	big := bigBundle(b)
	b.Run("uncached", func(b *testing.B) {
		for range b.N {
			validate.NewChecker(nil).Bundle(big, testNow)
		}
	})
	b.Run("cached", func(b *testing.B) {
		c := validate.NewChecker(nil)
		c.Bundle(big, testNow)
		b.ResetTimer()
		for range b.N {
			c.Bundle(big, testNow)
		}
	})
}

// BenchmarkBubblesTextareaKeystroke250KB is the same keystroke in the
// bubbles textarea at its best settings (no line numbers, MaxHeight
// lifted), for comparison: this is why the wizard has its own field.
func BenchmarkBubblesTextareaKeystroke250KB(b *testing.B) {
	ta := textarea.New()
	ta.ShowLineNumbers = false
	ta.MaxHeight = 10000
	ta.CharLimit = 0
	ta.SetWidth(78)
	ta.SetHeight(12)
	ta.Focus()
	ta.SetValue(bigBundle(b))
	ins := tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{'A'}}
	b.ResetTimer()
	for range b.N {
		ta, _ = ta.Update(ins)
		_ = ta.View()
	}
}

// BenchmarkTypedOutPaste250KB is the same bundle arriving as keystrokes (a
// terminal without bracketed paste): one message per line and one Enter
// per line break, microseconds apart, each followed by the frame Bubble
// Tea asks for.
func BenchmarkTypedOutPaste250KB(b *testing.B) {
	h := benchHarness(b)
	var msgs []tea.KeyMsg
	for i, l := range strings.Split(bigBundle(b), "\n") {
		if i > 0 {
			msgs = append(msgs, tea.KeyMsg{Type: tea.KeyEnter})
		}
		if l != "" {
			msgs = append(msgs, tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(l)})
		}
	}
	h.clk.setStep(20 * time.Microsecond)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		h.m.s.bundle.Clear()
		b.StartTimer()
		for _, msg := range msgs {
			h.m.Update(msg)
			_ = h.m.View()
		}
	}
}
