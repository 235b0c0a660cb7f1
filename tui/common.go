// Package tui is the setup wizard: a Bubble Tea program that walks an admin
// from "no TLS" (or a broken install) to a verified STARTTLS listener.
//
// One parent model (Model) owns the order of the steps and the state they
// share; each step is its own small model with the same interface (screen).
// Every screen embeds *Common: size, styles, key map and the clock.
package tui

// The README's screens and the golden files are captured by a test:
//go:generate go test -run TestScreens|TestREADMEShowsEveryScreen -update .

import (
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/viewport"
	tea "github.com/charmbracelet/bubbletea"
)

// Common is what every screen shares.
type Common struct {
	Width, Height int
	Styles        Styles
	Keys          KeyMap
	Help          help.Model
	Now           func() time.Time

	// Burst is true while the key being handled arrived in the middle of a
	// keystroke-typed paste: no binding may fire from it.
	Burst bool
	burst burstGuard
	// Later delivers msg after d (tea.Tick); tests replace it to control
	// debounce timers.
	Later func(d time.Duration, msg tea.Msg) tea.Cmd
}

func newCommon(st Styles, now func() time.Time) *Common {
	h := help.New()
	h.ShortSeparator = " · "
	h.Styles.ShortKey = st.HelpKey
	h.Styles.ShortDesc = st.HelpDesc
	h.Styles.ShortSeparator = st.HelpSep
	h.Styles.FullKey = st.HelpKey
	h.Styles.FullDesc = st.HelpDesc
	h.Styles.FullSeparator = st.HelpSep
	h.Styles.Ellipsis = st.HelpSep
	return &Common{Width: 80, Height: 24, Styles: st, Keys: DefaultKeyMap(), Help: h, Now: now, Later: func(d time.Duration, msg tea.Msg) tea.Cmd {
		return tea.Tick(d, func(time.Time) tea.Msg { return msg })
	}}
}

// scroll applies the scrolling keys every long screen shares to vp, and
// reports whether msg was one of them.
func scroll(vp *viewport.Model, msg tea.KeyMsg, k KeyMap) bool {
	switch {
	case key.Matches(msg, k.Up):
		vp.ScrollUp(1)
	case key.Matches(msg, k.Down):
		vp.ScrollDown(1)
	case key.Matches(msg, k.PageUp):
		vp.PageUp()
	case key.Matches(msg, k.PageDn):
		vp.PageDown()
	default:
		return false
	}
	return true
}
