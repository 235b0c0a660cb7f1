package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/smtptls/smtptls/validate"
)

// recoveryScreen opens the wizard when the installed configuration is
// broken: expired or expiring certificate, key mismatch, listener down, or
// a listener serving something else than what is installed.
type recoveryScreen struct {
	*Common
	s    *shared
	w, h int
}

func newRecoveryScreen(c *Common, s *shared) *recoveryScreen { return &recoveryScreen{Common: c, s: s} }

func (r *recoveryScreen) SetSize(w, h int) { r.w, r.h = w, h }

// materialOK reports whether the installed certificate itself is fine, so
// applying it again (restart, reload) can fix the trouble.
func (r *recoveryScreen) materialOK() bool {
	in := r.s.installed
	if in.Loaded.Generation == "" {
		return false
	}
	if !in.Loaded.Settings.Mode.NeedsCertificate() {
		return true
	}
	return in.Report != nil && in.Report.OK()
}

func (r *recoveryScreen) faultStep() step {
	switch r.s.installed.Field {
	case validate.FieldKey:
		return stepKey
	case validate.FieldCABundle, validate.FieldChain:
		return stepBundle
	case validate.FieldCertificate:
		return stepCert
	}
	if r.materialOK() {
		return stepMode
	}
	return stepCert
}

func (r *recoveryScreen) Update(msg tea.Msg) (nav, tea.Cmd) {
	k, ok := msg.(tea.KeyMsg)
	if !ok || !r.Bindable(k) {
		return stay, nil
	}
	keys := r.Keys
	switch {
	case key.Matches(k, keys.Fix):
		r.s.keepMaterial = false
		r.s.showFault = true
		return goTo(r.faultStep()), nil
	case key.Matches(k, keys.Retry) && r.materialOK():
		r.s.keepMaterial = true
		r.s.mode = r.s.installed.Loaded.Settings.Mode
		r.s.requiredConfirmed = true // it is what the admin installed before
		return goTo(stepApply), nil
	case key.Matches(k, keys.Next):
		return goTo(stepMode), nil
	}
	return stay, nil
}

func (r *recoveryScreen) View() string {
	st := r.Styles
	in := r.s.installed
	var b strings.Builder
	b.WriteString(st.Err.Render("This gateway's TLS needs attention.") + "\n\n")
	for _, p := range in.NeedsAttention {
		b.WriteString("  " + st.Err.Render("✗ ") + strings.ReplaceAll(wrap(r.s.cmd(p), r.w-4), "\n", "\n    ") + "\n")
	}
	b.WriteString("\n")
	l := in.Loaded
	if l.Generation != "" {
		b.WriteString(wrap(fmt.Sprintf("Installed: mode %s, host name %s, listen %s (generation %s).", l.Settings.Mode, l.Settings.Hostname, l.Settings.Listen, l.Generation), r.w) + "\n")
		if in.Report != nil && in.Report.Summary != nil {
			s := in.Report.Summary
			when := fmt.Sprintf("expires %s (%d days)", s.NotAfter.UTC().Format("2006-01-02"), s.DaysLeft)
			if s.DaysLeft < 0 {
				when = fmt.Sprintf("expired %s (%d days ago)", s.NotAfter.UTC().Format("2006-01-02"), -s.DaysLeft)
			}
			b.WriteString(wrap(fmt.Sprintf("Certificate: %s, issued by %s, %s.", s.Subject, s.Issuer, when), r.w) + "\n")
		}
	}
	switch {
	case in.Running:
		fmt.Fprintf(&b, "Listener: running on %s\n", in.Listen)
	case l.Generation != "":
		b.WriteString("Listener: not running\n")
	}
	b.WriteString("\n")
	fix := "Press enter to fix it: "
	switch r.faultStep() {
	case stepCert:
		fix += "paste a new certificate (the key and bundle start filled in)."
	case stepKey:
		fix += "paste the private key that belongs to the certificate."
	case stepBundle:
		fix += "paste the complete CA bundle."
	default:
		fix += "go through the steps with the installed values filled in."
	}
	b.WriteString(wrap(fix, r.w) + "\n")
	if r.materialOK() {
		b.WriteString(wrap("Press r to apply the installed configuration again: it restarts or reloads the listener and verifies what it serves.", r.w) + "\n")
	}
	return b.String()
}

func (r *recoveryScreen) ShortHelp() []key.Binding {
	k := r.Keys
	hs := []key.Binding{k.Fix}
	if r.materialOK() {
		hs = append(hs, withHelp(k.Retry, "r", "apply installed again"))
	}
	return append(hs, withHelp(k.Next, "tab", "all steps"), k.Quit)
}

func (r *recoveryScreen) FullHelp() [][]key.Binding { return [][]key.Binding{r.ShortHelp()} }
