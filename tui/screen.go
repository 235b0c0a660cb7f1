package tui

import (
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
)

// step names a screen of the wizard.
type step int

const (
	stepLoading step = iota
	stepRecovery
	stepMode
	stepCert
	stepKey
	stepBundle
	stepReview
	stepApply
	stepResult
	stepGenerate
	stepACME
	stepTarget // before the mode, only when Postfix is found on a fresh install
)

func (s step) title() string {
	switch s {
	case stepLoading:
		return "Starting"
	case stepRecovery:
		return "Needs attention"
	case stepMode:
		return "TLS mode"
	case stepCert:
		return "Certificate"
	case stepKey:
		return "Private key"
	case stepBundle:
		return "CA bundle"
	case stepReview:
		return "Review"
	case stepApply:
		return "Apply"
	case stepResult:
		return "Result"
	case stepGenerate:
		return "No certificate yet"
	case stepACME:
		return "Certificate by ACME"
	case stepTarget:
		return "Mail server"
	}
	return ""
}

// nav is what a screen asks the parent to do after a message; the parent
// alone knows the order of the steps.
type nav struct {
	act action
	to  step // for actGoto
}

type action int

const (
	actNone action = iota
	actNext
	actBack
	actGoto
	actQuit
)

var stay = nav{}

func goTo(s step) nav { return nav{act: actGoto, to: s} }

// screen is one step of the wizard: a model with its own help.
type screen interface {
	Update(msg tea.Msg) (nav, tea.Cmd)
	View() string
	ShortHelp() []key.Binding
	FullHelp() [][]key.Binding
	// SetSize gives the body area: the whole terminal minus title and help.
	SetSize(w, h int)
}

// editing is implemented by screens with a text input that wants every
// key, '?' included, while it has focus.
type editing interface{ Editing() bool }
