package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	"github.com/charmbracelet/bubbles/viewport"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"github.com/smtptls/smtptls/apply"
	"github.com/smtptls/smtptls/config"
	"github.com/smtptls/smtptls/validate"
)

type reportMsg struct {
	seq int
	rep validate.Report
}

// previewMsg is apply's dry run: what would change, by the engine's own
// comparison with the installed configuration.
type previewMsg struct {
	seq int
	res apply.Result
}

// reviewScreen shows everything that will be applied, every warning, and
// what changes compared with the installed configuration.
type reviewScreen struct {
	*Common
	s        *shared
	vp       viewport.Model
	seq      int
	checking bool
	rep      *validate.Report
	preview  *apply.Result
	// edit is the setting being edited in the one-line prompt, if any.
	edit    editKind
	host    textinput.Model
	editErr string
	note    string
	// entered: shown at least once, so its content is worth laying out.
	entered bool
	w, h    int
}

func newReviewScreen(c *Common, s *shared) *reviewScreen {
	r := &reviewScreen{Common: c, s: s, vp: viewport.New(80, 10)}
	r.vp.KeyMap = viewport.KeyMap{} // scrolling keys come from our key map
	r.host = textinput.New()
	r.host.Cursor.SetMode(cursor.CursorStatic) // no blink timer: fewer redraws over SSH
	return r
}

// editKind is the setting the review's prompt edits.
type editKind int

const (
	editNone editKind = iota
	editHost
	editListen
)

func (r *reviewScreen) Editing() bool { return r.edit != editNone }

func (r *reviewScreen) SetSize(w, h int) {
	r.w, r.h = w, h
	r.vp.Width, r.vp.Height = w, max(h-2, 3)
	r.host.Width = max(w-12, 10)
	if r.entered {
		r.refresh()
	}
}

func (r *reviewScreen) Enter() tea.Cmd {
	r.entered = true
	r.note = ""
	r.vp.GotoTop()
	return r.check()
}

func (r *reviewScreen) check() tea.Cmd {
	r.seq++
	r.checking = true
	r.preview = nil
	r.refresh()
	preview := r.previewCmd()
	if !r.s.mode.NeedsCertificate() || r.s.deps.Checker == nil {
		r.checking = false
		r.rep = nil
		r.refresh()
		return preview
	}
	c, seq := r.s.deps.Checker, r.seq
	in := validate.Input{
		Certificate: r.s.cert.Value(), Key: r.s.key.Value(), CABundle: r.s.bundle.Value(),
		Hostname: r.s.hostname, Passphrase: append([]byte(nil), r.s.passphrase...), Now: r.Now(),
	}
	return tea.Batch(preview, func() tea.Msg { return reportMsg{seq: seq, rep: c.Check(in)} })
}

// previewCmd asks apply for a dry run of the request (no lock, no write).
func (r *reviewScreen) previewCmd() tea.Cmd {
	run, ctx, seq := r.s.deps.Apply, r.s.ctx, r.seq
	if run == nil {
		return nil
	}
	req := r.s.request()
	req.DryRun = true
	return func() tea.Msg { return previewMsg{seq: seq, res: run(ctx, req, nil)} }
}

func (r *reviewScreen) Update(msg tea.Msg) (nav, tea.Cmd) {
	switch msg := msg.(type) {
	case reportMsg:
		if msg.seq == r.seq {
			r.checking = false
			rep := msg.rep
			r.rep = &rep
			r.refresh()
		}
		return stay, nil
	case previewMsg:
		if msg.seq == r.seq {
			res := msg.res
			r.preview = &res
			r.refresh()
		}
		return stay, nil
	case copiedMsg:
		r.note = msg.view(r.Styles, r.w)
		return stay, nil
	case tea.KeyMsg:
		if r.edit != editNone {
			return r.updateEdit(msg)
		}
		if !r.Bindable(msg) {
			return stay, nil
		}
		r.note = "" // a copy's note lasts until the next key
		k := r.Keys
		switch {
		case key.Matches(msg, k.Back):
			return nav{act: actBack}, nil
		case key.Matches(msg, k.Apply):
			if r.checking {
				return stay, nil
			}
			if f, blocked := r.blockedBy(); blocked {
				if f != "" {
					r.s.showFault = true
					return goTo(stepOfField(f)), nil
				}
				return stay, nil
			}
			return goTo(stepApply), nil
		case key.Matches(msg, k.EditHost) && r.s.mode.NeedsCertificate():
			return stay, r.startEdit(editHost, "Host name: ", r.s.hostname)
		case key.Matches(msg, k.EditListen):
			return stay, r.startEdit(editListen, "Listen on: ", r.s.listen)
		case key.Matches(msg, k.CopyTLSA) && r.rep != nil && r.rep.Summary != nil:
			return stay, copyCmd(r.s.deps.Copy, "TLSA record", r.tlsaRecord(), false)
		case scroll(&r.vp, msg, k):
		}
	}
	return stay, nil
}

func (r *reviewScreen) startEdit(k editKind, prompt, value string) tea.Cmd {
	r.edit, r.editErr = k, ""
	r.host.Prompt = prompt
	r.host.SetValue(value)
	r.host.CursorEnd()
	return r.host.Focus()
}

func (r *reviewScreen) updateEdit(k tea.KeyMsg) (nav, tea.Cmd) {
	switch k.Type {
	case tea.KeyEnter:
		if k.Paste || r.Burst {
			return stay, nil
		}
		v := strings.TrimSpace(r.host.Value())
		switch {
		case v == "":
		case r.edit == editHost:
			if v != r.s.hostname {
				r.s.hostname, r.s.hostSource = v, hostEntered
			}
		case r.edit == editListen:
			if v != r.s.listen {
				if err := r.s.checkListen(v); err != nil {
					r.editErr = err.Error()
					return stay, nil
				}
				r.s.listen = v
			}
		}
		r.edit, r.editErr = editNone, ""
		r.host.Blur()
		return stay, r.check()
	case tea.KeyEsc:
		r.edit, r.editErr = editNone, ""
		r.host.Blur()
		return stay, nil
	}
	r.editErr = ""
	var cmd tea.Cmd
	r.host, cmd = r.host.Update(k)
	return stay, cmd
}

// blockedBy reports whether apply is blocked and by which field.
func (r *reviewScreen) blockedBy() (validate.Field, bool) {
	if !r.s.mode.NeedsCertificate() {
		return "", false
	}
	if r.rep == nil {
		return validate.FieldCertificate, true
	}
	for _, d := range r.rep.Diagnostics {
		if d.Severity == validate.SevError {
			if d.Field == validate.FieldChain {
				return validate.FieldCABundle, true
			}
			return d.Field, true
		}
	}
	return "", false
}

func (r *reviewScreen) tlsaRecord() string {
	port := "25"
	if _, p, ok := strings.Cut(r.s.listen, ":"); ok && p != "" && !strings.Contains(p, ":") {
		port = p
	}
	return fmt.Sprintf("_%s._tcp.%s. IN TLSA %s", port, r.s.hostname, r.rep.Summary.TLSA)
}

func (r *reviewScreen) refresh() {
	r.vp.SetContent(r.content())
}

var modeLine = map[config.Mode]string{
	config.ModeDisabled:  "Disabled: no STARTTLS, plain text only",
	config.ModeAvailable: "Available: STARTTLS offered, plain text still accepted",
	config.ModeRequired:  "Required: mail refused without STARTTLS",
}

func (r *reviewScreen) content() string {
	st := r.Styles
	var b strings.Builder
	row := func(label, val string) {
		// A value wraps under itself, never cut: some are copied by hand.
		fmt.Fprintf(&b, "%-13s %s\n", label, strings.ReplaceAll(ansi.Wrap(val, max(r.w-14, 12), " "), "\n", "\n"+strings.Repeat(" ", 14)))
	}
	row("Mode", modeLine[r.s.mode])
	if r.s.postfixTarget() {
		row("Server", r.s.serverLine())
	} else {
		row("Listen on", r.s.listen+st.Muted.Render("  (l to edit)"))
	}
	for _, d := range deliveryRows(r.s.installed.Loaded.Settings) {
		row(d[0], d[1])
	}
	if r.s.mode == config.ModeRequired {
		// Said on the mode screen once; the review is where apply is pressed.
		b.WriteString(st.Warn.Render(wrap("! Required refuses mail from every sender that does not use TLS: never use it on a public MX.", r.w)) + "\n")
	}
	if !r.s.mode.NeedsCertificate() {
		b.WriteString("\n" + st.Warn.Render("! STARTTLS will not be offered: mail and any passwords in it travel in plain text.") + "\n")
		r.writeChanges(&b)
		return b.String()
	}
	if r.checking && r.rep == nil {
		b.WriteString("\n" + st.Muted.Render("Checking the certificate, key and bundle together…"))
		return b.String()
	}
	rep := r.rep
	if rep == nil {
		return b.String()
	}
	if sum := rep.Summary; sum != nil {
		host := r.s.hostname
		if sum.HostnameMatch {
			host += st.OK.Render("  ✓ the certificate covers this name")
		} else {
			host += st.Warn.Render("  ! the certificate does not cover this name")
		}
		row("Host name", host)
	} else {
		row("Host name", r.s.hostname)
	}
	row("", st.Muted.Render("("+r.s.hostWhy()+"; h to edit)"))
	var errs, warns, infos []validate.Diagnostic
	for _, d := range rep.Diagnostics {
		switch d.Severity {
		case validate.SevError:
			errs = append(errs, d)
		case validate.SevWarning:
			warns = append(warns, d)
		default:
			infos = append(infos, d)
		}
	}
	if len(errs) > 0 {
		b.WriteString("\n" + st.Err.Render(fmt.Sprintf("✗ %d problem(s) must be fixed before applying:", len(errs))) + "\n")
		for _, d := range errs {
			r.diag(&b, st.Err.Render("✗ "), d)
		}
		b.WriteString("\n")
	}
	if sum := rep.Summary; sum != nil {
		b.WriteString("\n" + st.Heading.Render("Certificate") + "\n")
		row("  Subject", sum.Subject)
		row("  Names", strings.Join(sum.SANs, ", "))
		row("  Issuer", sum.Issuer)
		days := fmt.Sprintf("%d days left", sum.DaysLeft)
		switch {
		case sum.DaysLeft < 0:
			days = st.Err.Render(fmt.Sprintf("expired %d days ago", -sum.DaysLeft))
		case sum.DaysLeft < 30:
			days = st.Warn.Render(days)
		}
		row("  Valid", fmt.Sprintf("%s to %s (%s)", sum.NotBefore.UTC().Format("2006-01-02"), sum.NotAfter.UTC().Format("2006-01-02"), days))
		k := sum.KeyType
		if sum.KeyBits > 0 && !strings.Contains(k, fmt.Sprint(sum.KeyBits)) {
			k += fmt.Sprintf(" %d bits", sum.KeyBits)
		}
		row("  Key", k)
		row("  SHA-256", sum.CertSHA256)
		b.WriteString("\n" + st.Heading.Render("Chain as peers will see it") + "\n")
		for i, c := range sum.Chain {
			note := ""
			if c.Role == "root" {
				note = st.Muted.Render(" (not sent; peers have their own roots)")
			}
			fmt.Fprintf(&b, "  %d %-12s %s\n", i+1, c.Role, strings.ReplaceAll(ansi.Wrap(c.Subject+note, max(r.w-17, 12), " "), "\n", "\n"+strings.Repeat(" ", 17)))
		}
		if sum.TLSA != "" {
			b.WriteString("\n" + st.Heading.Render("DANE TLSA record") + st.Muted.Render(" (t copies it)") + "\n")
			name, rec, _ := strings.Cut(r.tlsaRecord(), " IN TLSA ")
			b.WriteString(indent(st.Code.Render(wrapValue(name+" IN TLSA", r.w-2)), "  ") + "\n")
			b.WriteString(indent(st.Code.Render(ansi.Wrap(rec, max(r.w-2, 12), " ")), "  ") + "\n")
		}
	}
	if len(warns) > 0 {
		b.WriteString("\n" + st.Heading.Render("Warnings") + "\n")
		for _, d := range warns {
			r.diag(&b, st.Warn.Render("! "), d)
		}
	}
	if len(infos) > 0 {
		b.WriteString("\n" + st.Heading.Render("Fixed on save") + "\n")
		for _, d := range infos {
			r.diag(&b, st.Fix.Render("↻ "), d)
		}
	}
	r.writeChanges(&b)
	return strings.TrimRight(b.String(), "\n")
}

func (r *reviewScreen) diag(b *strings.Builder, mark string, d validate.Diagnostic) {
	where := fieldNoun(d.Field)
	if d.Field == validate.FieldChain {
		where = "chain"
	}
	if d.Line > 0 {
		where += fmt.Sprintf(", line %d", d.Line)
	}
	text := wrap(r.s.cmd(d.Message)+" ("+where+")", r.w-4)
	b.WriteString("  " + mark + strings.ReplaceAll(text, "\n", "\n    ") + "\n")
	if h := r.s.hint(d); h != "" {
		b.WriteString("    " + strings.ReplaceAll(wrap(h, r.w-4), "\n", "\n    ") + "\n")
	}
}

// writeChanges lists what differs from the installed configuration, as
// apply's dry run compares them.
func (r *reviewScreen) writeChanges(b *strings.Builder) {
	st := r.Styles
	b.WriteString("\n" + st.Heading.Render("Compared with what is installed") + "\n")
	switch p := r.preview; {
	case r.s.installed.Loaded.Generation == "":
		b.WriteString("  Nothing is installed yet: this is the first configuration.\n")
	case p == nil:
		b.WriteString(st.Muted.Render("  Comparing…") + "\n")
	case len(p.Changes) == 0:
		b.WriteString("  No changes: applying writes the same configuration again and reloads\n  the listener.\n")
	default:
		for _, c := range p.Changes {
			b.WriteString(indent(ansi.Wrap(fmt.Sprintf("%s: %s → %s", c.What, c.Old, c.New), max(r.w-4, 12), " "), "  ") + "\n")
		}
	}
	if p := r.preview; p != nil {
		for _, w := range p.Warnings {
			b.WriteString("  " + st.Warn.Render("! ") + indent(wrap(r.s.cmd(w), r.w-4), "    ")[4:] + "\n")
		}
	}
	if r.s.installed.Loaded.Generation != "" {
		b.WriteString(indent(wrap(r.s.cmd("The installed configuration is kept: `smtptls rollback` returns to it."), r.w-2), "  ") + "\n")
	}
}

func (r *reviewScreen) View() string {
	st := r.Styles
	var foot string
	switch {
	case r.edit != editNone:
		foot = r.host.View()
		if r.editErr != "" {
			foot += "\n" + st.Err.Render("✗ "+r.editErr)
		}
	case r.note != "":
		foot = r.note
	case r.checking:
		foot = st.Muted.Render("Checking…")
	default:
		if f, blocked := r.blockedBy(); blocked {
			foot = st.Err.Render("Apply is blocked until the problems above are fixed: enter goes to the " + fieldNoun(f) + " step.")
		} else {
			foot = st.OK.Render("Ready. Nothing is written yet: enter applies (rolled back if anything fails).")
		}
	}
	// The foot is never cut either: at 40 columns it takes more lines.
	foot = ansi.Wrap(foot, max(r.w, 12), " ")
	r.vp.Height = max(r.h-1-lineCount(foot), 3)
	more := ""
	if !r.vp.AtBottom() {
		more = st.Muted.Render("  ↓ more below")
	}
	return r.vp.View() + "\n" + more + "\n" + foot
}

func (r *reviewScreen) ShortHelp() []key.Binding {
	k := r.Keys
	if r.edit != editNone {
		return []key.Binding{withHelp(k.Choose, "enter", "save"), withHelp(k.Back, "esc", "cancel")}
	}
	apply := k.Apply
	if _, blocked := r.blockedBy(); blocked {
		apply = withHelp(k.Apply, "enter", "go fix")
	}
	// Short words, so all of them fit in 80 columns; ? spells them out.
	hs := []key.Binding{apply, k.Back, withHelp(k.Down, "↑↓", "scroll"), withHelp(k.EditListen, "l", "listen")}
	if r.s.mode.NeedsCertificate() {
		hs = append(hs, withHelp(k.EditHost, "h", "host"))
		if r.rep != nil && r.rep.Summary != nil && r.rep.Summary.TLSA != "" {
			hs = append(hs, withHelp(k.CopyTLSA, "t", "copy"))
		}
	}
	return hs
}

func (r *reviewScreen) FullHelp() [][]key.Binding {
	k := r.Keys
	first := []key.Binding{k.Apply, k.Back, k.EditListen}
	if r.s.mode.NeedsCertificate() {
		first = append(first, k.EditHost)
		if r.rep != nil && r.rep.Summary != nil && r.rep.Summary.TLSA != "" {
			first = append(first, k.CopyTLSA)
		}
	}
	return [][]key.Binding{first, {k.Up, k.Down, k.PageUp, k.PageDn}}
}
