package tui

import (
	"fmt"
	"strings"

	tea "github.com/charmbracelet/bubbletea"
)

// copiedMsg reports a copy to the clipboard.
type copiedMsg struct {
	what, how string
	// text is what was to be copied: shown whole when the copy failed.
	text    string
	command bool
	// shown: the screen shows the value whole already.
	shown bool
	err   error
}

// view is the note a screen shows for the copy, w columns wide: "Copied"
// only for a copy that is known to have arrived; otherwise why not, what
// would make it work, and the value on its own lines to select with the
// mouse.
func (c copiedMsg) view(st Styles, w int) string {
	if c.err == nil {
		return st.OK.Render(fmt.Sprintf("Copied the %s (%s).", c.what, c.how))
	}
	why := strings.TrimPrefix(c.err.Error(), ErrNotCopied.Error()+": ")
	if c.shown {
		return st.Warn.Render(wrap(fmt.Sprintf("Not copied: %s. Select the %s above with the mouse.", why, c.what), w))
	}
	val := wrapValue(c.text, w)
	if c.command {
		val = wrapCommand(c.text, w)
	}
	return st.Warn.Render(wrap(fmt.Sprintf("Not copied: %s. Select the %s below with the mouse:", why, c.what), w)) + "\n" + st.Code.Render(val)
}

// copyCmd copies text off the update loop. Callers never pass key material.
func copyCmd(copyFn func(string) (string, error), what, text string, command bool) tea.Cmd {
	return func() tea.Msg {
		if copyFn == nil {
			return copiedMsg{what: what, text: text, command: command, err: fmt.Errorf("%w: there is no clipboard here", ErrNotCopied)}
		}
		how, err := copyFn(text)
		return copiedMsg{what: what, how: how, text: text, command: command, err: err}
	}
}
