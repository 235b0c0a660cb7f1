package tui

import (
	"fmt"

	tea "github.com/charmbracelet/bubbletea"
)

// copiedMsg reports a copy to the clipboard.
type copiedMsg struct {
	what, how string
	err       error
}

func (c copiedMsg) String() string {
	if c.err != nil {
		return fmt.Sprintf("Could not copy the %s: %v. Select it with the mouse instead.", c.what, c.err)
	}
	return fmt.Sprintf("Copied the %s (%s).", c.what, c.how)
}

// copyCmd copies text off the update loop. Callers never pass key material.
func copyCmd(copyFn func(string) (string, error), what, text string) tea.Cmd {
	return func() tea.Msg {
		if copyFn == nil {
			return copiedMsg{what: what, err: fmt.Errorf("no clipboard here")}
		}
		how, err := copyFn(text)
		return copiedMsg{what: what, how: how, err: err}
	}
}
