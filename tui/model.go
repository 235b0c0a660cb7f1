package tui

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/smtptls/smtptls/acme"
	"github.com/smtptls/smtptls/config"
	"github.com/smtptls/smtptls/validate"
)

// shared is the state the steps have in common; the parent owns it.
type shared struct {
	deps      Deps
	ctx       context.Context
	installed Installed
	mode      config.Mode
	// requiredConfirmed is the second confirmation Required mode needs.
	requiredConfirmed bool
	hostname, listen  string
	// hostSource: where hostname came from; machineName: this machine's
	// name, for saying why another was chosen.
	hostSource        hostSource
	machineName       string
	passphrase        []byte
	cert, key, bundle *PasteField
	// keepMaterial: apply the installed certificate material again (the
	// recovery screen's "reload"); the request then carries none.
	keepMaterial bool
	applied      bool
	// showFault: the next field screen was opened to fix a problem; its
	// cursor goes to the first line at fault once the check is back.
	showFault bool
	// modeChosen: the admin picked a mode (the preselected one does not
	// count as input worth asking about on quit).
	modeChosen bool
	// acme: the fields hold a certificate ordered by ACME with these
	// settings; they are stored for `smtptls renew` once it is live.
	acme *acme.Settings
	// askTarget: Postfix was found on a fresh install, so the first step
	// asks which server to configure; target is the answer ("" keeps the
	// installed one) and postfixFound what was found.
	askTarget    bool
	target       string
	postfixFound string
}

func (s *shared) field(f validate.Field) *PasteField {
	switch f {
	case validate.FieldKey:
		return s.key
	case validate.FieldCABundle, validate.FieldChain:
		return s.bundle
	}
	return s.cert
}

// installedText is the installed PEM for a field, "" when none.
func (s *shared) installedText(f validate.Field) string {
	l := s.installed.Loaded
	switch f {
	case validate.FieldCertificate:
		return string(l.CertPEM)
	case validate.FieldKey:
		return string(l.KeyPEM)
	case validate.FieldCABundle:
		return string(l.ChainPEM) + string(l.CAPEM)
	}
	return ""
}

// dirty reports whether anything was entered that Apply would write.
func (s *shared) dirty() bool {
	if s.applied {
		return false
	}
	if s.modeChosen && s.mode != s.installed.Loaded.Settings.Mode {
		return true
	}
	for _, f := range []validate.Field{validate.FieldCertificate, validate.FieldKey, validate.FieldCABundle} {
		if strings.TrimSpace(s.field(f).Value()) != strings.TrimSpace(s.installedText(f)) {
			return true
		}
	}
	return false
}

// Model is the wizard.
type Model struct {
	c       *Common
	s       *shared
	cur     step
	history []step
	screens map[step]screen
	// quitAsk shows the "quit without applying?" dialog.
	quitAsk  bool
	showHelp bool
	quitting bool

	lastFrame   string
	lastFrameAt time.Time
}

// New builds the wizard. st is normally DefaultStyles of the program's
// renderer.
func New(ctx context.Context, d Deps, st Styles) *Model {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.VerifyCommand == nil {
		d.VerifyCommand = func(listen, hostname string, _ config.Mode) string {
			return fmt.Sprintf("smtptls verify --hostname %s %s", hostname, listen)
		}
	}
	c := newCommon(st, d.Now)
	s := &shared{
		deps: d, ctx: ctx, mode: config.ModeAvailable,
		cert:   NewPasteField("Paste the certificate here, or press ctrl+o to load a file"),
		key:    NewPasteField("Paste the private key here, or press ctrl+o to load a file"),
		bundle: NewPasteField("Paste the CA bundle here, or press ctrl+o to load a file"),
	}
	s.key.MaskBody = true
	m := &Model{c: c, s: s, cur: stepLoading}
	as := newApplyScreen(c, s)
	m.screens = map[step]screen{
		stepLoading:  &loadingScreen{Common: c},
		stepRecovery: newRecoveryScreen(c, s),
		stepMode:     newModeScreen(c, s),
		stepCert:     newFieldScreen(c, s, validate.FieldCertificate),
		stepKey:      newFieldScreen(c, s, validate.FieldKey),
		stepBundle:   newFieldScreen(c, s, validate.FieldCABundle),
		stepReview:   newReviewScreen(c, s),
		stepApply:    as,
		stepResult:   newResultScreen(c, s, as),
		stepGenerate: newGenerateScreen(c, s),
		stepACME:     newACMEScreen(c, s),
		stepTarget:   newTargetScreen(c, s),
	}
	m.resize()
	return m
}

// Init reads the installed configuration off the update loop.
func (m *Model) Init() tea.Cmd {
	d, ctx := m.s.deps, m.s.ctx
	return func() tea.Msg {
		var msg installedMsg
		if d.Installed != nil {
			msg.in, msg.err = d.Installed(ctx)
		}
		if d.Postfix != nil {
			msg.postfix, msg.postfixFound = d.Postfix(ctx)
		}
		return msg
	}
}

type installedMsg struct {
	in  Installed
	err error
	// postfix describes the Postfix found here, when postfixFound.
	postfix      string
	postfixFound bool
}

// Applied reports whether an apply went live.
func (m *Model) Applied() bool { return m.s.applied }

// Current names the screen shown, for tests.
func (m *Model) Current() string { return m.cur.title() }

func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.c.Width, m.c.Height = msg.Width, msg.Height
		m.resize()
		return m, nil
	case installedMsg:
		return m, m.start(msg)
	case tea.KeyMsg:
		return m, m.onKey(msg)
	case burstEndMsg:
		// Frames are reused during a burst (see View); the burst's end
		// also brings a fresh one.
		return m, m.burstEnd()
	case fieldMsg:
		return m, m.route(msg.stepOf(), msg)
	case reportMsg, previewMsg:
		return m, m.route(stepReview, msg)
	case stepMsg, applyDoneMsg:
		return m, m.route(stepApply, msg)
	case acmeEventMsg, acmeDoneMsg:
		return m, m.route(stepACME, msg)
	}
	return m, m.route(m.cur, msg)
}

// route hands msg to screen st and acts on what it asks for.
func (m *Model) route(st step, msg tea.Msg) tea.Cmd {
	n, cmd := m.screens[st].Update(msg)
	if st != m.cur {
		return cmd
	}
	return tea.Batch(cmd, m.navigate(n))
}

func (m *Model) key(k tea.KeyMsg) tea.Cmd {
	keys := m.c.Keys
	bind := m.c.Bindable(k)
	if m.quitAsk {
		switch {
		case bind && key.Matches(k, keys.Yes):
			m.quitting = true
			return tea.Quit
		case bind && key.Matches(k, keys.No), k.Type == tea.KeyCtrlC:
			m.quitAsk = false
		}
		return nil
	}
	if k.Type == tea.KeyCtrlC {
		switch {
		case m.cur == stepApply && !m.screens[stepApply].(*applyScreen).done:
			// Interrupting an apply half-way is exactly what it guards
			// against; it finishes or rolls back within seconds.
			m.screens[stepApply].(*applyScreen).note = "Apply is running: it finishes or rolls back by itself in a moment."
			return nil
		case m.s.dirty():
			m.quitAsk = true
			return nil
		}
		m.quitting = true
		return tea.Quit
	}
	if m.showHelp {
		if bind && (key.Matches(k, keys.Help) || key.Matches(k, keys.Back)) {
			m.showHelp = false
		}
		return nil
	}
	if e, ok := m.screens[m.cur].(editing); !ok || !e.Editing() {
		if bind && key.Matches(k, keys.Help) {
			m.showHelp = true
			return nil
		}
	}
	return m.route(m.cur, k)
}

// start picks the first screen once the installed state is known.
func (m *Model) start(msg installedMsg) tea.Cmd {
	s := m.s
	if msg.err != nil {
		// An unreadable config is a recovery case too: say so, offer a new one.
		msg.in.NeedsAttention = append(msg.in.NeedsAttention, fmt.Sprintf("The installed configuration could not be read: %v.", msg.err))
	}
	s.installed = msg.in
	set := msg.in.Loaded.Settings
	if set.Mode == "" {
		set = config.DefaultSettings(false, "localhost")
	}
	s.hostname = firstNonEmpty(s.deps.Hostname, set.Hostname)
	switch {
	case s.deps.Hostname != "":
		s.hostSource = hostEntered
	case msg.in.Loaded.Generation != "":
		s.hostSource = hostInstalled
	default:
		s.hostSource, s.machineName = hostMachine, set.Hostname
	}
	s.listen = firstNonEmpty(s.deps.Listen, set.Listen)
	if set.Mode.NeedsCertificate() {
		s.mode = set.Mode
		s.requiredConfirmed = set.Mode == config.ModeRequired
	}
	var cmds []tea.Cmd
	for _, st := range []step{stepCert, stepKey, stepBundle} {
		fs := m.screens[st].(*fieldScreen)
		if txt := s.installedText(fs.field); txt != "" {
			fs.f.SetValue(txt)
			fs.prefilled = true
			cmds = append(cmds, fs.validateNow())
		}
	}
	first := stepMode
	l := msg.in.Loaded
	if msg.postfixFound && msg.err == nil && l.Generation == "" && l.Settings.Target == "" {
		s.askTarget, s.postfixFound, s.target = true, msg.postfix, config.TargetPostfix
		first = stepTarget
	}
	if len(msg.in.NeedsAttention) > 0 && !s.askTarget {
		first = stepRecovery
	}
	m.cur = first
	m.history = nil
	m.resize()
	return tea.Batch(append(cmds, m.enter(first))...)
}

// order is the sequence of steps for the chosen mode.
func (m *Model) order() []step {
	ord := []step{stepMode, stepCert, stepKey, stepBundle, stepReview, stepApply}
	if !m.s.mode.NeedsCertificate() {
		ord = []step{stepMode, stepReview, stepApply}
	}
	if m.s.askTarget {
		ord = append([]step{stepTarget}, ord...)
	}
	return ord
}

func (m *Model) navigate(n nav) tea.Cmd {
	switch n.act {
	case actNext:
		ord := m.order()
		for i, st := range ord {
			if st == m.cur && i+1 < len(ord) {
				return m.go_(ord[i+1], true)
			}
		}
	case actBack:
		if len(m.history) == 0 {
			return nil
		}
		prev := m.history[len(m.history)-1]
		m.history = m.history[:len(m.history)-1]
		return m.go_(prev, false)
	case actGoto:
		return m.go_(n.to, true)
	case actQuit:
		m.quitting = true
		return tea.Quit
	}
	return nil
}

func (m *Model) go_(to step, push bool) tea.Cmd {
	if push && m.cur != stepLoading && m.cur != stepApply {
		m.history = append(m.history, m.cur)
	}
	if to == stepResult || to == stepApply {
		m.history = nil // there is no going back into a finished apply
	}
	if to == stepMode && m.cur == stepResult {
		m.history = nil
	}
	m.cur = to
	m.resize()
	return m.enter(to)
}

// enter lets a screen start work when it is shown.
func (m *Model) enter(st step) tea.Cmd {
	if e, ok := m.screens[st].(interface{ Enter() tea.Cmd }); ok {
		return e.Enter()
	}
	return nil
}

const chromeLines = 4 // title, blank, blank, help

func (m *Model) resize() {
	w, h := m.c.Width, max(m.c.Height-chromeLines, 4)
	for _, sc := range m.screens {
		sc.SetSize(w, h)
	}
	m.c.Help.Width = w
}

func (m *Model) stepNumber() (int, int) {
	ord := m.order()
	for i, st := range ord {
		if st == m.cur || (m.cur == stepResult && st == stepApply) {
			return i + 1, len(ord)
		}
	}
	return 0, len(ord)
}

// View draws the title, the current screen (or a dialog) and the help.
func (m *Model) View() string {
	if m.quitting {
		return ""
	}
	// Bubble Tea asks for a frame after every message, and a paste typed
	// out by a terminal without bracketed paste is thousands of messages
	// microseconds apart; the screen only shows 60 frames a second, so
	// during a burst the last frame is reused for up to burstFrame and the
	// burst's end brings the real one.
	if m.c.Burst && m.lastFrame != "" && m.c.Now().Sub(m.lastFrameAt) < burstFrame {
		return m.lastFrame
	}
	m.lastFrame = m.c.Styles.Frame(m.view())
	m.lastFrameAt = m.c.Now()
	return m.lastFrame
}

// burstFrame is how long a frame may be reused during a keystroke burst.
const burstFrame = 40 * time.Millisecond

func (m *Model) view() string {
	st := m.c.Styles
	w, h := m.c.Width, m.c.Height
	title := st.Title.Render("smtptls setup") + st.StepInfo.Render(" · "+m.cur.title())
	if n, total := m.stepNumber(); n > 0 {
		title += st.StepInfo.Render(fmt.Sprintf(" · step %d of %d", n, total))
	}
	sc := m.screens[m.cur]
	var body, helpLine string
	switch {
	case m.quitAsk:
		body = m.quitDialog()
		helpLine = m.c.Help.ShortHelpView([]key.Binding{m.c.Keys.Yes, m.c.Keys.No})
	case m.showHelp:
		body = st.Heading.Render("All keys on this screen") + "\n\n" + m.c.Help.FullHelpView(append(sc.FullHelp(), []key.Binding{m.c.Keys.Help, m.c.Keys.Quit}))
		helpLine = m.c.Help.ShortHelpView([]key.Binding{withHelp(m.c.Keys.Help, "?/esc", "close")})
	default:
		body = sc.View()
		helpLine = m.helpLine(sc.ShortHelp())
	}
	bodyH := max(h-chromeLines, 1)
	body = fitLines(body, w, bodyH)
	return truncateLine(title, w) + "\n\n" + body + "\n\n" + truncateLine(helpLine, w)
}

// helpLine is the screen's keys with "? all keys" always at the end: when
// the keys do not fit, those that do are shown and ? lists the rest.
func (m *Model) helpLine(keys []key.Binding) string {
	st, sep := m.c.Styles, m.c.Help.ShortSeparator
	last := st.HelpKey.Render("?") + " " + st.HelpDesc.Render("all keys")
	room := m.c.Width - ansiWidth(sep) - ansiWidth(last)
	line := ""
	for _, k := range keys {
		if !k.Enabled() {
			continue
		}
		item := st.HelpKey.Render(k.Help().Key) + " " + st.HelpDesc.Render(k.Help().Desc)
		if line != "" {
			item = st.HelpSep.Render(sep) + item
		}
		if ansiWidth(line+item) > room {
			line += st.HelpSep.Render(" …")
			break
		}
		line += item
	}
	if line == "" {
		return last
	}
	return line + st.HelpSep.Render(sep) + last
}

func (m *Model) quitDialog() string {
	st := m.c.Styles
	msg := "Quit without applying?\n\nNothing has been written: the installed configuration\nand the running listener are unchanged. What you entered\nhere will be lost."
	return lipgloss.Place(m.c.Width, max(m.c.Height-chromeLines, 1), lipgloss.Center, lipgloss.Center,
		st.Dialog.Render(msg+"\n\n"+st.HelpKey.Render("y")+st.HelpDesc.Render(" quit   ")+st.HelpKey.Render("n")+st.HelpDesc.Render(" keep going")))
}

func withHelp(b key.Binding, k, desc string) key.Binding {
	b.SetHelp(k, desc)
	return b
}

// fitLines cuts or pads s to exactly h lines, each cut to w columns, so
// the help line stays at the bottom at any size.
func fitLines(s string, w, h int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > h {
		lines = lines[:h]
	}
	for i, l := range lines {
		lines[i] = truncateLine(l, w)
	}
	for len(lines) < h {
		lines = append(lines, "")
	}
	return strings.Join(lines, "\n")
}

func truncateLine(l string, w int) string {
	if lipgloss.Width(l) <= w {
		return l
	}
	return ansiTruncate(l, w)
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

// loadingScreen is the first frame, while the installed state is read.
type loadingScreen struct{ *Common }

func (l *loadingScreen) Update(tea.Msg) (nav, tea.Cmd) { return stay, nil }
func (l *loadingScreen) View() string {
	return l.Styles.Muted.Render("Reading the installed configuration and asking the listener what it serves…")
}
func (l *loadingScreen) ShortHelp() []key.Binding  { return []key.Binding{l.Keys.Quit} }
func (l *loadingScreen) FullHelp() [][]key.Binding { return [][]key.Binding{l.ShortHelp()} }
func (l *loadingScreen) SetSize(int, int)          {}

// Listen and Hostname are the values the wizard ended with.
func (m *Model) Listen() string    { return m.s.listen }
func (m *Model) Mode() config.Mode { return m.s.mode }
func (m *Model) Hostname() string  { return m.s.hostname }
