package tui

import (
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/spinner"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"github.com/smtptls/smtptls/apply"
	"github.com/smtptls/smtptls/config"
)

type stepMsg struct{ step apply.Step }

type applyDoneMsg struct{ res apply.Result }

// stepLabels are the apply steps in plain words, in the order they run.
var stepLabels = []struct {
	name  apply.StepName
	label string
}{
	{apply.StepValidate, "Check the certificate, key and bundle"},
	{apply.StepWrite, "Write the new configuration as a generation of its own"},
	{apply.StepSwitch, "Switch to it"},
	{apply.StepReload, "Reload the listener (or start it)"},
	{apply.StepVerify, "Verify what the listener now serves"},
	{apply.StepRollback, "Roll back to the previous configuration"},
}

// applyScreen runs the apply transaction and shows each step as it runs.
type applyScreen struct {
	*Common
	s      *shared
	spin   spinner.Model
	steps  map[apply.StepName]apply.Step
	events chan tea.Msg
	done   bool
	res    apply.Result
	note   string
	w, h   int
}

func newApplyScreen(c *Common, s *shared) *applyScreen {
	sp := spinner.New(spinner.WithSpinner(spinner.Line), spinner.WithStyle(c.Styles.Spinner))
	return &applyScreen{Common: c, s: s, spin: sp}
}

func (a *applyScreen) SetSize(w, h int) { a.w, a.h = w, h }

// request is what the wizard asks apply to do. Texts exactly as entered;
// apply validates and normalises them itself.
func (s *shared) request() apply.Request {
	req := apply.Request{
		ConfigDir:       s.deps.ConfigDir,
		Mode:            s.mode,
		Hostname:        s.hostname,
		Listen:          s.listen,
		ConfirmRequired: s.mode == config.ModeRequired && s.requiredConfirmed,
		Target:          s.target,
	}
	if s.postfixTarget() && s.deps.Listen == "" {
		// Postfix says where it listens; a listen setting would only move
		// where verify looks.
		req.Listen = ""
	}
	if s.mode.NeedsCertificate() && !s.keepMaterial {
		req.Cert = []byte(s.cert.Value())
		req.Key = []byte(s.key.Value())
		req.CA = []byte(s.bundle.Value())
		req.Passphrase = append([]byte(nil), s.passphrase...)
	}
	return req
}

// Enter starts the transaction in the background; progress arrives as
// messages through a channel the screen keeps reading.
func (a *applyScreen) Enter() tea.Cmd {
	a.done, a.note = false, ""
	a.steps = map[apply.StepName]apply.Step{}
	a.res = apply.Result{}
	a.events = make(chan tea.Msg, 16)
	run, ctx, req, ch := a.s.deps.Apply, a.s.ctx, a.s.request(), a.events
	go func() {
		var res apply.Result
		if run == nil {
			res = apply.Result{FailedStep: apply.StepValidate, Message: "This build cannot apply (no apply engine wired)."}
		} else {
			res = run(ctx, req, func(st apply.Step) { ch <- stepMsg{st} })
		}
		ch <- applyDoneMsg{res}
		close(ch)
	}()
	return tea.Batch(a.spin.Tick, a.wait())
}

func (a *applyScreen) wait() tea.Cmd {
	ch := a.events
	return func() tea.Msg {
		msg, ok := <-ch
		if !ok {
			return nil
		}
		return msg
	}
}

func (a *applyScreen) Update(msg tea.Msg) (nav, tea.Cmd) {
	switch msg := msg.(type) {
	case stepMsg:
		a.steps[msg.step.Name] = msg.step
		return stay, a.wait()
	case applyDoneMsg:
		a.done = true
		a.res = msg.res
		for _, st := range msg.res.Steps {
			a.steps[st.Name] = st
		}
		a.s.applied = msg.res.Applied
		if msg.res.Applied && a.s.acme != nil && a.s.deps.SaveACME != nil {
			if err := a.s.deps.SaveACME(*a.s.acme); err != nil {
				a.res.Warnings = append(a.res.Warnings, "the certificate is live, but its ACME settings could not be stored, so smtptls renew cannot renew it: "+err.Error())
			}
		}
		return goTo(stepResult), nil
	case spinner.TickMsg:
		if a.done {
			return stay, nil
		}
		var cmd tea.Cmd
		a.spin, cmd = a.spin.Update(msg)
		return stay, cmd
	}
	return stay, nil
}

func (a *applyScreen) View() string {
	var b strings.Builder
	b.WriteString(a.Styles.Heading.Render("Applying") + "\n\n")
	b.WriteString(a.stepsView(false))
	if a.note != "" {
		b.WriteString("\n\n" + a.Styles.Warn.Render(a.note))
	}
	return b.String()
}

// stepsView draws one line per step seen so far, the running one with the
// spinner; full wraps long details instead of cutting them.
func (a *applyScreen) stepsView(full bool) string {
	st := a.Styles
	var lines []string
	for _, sl := range stepLabels {
		s, ok := a.steps[sl.name]
		if !ok {
			if sl.name == apply.StepRollback || a.done {
				continue
			}
			lines = append(lines, "  "+st.Muted.Render("· "+sl.label))
			continue
		}
		var mark string
		switch s.Status {
		case apply.StepRunning:
			mark = a.spin.View()
			if a.done {
				mark = st.Err.Render("✗")
			}
		case apply.StepOK:
			mark = st.OK.Render("✓")
		case apply.StepFailed:
			mark = st.Err.Render("✗")
		default:
			mark = st.Muted.Render("-")
		}
		line := "  " + mark + " " + sl.label
		s.Detail = a.s.cmd(s.Detail)
		if full && s.Detail != "" && ansiWidth(line)+2+ansiWidth(s.Detail) > a.w {
			lines = append(lines, line+":", st.Muted.Render(indent(wrap(s.Detail, a.w-6), "      ")))
			continue
		}
		if s.Detail != "" {
			line += st.Muted.Render(": " + s.Detail)
		}
		lines = append(lines, strings.ReplaceAll(ansi.Wrap(line, max(a.w-4, 12), " "), "\n", "\n    "))
	}
	return strings.Join(lines, "\n")
}

func (a *applyScreen) ShortHelp() []key.Binding  { return nil }
func (a *applyScreen) FullHelp() [][]key.Binding { return nil }
