package tui

import (
	"fmt"
	"slices"
	"strings"

	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/spinner"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/smtptls/smtptls/acme"
)

// The rows of the ACME form, top to bottom.
const (
	acmeEmail = iota
	acmeNames
	acmeChallenge
	acmeWhere // listen address for http-01/tls-alpn-01, the hook for dns-01
	acmeServer
	acmeRows
)

var acmeChallenges = []struct{ name, why string }{
	{acme.HTTP01, "port 80 of every name must reach this machine"},
	{acme.TLSALPN01, "port 443 of every name must reach this machine"},
	{acme.DNS01, "a program you give publishes a DNS TXT record; no port"},
}

type acmeEventMsg struct{ ev acme.Event }

type acmeDoneMsg struct {
	res acme.Result
	err error
}

// acmeScreen orders a certificate by ACME: e-mail, names (the host name
// first), challenge, then a progress view of the order. The certificate,
// key and chain it gets go into the fields like pasted ones, so review and
// apply treat them alike.
type acmeScreen struct {
	*Common
	s         *shared
	in        [acmeRows]textinput.Model // acmeChallenge has none
	challenge int
	focus     int
	running   bool
	events    []acme.Event
	ch        chan tea.Msg
	err       string
	spin      spinner.Model
	w, h      int
}

func newACMEScreen(c *Common, s *shared) *acmeScreen {
	a := &acmeScreen{Common: c, s: s, spin: spinner.New(spinner.WithSpinner(spinner.Line), spinner.WithStyle(c.Styles.Spinner))}
	for i := range a.in {
		a.in[i] = textinput.New()
		a.in[i].Prompt = ""
		a.in[i].Cursor.SetMode(cursor.CursorStatic)
	}
	a.in[acmeEmail].Placeholder = "(the address the CA sends expiry notices to)"
	a.in[acmeServer].SetValue(acme.LetsEncrypt)
	return a
}

func (a *acmeScreen) SetSize(w, h int) {
	a.w, a.h = w, h
	for i := range a.in {
		a.in[i].Width = max(w-16, 10)
	}
}

// Enter prefills the names with the host name and focuses the e-mail.
func (a *acmeScreen) Enter() tea.Cmd {
	if a.running {
		return nil
	}
	if a.in[acmeNames].Value() == "" {
		a.in[acmeNames].SetValue(a.s.hostname)
	}
	a.setWhere()
	a.focusRow(acmeEmail)
	return nil
}

// setWhere puts the default of the challenge's row in place.
func (a *acmeScreen) setWhere() {
	in := &a.in[acmeWhere]
	switch acmeChallenges[a.challenge].name {
	case acme.HTTP01:
		if v := in.Value(); v == "" || v == ":443" || strings.Contains(v, "/") {
			in.SetValue(":80")
		}
	case acme.TLSALPN01:
		if v := in.Value(); v == "" || v == ":80" || strings.Contains(v, "/") {
			in.SetValue(":443")
		}
	default:
		if v := in.Value(); v == ":80" || v == ":443" {
			in.SetValue("")
		}
		in.Placeholder = "path of the program: PROGRAM present|cleanup FQDN VALUE"
	}
}

func (a *acmeScreen) focusRow(r int) {
	a.focus = r
	for i := range a.in {
		if i == r {
			a.in[i].Focus()
			a.in[i].CursorEnd()
		} else {
			a.in[i].Blur()
		}
	}
}

// Editing: a text row takes every key, '?' included.
func (a *acmeScreen) Editing() bool { return !a.running && a.focus != acmeChallenge }

// settings is the order as the form says.
func (a *acmeScreen) settings() acme.Settings {
	names := strings.FieldsFunc(a.in[acmeNames].Value(), func(r rune) bool { return r == ',' || r == ' ' })
	s := acme.Settings{
		Server:    strings.TrimSpace(a.in[acmeServer].Value()),
		Email:     strings.TrimSpace(a.in[acmeEmail].Value()),
		Domains:   names,
		Challenge: acmeChallenges[a.challenge].name,
	}
	where := strings.TrimSpace(a.in[acmeWhere].Value())
	switch s.Challenge {
	case acme.HTTP01:
		s.HTTPAddr = where
	case acme.TLSALPN01:
		s.TLSALPNAddr = where
	default:
		s.DNSHook = where
	}
	return s.WithDefaults()
}

func (a *acmeScreen) Update(msg tea.Msg) (nav, tea.Cmd) {
	switch msg := msg.(type) {
	case acmeEventMsg:
		a.events = append(a.events, msg.ev)
		return stay, a.wait()
	case acmeDoneMsg:
		a.running = false
		if msg.err != nil {
			a.err = msg.err.Error()
			return stay, nil
		}
		s := msg.res.Settings
		if len(s.Domains) == 0 {
			s = a.settings() // an Order that did not say
		}
		a.s.cert.SetValue(string(msg.res.CertPEM))
		a.s.key.SetValue(string(msg.res.KeyPEM))
		a.s.bundle.SetValue(string(msg.res.ChainPEM))
		a.s.passphrase = nil
		a.s.acme = &s
		if len(s.Domains) > 0 && !slices.Contains(s.Domains, a.s.hostname) {
			a.s.hostname = s.Domains[0]
		}
		return goTo(stepReview), nil
	case spinner.TickMsg:
		if !a.running {
			return stay, nil
		}
		var cmd tea.Cmd
		a.spin, cmd = a.spin.Update(msg)
		return stay, cmd
	case tea.KeyMsg:
		if a.running {
			return stay, nil
		}
		switch msg.Type {
		case tea.KeyEsc:
			return nav{act: actBack}, nil
		case tea.KeyTab, tea.KeyDown:
			a.focusRow((a.focus + 1) % acmeRows)
			return stay, nil
		case tea.KeyShiftTab, tea.KeyUp:
			a.focusRow((a.focus + acmeRows - 1) % acmeRows)
			return stay, nil
		case tea.KeyEnter:
			if !a.Bindable(msg) {
				return stay, nil
			}
			return stay, a.start()
		}
		if a.focus == acmeChallenge {
			switch {
			case msg.Type == tea.KeyLeft:
				a.challenge = (a.challenge + len(acmeChallenges) - 1) % len(acmeChallenges)
			case msg.Type == tea.KeyRight, msg.Type == tea.KeySpace:
				a.challenge = (a.challenge + 1) % len(acmeChallenges)
			}
			a.setWhere()
			return stay, nil
		}
		var cmd tea.Cmd
		a.in[a.focus], cmd = a.in[a.focus].Update(msg)
		return stay, cmd
	}
	return stay, nil
}

// start checks the form and runs the order in the background; progress
// comes back through a channel, as apply's does.
func (a *acmeScreen) start() tea.Cmd {
	s := a.settings()
	if err := s.Check(); err != nil {
		a.err = err.Error()
		return nil
	}
	if a.s.deps.Order == nil {
		a.err = "This build cannot order certificates (no ACME client wired)."
		return nil
	}
	a.err, a.events, a.running = "", nil, true
	a.ch = make(chan tea.Msg, 16)
	order, ctx, ch := a.s.deps.Order, a.s.ctx, a.ch
	go func() {
		res, err := order(ctx, s, func(ev acme.Event) { ch <- acmeEventMsg{ev} })
		ch <- acmeDoneMsg{res: res, err: err}
		close(ch)
	}()
	return tea.Batch(a.spin.Tick, a.wait())
}

func (a *acmeScreen) wait() tea.Cmd {
	ch := a.ch
	return func() tea.Msg {
		msg, ok := <-ch
		if !ok {
			return nil
		}
		return msg
	}
}

func (a *acmeScreen) View() string {
	st := a.Styles
	var b strings.Builder
	if a.running || len(a.events) > 0 && a.err != "" {
		b.WriteString(st.Heading.Render("Ordering a certificate for "+strings.Join(a.settings().Domains, ", ")) + "\n\n")
		for _, ev := range a.events {
			d := ev.Detail
			if ev.Name != "" {
				d = ev.Name + ": " + d
			}
			b.WriteString("  " + strings.ReplaceAll(wrap(st.OK.Render("✓")+" "+acmeStepLabel(ev.Step)+": "+d, a.w-6), "\n", "\n    ") + "\n")
		}
		if a.running {
			b.WriteString("  " + a.spin.View() + " waiting for the CA\n")
		}
		if a.err != "" {
			b.WriteString("\n" + st.Err.Render(wrap("✗ "+a.err, a.w)) + "\n")
			b.WriteString("\n" + st.Muted.Render(wrap("Nothing was installed. Change the settings below and press enter to try again.", a.w)) + "\n\n")
			b.WriteString(a.form())
		}
		return b.String()
	}
	b.WriteString(st.Heading.Render("Get a certificate from an ACME CA (Let's Encrypt)") + "\n\n")
	b.WriteString(a.form())
	if a.err != "" {
		b.WriteString("\n" + st.Err.Render(wrap("✗ "+a.err, a.w)) + "\n")
	}
	b.WriteString("\n" + st.Muted.Render(wrap("ACME cannot use port 25: the CA checks port 80 (http-01), port 443 (tls-alpn-01) or a DNS record (dns-01). The certificate is renewed later by smtptls renew with these settings, keeping its key.", a.w)))
	return b.String()
}

func (a *acmeScreen) form() string {
	st := a.Styles
	var b strings.Builder
	row := func(r int, label, value string) {
		// Pad before styling: escape codes would count as width.
		mark, label := "  ", fmt.Sprintf("%-12s", label)
		if r == a.focus {
			mark, label = "> ", st.Selected.Render(label)
		}
		b.WriteString(mark + label + " " + value + "\n")
	}
	row(acmeEmail, "E-mail", a.in[acmeEmail].View())
	row(acmeNames, "Names", a.in[acmeNames].View())
	ch := acmeChallenges[a.challenge]
	row(acmeChallenge, "Challenge", "‹ "+ch.name+" ›  "+st.Muted.Render(ch.why))
	where := "Listen on"
	if ch.name == acme.DNS01 {
		where = "DNS hook"
	}
	row(acmeWhere, where, a.in[acmeWhere].View())
	row(acmeServer, "CA", a.in[acmeServer].View())
	return b.String()
}

func acmeStepLabel(step string) string {
	switch step {
	case acme.StepAccount:
		return "Account"
	case acme.StepOrder:
		return "Order"
	case acme.StepChallenge:
		return "Authorization"
	case acme.StepFinalize:
		return "Certificate"
	}
	return step
}

func (a *acmeScreen) ShortHelp() []key.Binding {
	if a.running {
		return nil
	}
	k := a.Keys
	return []key.Binding{
		key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab/↑/↓", "move")),
		key.NewBinding(key.WithKeys("left", "right"), key.WithHelp("←/→", "challenge")),
		key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "order")),
		k.Back,
	}
}

func (a *acmeScreen) FullHelp() [][]key.Binding { return [][]key.Binding{a.ShortHelp()} }
