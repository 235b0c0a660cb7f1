package tui

import (
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"github.com/smtptls/smtptls/config"
)

// targetScreen comes first when Postfix is installed and nothing has been
// applied yet: which server should the wizard configure? It says what it
// found, so the admin sees which Postfix it means.
type targetScreen struct {
	*Common
	s      *shared
	cursor int
	w, h   int
}

var targetChoices = []struct{ target, name, desc string }{
	{config.TargetPostfix, "The Postfix running here", "main.cf is changed through postconf (two parameters), then postfix check and reload."},
	{config.TargetBundled, "smtptls's own listener", "A separate SMTP listener that smtptls runs and reloads itself."},
}

func newTargetScreen(c *Common, s *shared) *targetScreen { return &targetScreen{Common: c, s: s} }

// postfixTarget reports whether this run configures Postfix: chosen on the
// first screen, or what the installed configuration names.
func (s *shared) postfixTarget() bool {
	if s.target != "" {
		return s.target == config.TargetPostfix
	}
	return s.installed.Loaded.Settings.TargetName() == config.TargetPostfix
}

// serverLine names the Postfix being configured, for the review.
func (s *shared) serverLine() string {
	if s.postfixFound != "" {
		return "the Postfix running here: " + s.postfixFound
	}
	return "the Postfix running here, main.cf in " + s.installed.Loaded.Settings.PostfixDir()
}

func (t *targetScreen) SetSize(w, h int) { t.w, t.h = w, h }

func (t *targetScreen) Enter() tea.Cmd {
	for i, c := range targetChoices {
		if c.target == t.s.target {
			t.cursor = i
		}
	}
	return nil
}

func (t *targetScreen) Update(msg tea.Msg) (nav, tea.Cmd) {
	k, ok := msg.(tea.KeyMsg)
	if !ok || !t.Bindable(k) {
		return stay, nil
	}
	switch {
	case key.Matches(k, t.Keys.Up), key.Matches(k, t.Keys.Down):
		t.cursor = 1 - t.cursor
	case k.String() == "1", k.String() == "2":
		t.cursor = int(k.Runes[0] - '1')
	case key.Matches(k, t.Keys.Choose):
		t.s.target = targetChoices[t.cursor].target
		return nav{act: actNext}, nil
	}
	return stay, nil
}

func (t *targetScreen) View() string {
	st := t.Styles
	var b strings.Builder
	b.WriteString(st.Heading.Render("Which mail server should get TLS?"))
	// Wrapped, never cut: the version and the addresses are what tells
	// the admin which Postfix this is.
	b.WriteString("\n\n" + ansi.Wrap("Found: "+t.s.postfixFound, max(t.w, 20), " ") + "\n\n")
	for i, c := range targetChoices {
		mark, name := "  ", c.name
		if i == t.cursor {
			mark, name = "> ", st.Selected.Render(name)
		}
		b.WriteString(mark + name + "\n")
		b.WriteString("    " + st.Muted.Render(c.desc) + "\n\n")
	}
	b.WriteString(st.Muted.Render("The choice is kept: later runs and commands configure the same one."))
	return b.String()
}

func (t *targetScreen) ShortHelp() []key.Binding {
	return []key.Binding{withHelp(t.Keys.Up, "↑/↓", "move"), t.Keys.Choose, t.Keys.Quit}
}

func (t *targetScreen) FullHelp() [][]key.Binding {
	return [][]key.Binding{{t.Keys.Up, t.Keys.Down}, {t.Keys.Choose, t.Keys.Quit}}
}
