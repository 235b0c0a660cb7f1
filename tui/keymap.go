package tui

import "github.com/charmbracelet/bubbles/key"

// KeyMap is every binding of the wizard with its help text; the help bar
// reads from it, so a key and its description cannot drift apart.
//
// In the paste fields Enter is a newline, never "next": a paste that arrives
// as keystrokes (no bracketed paste) is full of Enters. Moving on is Tab.
type KeyMap struct {
	Up, Down       key.Binding
	PageUp, PageDn key.Binding
	Choose         key.Binding // enter on lists and dialogs
	Next           key.Binding // tab: next step from a paste field
	Back           key.Binding
	Quit           key.Binding
	Help           key.Binding
	LoadFile       key.Binding
	Complete       key.Binding // tab in the file path prompt
	Keep           key.Binding
	Clear          key.Binding
	Paste          key.Binding // ctrl+v: the local clipboard
	Generate       key.Binding
	Apply          key.Binding
	EditHost       key.Binding
	EditListen     key.Binding
	Copy           key.Binding
	CopyTLSA       key.Binding
	Fix            key.Binding
	Yes, No        key.Binding
	Retry          key.Binding
}

// DefaultKeyMap returns the wizard's bindings.
func DefaultKeyMap() KeyMap {
	return KeyMap{
		Up:         key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:       key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		PageUp:     key.NewBinding(key.WithKeys("pgup"), key.WithHelp("pgup", "page up")),
		PageDn:     key.NewBinding(key.WithKeys("pgdown"), key.WithHelp("pgdn", "page down")),
		Choose:     key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "choose")),
		Next:       key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "next step")),
		Back:       key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back")),
		Quit:       key.NewBinding(key.WithKeys("ctrl+c"), key.WithHelp("ctrl+c", "quit")),
		Help:       key.NewBinding(key.WithKeys("?", "f1"), key.WithHelp("?", "all keys")),
		LoadFile:   key.NewBinding(key.WithKeys("ctrl+o"), key.WithHelp("ctrl+o", "load file")),
		Complete:   key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "complete path")),
		Keep:       key.NewBinding(key.WithKeys("ctrl+k"), key.WithHelp("ctrl+k", "keep current")),
		Clear:      key.NewBinding(key.WithKeys("ctrl+u"), key.WithHelp("ctrl+u", "clear field")),
		Paste:      key.NewBinding(key.WithKeys("ctrl+v"), key.WithHelp("ctrl+v", "paste local clipboard")),
		Generate:   key.NewBinding(key.WithKeys("ctrl+g"), key.WithHelp("ctrl+g", "no cert yet?")),
		Apply:      key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "apply")),
		EditHost:   key.NewBinding(key.WithKeys("h"), key.WithHelp("h", "edit host name")),
		EditListen: key.NewBinding(key.WithKeys("l"), key.WithHelp("l", "edit listen address")),
		Copy:       key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "copy")),
		CopyTLSA:   key.NewBinding(key.WithKeys("t"), key.WithHelp("t", "copy TLSA record")),
		Fix:        key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "fix it")),
		Yes:        key.NewBinding(key.WithKeys("y"), key.WithHelp("y", "yes")),
		No:         key.NewBinding(key.WithKeys("n", "esc"), key.WithHelp("n/esc", "no")),
		Retry:      key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "retry")),
	}
}
