package tui

import (
	"time"

	tea "github.com/charmbracelet/bubbletea"
)

// Bubble Tea v1 can only tell a paste from typing when the terminal uses
// bracketed paste. Without it (some terminals, `tmux paste-buffer` without
// -p, a serial console) a paste arrives as keystrokes microseconds apart,
// every line break as Enter, and a binding on Enter or Tab would fire from
// inside the pasted text. The burst guard below is the workaround for that
// gap; it can go once the terminal tells us (bubbletea v2 reports paste
// start and end as their own messages).
//
// The rule: text keys of a burst are handled at once (a paste field inserts
// them); any other key that arrives in a burst is queued and acted on, in
// order, when the burst ends. A queued key followed by more text in the
// same burst was part of the pasted text and is not acted on. Nothing a
// person or a script sends after the text is lost: `send-keys Down Enter`,
// a pass phrase typed with its Enter, a paste followed at once by Tab.

// burstGap is the longest pause between two keys that still counts as one
// burst. A terminal that types a paste out as keystrokes delivers them
// microseconds apart; a person, even holding a key down, needs 30 ms or
// more.
const burstGap = 8 * time.Millisecond

// burstGuard is the per-program state of the rule above.
type burstGuard struct {
	lastKey time.Time
	queue   []tea.KeyMsg
	// textAfterQueued: the burst held keys inside pasted text, so it was a
	// multi-line paste and its final line break is text too.
	textAfterQueued bool
	// pasting: the burst held text, so it is a paste and every character
	// in it is text, even a lone "j" on a list screen.
	pasting bool
	// timer: a burstEndMsg is on its way.
	timer bool
	// pasteFrom is the paste field line the typed-out paste began on.
	pasteFrom int
}

// burstEndMsg asks whether the burst is over.
type burstEndMsg struct{}

// observe records a key's arrival and sets c.Burst for it. A bracketed
// paste is one complete message: it starts no burst.
func (c *Common) observe(k tea.KeyMsg) {
	if k.Paste {
		c.Burst = false
		c.burst.lastKey = time.Time{}
		return
	}
	now := c.Now()
	gap := now.Sub(c.burst.lastKey)
	c.Burst = !c.burst.lastKey.IsZero() && gap >= 0 && gap < burstGap
	if k.Type == tea.KeyRunes && len(k.Runes) > 1 {
		// Several characters in one read are a paste, whatever the gap.
		c.Burst = true
	}
	c.burst.lastKey = now
}

// Bindable reports whether k may trigger a binding: not pasted text, not
// part of a keystroke burst.
func (c *Common) Bindable(k tea.KeyMsg) bool { return !k.Paste && !c.Burst }

// takesText reports whether k is text for the current screen: typed into
// a field rather than a command.
func (m *Model) takesText(k tea.KeyMsg) bool {
	if m.quitAsk {
		// The quit question takes no text: its answer, sent by a script
		// the moment the question shows, is a key even in a burst.
		return false
	}
	if k.Type == tea.KeyRunes && len(k.Runes) > 1 {
		return true
	}
	fs, field := m.screens[m.cur].(*fieldScreen)
	e, ok := m.screens[m.cur].(editing)
	editor := field || ok && e.Editing()
	switch k.Type {
	case tea.KeyRunes, tea.KeySpace, tea.KeyBackspace, tea.KeyDelete:
		return editor
	case tea.KeyEnter:
		// A new line in a paste field; everywhere else it submits.
		return field && fs.input == inputField
	}
	return false
}

// onKey runs a key through the burst rule and hands it on.
func (m *Model) onKey(k tea.KeyMsg) tea.Cmd {
	c := m.c
	c.observe(k)
	// Ctrl+C is never held back: quitting must work in the middle of
	// anything. It ends the burst like a key after a pause, so the keys
	// queued before it still come first and the frame it changes is drawn.
	if !c.Burst || k.Type == tea.KeyCtrlC {
		cmd := m.flushBurst()
		return tea.Batch(cmd, m.key(k))
	}
	var cmd tea.Cmd
	char := k.Type == tea.KeyRunes || k.Type == tea.KeySpace
	if m.takesText(k) || c.burst.pasting && char {
		if fs, ok := m.screens[m.cur].(*fieldScreen); ok && !c.burst.pasting {
			c.burst.pasteFrom = fs.f.row
		}
		c.burst.pasting = true
		if len(c.burst.queue) > 0 {
			c.burst.queue = c.burst.queue[:0]
			c.burst.textAfterQueued = true
		}
		cmd = m.key(k)
	} else {
		c.burst.queue = append(c.burst.queue, k)
	}
	if !c.burst.timer {
		c.burst.timer = true
		cmd = tea.Batch(cmd, c.Later(burstGap, burstEndMsg{}))
	}
	return cmd
}

// burstEnd acts on the queue once no key came for burstGap.
func (m *Model) burstEnd() tea.Cmd {
	c := m.c
	c.burst.timer = false
	if wait := burstGap - c.Now().Sub(c.burst.lastKey); wait > 0 && !c.burst.lastKey.IsZero() {
		c.burst.timer = true
		return c.Later(wait, burstEndMsg{})
	}
	return m.flushBurst()
}

// flushBurst ends the burst: queued keys are acted on as typed keys.
func (m *Model) flushBurst() tea.Cmd {
	c := m.c
	c.Burst = false
	q := c.burst.queue
	c.burst.queue = nil
	if c.burst.textAfterQueued && len(q) > 0 && q[0].Type == tea.KeyEnter {
		// The line break that ended a multi-line paste on a screen that
		// does not take text.
		q = q[1:]
	}
	var cmds []tea.Cmd
	if fs, ok := m.screens[m.cur].(*fieldScreen); ok && c.burst.pasting && fs.f.CollapseDoubledBreaks(c.burst.pasteFrom) {
		// A CRLF file typed out by the terminal: CR CR, two Enters, for
		// each line break.
		cmds = append(cmds, fs.changed(true))
	}
	c.burst.textAfterQueued, c.burst.pasting = false, false
	for _, k := range q {
		cmds = append(cmds, m.key(k))
	}
	return tea.Batch(cmds...)
}
