package tui

import (
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/smtptls/smtptls/config"
)

// modeScreen picks disabled / available / required. Required needs a
// second, explicit confirmation because on a public MX it refuses mail
// from every sender that cannot do TLS.
type modeScreen struct {
	*Common
	s       *shared
	cursor  int
	confirm bool // the Required warning is up
	w, h    int
}

var modeText = map[config.Mode][2]string{
	config.ModeDisabled:  {"Disabled", "No STARTTLS: mail is received in plain text only."},
	config.ModeAvailable: {"Available (recommended)", "STARTTLS offered; senders without TLS can still deliver."},
	config.ModeRequired:  {"Required", "Mail is refused unless the sender uses STARTTLS first."},
}

func newModeScreen(c *Common, s *shared) *modeScreen {
	return &modeScreen{Common: c, s: s, cursor: 1}
}

func (m *modeScreen) SetSize(w, h int) { m.w, m.h = w, h }

// Enter puts the cursor on the mode currently chosen.
func (m *modeScreen) Enter() tea.Cmd {
	for i, md := range config.Modes {
		if md == m.s.mode {
			m.cursor = i
		}
	}
	m.confirm = false
	return nil
}

func (m *modeScreen) Update(msg tea.Msg) (nav, tea.Cmd) {
	k, ok := msg.(tea.KeyMsg)
	if !ok || !m.Bindable(k) {
		return stay, nil
	}
	keys := m.Keys
	if m.confirm {
		switch {
		case key.Matches(k, keys.Yes):
			m.confirm = false
			m.s.mode, m.s.requiredConfirmed = config.ModeRequired, true
			m.s.modeChosen = true
			return nav{act: actNext}, nil
		case key.Matches(k, keys.No):
			m.confirm = false
		}
		return stay, nil
	}
	switch {
	case key.Matches(k, keys.Up):
		m.cursor = (m.cursor + len(config.Modes) - 1) % len(config.Modes)
	case key.Matches(k, keys.Down):
		m.cursor = (m.cursor + 1) % len(config.Modes)
	case k.String() == "1", k.String() == "2", k.String() == "3":
		m.cursor = int(k.Runes[0] - '1')
	case key.Matches(k, keys.Choose):
		md := config.Modes[m.cursor]
		if md == config.ModeRequired {
			m.confirm = true
			return stay, nil
		}
		m.s.mode, m.s.requiredConfirmed = md, false
		m.s.modeChosen = true
		return nav{act: actNext}, nil
	case key.Matches(k, keys.Keep) && m.keepable():
		// Keep mode and certificate as installed: straight to review.
		m.s.mode = m.s.installed.Loaded.Settings.Mode
		m.s.requiredConfirmed = m.s.mode == config.ModeRequired
		return goTo(stepReview), nil
	case key.Matches(k, keys.Back):
		return nav{act: actBack}, nil
	}
	return stay, nil
}

func (m *modeScreen) keepable() bool {
	l := m.s.installed.Loaded
	return l.Generation != "" && len(l.CertPEM) > 0
}

func (m *modeScreen) View() string {
	st := m.Styles
	var b strings.Builder
	b.WriteString(st.Heading.Render("How should this gateway handle STARTTLS?"))
	b.WriteString("\n\n")
	installed := m.s.installed.Loaded.Settings.Mode
	for i, md := range config.Modes {
		t := modeText[md]
		mark := "  "
		name := t[0]
		if i == m.cursor {
			mark = "> "
			name = st.Selected.Render(name)
		}
		if md == installed && m.s.installed.Loaded.Generation != "" {
			name += st.Muted.Render("  (installed now)")
		}
		b.WriteString(mark + name + "\n")
		b.WriteString("    " + st.Muted.Render(t[1]) + "\n\n")
	}
	if m.confirm {
		b.WriteString(st.Dialog.Render(st.Warn.Render("Required refuses mail from every sender that does not use TLS.") + "\n" +
			"Never use it on a public gateway (an MX the internet sends to):\n" +
			"many legitimate senders still deliver without TLS, and their mail\n" +
			"would bounce. Use it only between servers you control.\n\n" +
			st.HelpKey.Render("y") + st.HelpDesc.Render(" yes, require TLS   ") + st.HelpKey.Render("n") + st.HelpDesc.Render(" choose again")))
		return b.String()
	}
	if m.keepable() {
		b.WriteString(st.Muted.Render("A certificate is installed: the next steps start with it filled in."))
	} else {
		b.WriteString(st.Muted.Render("Available is right for almost every gateway."))
	}
	return b.String()
}

func (m *modeScreen) ShortHelp() []key.Binding {
	k := m.Keys
	if m.confirm {
		return []key.Binding{k.Yes, k.No}
	}
	hs := []key.Binding{withHelp(k.Up, "↑/↓", "move"), k.Choose}
	if m.keepable() {
		hs = append(hs, withHelp(k.Keep, "ctrl+k", "keep installed"))
	}
	return append(hs, k.Quit)
}

func (m *modeScreen) FullHelp() [][]key.Binding {
	k := m.Keys
	if m.confirm {
		return [][]key.Binding{{k.Yes, k.No}}
	}
	// Only keys that do something here.
	second := []key.Binding{k.Choose}
	if m.keepable() {
		second = append(second, withHelp(k.Keep, "ctrl+k", "keep installed, go to review"))
	}
	return [][]key.Binding{{k.Up, k.Down, withHelp(key.NewBinding(key.WithKeys("1")), "1/2/3", "pick a mode")}, append(second, k.Quit)}
}
