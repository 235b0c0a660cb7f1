package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/viewport"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"github.com/smtptls/smtptls/apply"
	"github.com/smtptls/smtptls/probe"
	"github.com/smtptls/smtptls/validate"
)

// resultScreen is Success, or Recovery after a failed apply: what failed
// in plain words, what is serving now, and the way back to the field at
// fault.
type resultScreen struct {
	*Common
	s    *shared
	a    *applyScreen
	vp   viewport.Model
	note string
	w, h int
}

func newResultScreen(c *Common, s *shared, a *applyScreen) *resultScreen {
	r := &resultScreen{Common: c, s: s, a: a, vp: viewport.New(80, 10)}
	r.vp.KeyMap = viewport.KeyMap{}
	return r
}

func (r *resultScreen) SetSize(w, h int) {
	r.w, r.h = w, h
	r.vp.Width, r.vp.Height = w, max(h-2, 3)
	if r.a.done {
		// Before an apply there is nothing to lay out (and the first
		// frame should not wait for it).
		r.vp.SetContent(r.content())
	}
}

func (r *resultScreen) Enter() tea.Cmd {
	r.note = ""
	r.vp.SetContent(r.content())
	r.vp.GotoTop()
	return nil
}

func (r *resultScreen) ok() bool { return r.a.res.Applied }

func (r *resultScreen) verifyCommand() string {
	// The address the listener actually bound (":0" becomes a port).
	return r.s.deps.VerifyCommand(firstNonEmpty(r.a.res.Listen, r.s.listen), r.s.hostname, r.s.mode)
}

// faultStep is where the admin goes to fix a failed apply.
func (r *resultScreen) faultStep() step {
	switch r.a.res.Field {
	case validate.FieldCertificate:
		return stepCert
	case validate.FieldKey:
		return stepKey
	case validate.FieldCABundle, validate.FieldChain:
		return stepBundle
	}
	return stepReview
}

func (r *resultScreen) Update(msg tea.Msg) (nav, tea.Cmd) {
	switch msg := msg.(type) {
	case copiedMsg:
		r.note = msg.view(r.Styles, r.w)
		return stay, nil
	case tea.KeyMsg:
		if !r.Bindable(msg) {
			return stay, nil
		}
		r.note = "" // a copy's note lasts until the next key
		k := r.Keys
		switch {
		case scroll(&r.vp, msg, k):
		case key.Matches(msg, k.Copy):
			return stay, copyCmd(r.s.deps.Copy, "verify command", r.verifyCommand(), true)
		case r.ok() && (key.Matches(msg, k.Choose) || msg.String() == "q"):
			return nav{act: actQuit}, nil
		case !r.ok() && key.Matches(msg, k.Fix):
			r.s.keepMaterial = false
			r.s.showFault = true
			return goTo(r.faultStep()), nil
		case !r.ok() && key.Matches(msg, k.Retry):
			return goTo(stepApply), nil
		}
	}
	return stay, nil
}

func (r *resultScreen) content() string {
	st := r.Styles
	res := r.a.res
	var b strings.Builder
	if res.Applied {
		b.WriteString(st.OK.Render("✓ "+indent(wrap(fmt.Sprintf("Success: applied and verified, mode %s on %s.", r.s.mode, firstNonEmpty(res.Listen, r.s.listen)), r.w-2), "  ")[2:]) + "\n")
		if res.Generation != "" {
			// Say what is true: a first install has nothing to roll back to,
			// and an identical apply wrote nothing.
			note := fmt.Sprintf("New generation %s; the previous one, %s, is kept for `smtptls rollback`.", res.Generation, res.Previous)
			switch {
			case res.Unchanged:
				note = fmt.Sprintf("Already serving this configuration (generation %s); nothing was written.", res.Generation)
			case res.Previous == "" || res.Previous == res.Generation:
				note = fmt.Sprintf("Generation %s is the first one; each later apply keeps the one before it for `smtptls rollback`.", res.Generation)
			}
			b.WriteString(indent(st.Muted.Render(wrap(r.s.cmd(note), r.w-2)), "  ") + "\n")
		}
	} else {
		b.WriteString(st.Err.Render("✗ Not applied.") + "\n" + indent(wrap(r.s.cmd(res.Message), r.w-2), "  ") + "\n")
		switch {
		case res.RolledBack:
			prev := "The previous configuration"
			if res.Previous != "" {
				prev += " (" + res.Previous + ")"
			}
			b.WriteString(st.OK.Render("✓ ") + indent(wrap(prev+" is serving again: peers see no change.", r.w-2), "  ")[2:] + "\n")
		case res.FailedStep == apply.StepValidate || res.FailedStep == "":
			b.WriteString(st.OK.Render("✓ Nothing was written; the installed configuration is unchanged.") + "\n")
		}
	}
	if !res.Applied {
		// The engine's own findings say exactly what to change.
		shown := 0
		for _, d := range res.Diagnostics {
			if d.Severity != validate.SevError || shown == 5 {
				continue
			}
			shown++
			b.WriteString("  " + st.Err.Render("✗ ") + indent(wrap(lineRef(d)+r.s.cmd(d.Message), r.w-4), "    ")[4:] + "\n")
			if h := r.s.hint(d); h != "" {
				b.WriteString(indent(wrap(h, r.w-4), "    ") + "\n")
			}
		}
	}
	b.WriteString("\n" + r.a.stepsView(true) + "\n")
	if v := res.Verify; v != nil {
		b.WriteString("\n" + st.Heading.Render("What a sending server sees") + "\n")
		b.WriteString(stagesView(st, *v))
	}
	if res.Applied {
		if fp := res.Fingerprint; fp != "" {
			b.WriteString("\n" + st.Heading.Render("Served certificate (SHA-256)") + "\n" + indent(st.Code.Render(wrapValue(fp, r.w-2)), "  ") + "\n")
		}
		b.WriteString("\n" + st.Heading.Render("Check again at any time") + st.Muted.Render(" (c copies it)") + "\n" + indent(st.Code.Render(wrapCommand(r.verifyCommand(), r.w-2)), "  ") + "\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

func stagesView(st Styles, rep probe.Report) string {
	var b strings.Builder
	for _, h := range rep.Hosts {
		for _, s := range h.Stages {
			var mark string
			switch s.Status {
			case probe.Pass:
				mark = st.OK.Render("✓")
			case probe.Warn:
				mark = st.Warn.Render("!")
			case probe.Fail:
				mark = st.Err.Render("✗")
			default:
				mark = st.Muted.Render("-")
			}
			fmt.Fprintf(&b, "  %s %-11s %s\n", mark, s.Name, s.Detail)
		}
	}
	return b.String()
}

func (r *resultScreen) View() string {
	st := r.Styles
	foot := r.note
	if foot == "" {
		if r.ok() {
			foot = st.OK.Render("Done. TLS is on; enter closes the wizard.")
		} else {
			foot = st.Text.Render("enter goes to the " + r.faultStep().title() + " step to fix it; r retries as is.")
		}
	}
	foot = ansi.Wrap(foot, max(r.w, 12), " ")
	r.vp.Height = max(r.h-1-lineCount(foot), 3)
	return r.vp.View() + "\n\n" + foot
}

func (r *resultScreen) ShortHelp() []key.Binding {
	k := r.Keys
	if r.ok() {
		return []key.Binding{withHelp(k.Choose, "enter", "close"), withHelp(k.Copy, "c", "copy verify command"), withHelp(k.Down, "↑/↓", "scroll")}
	}
	return []key.Binding{withHelp(k.Fix, "enter", "fix "+strings.ToLower(r.faultStep().title())), k.Retry, withHelp(k.Copy, "c", "copy verify command"), k.Quit}
}

func (r *resultScreen) FullHelp() [][]key.Binding {
	return [][]key.Binding{r.ShortHelp(), {r.Keys.Up, r.Keys.Down, r.Keys.PageUp, r.Keys.PageDn}}
}
