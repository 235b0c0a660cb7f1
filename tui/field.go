package tui

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/smtptls/smtptls/validate"
)

// debounce is how long typing must pause before a check starts; a paste
// is checked at once.
const debounce = 60 * time.Millisecond

// fieldMsg is a message for one of the three paste screens.
type fieldMsg interface{ stepOf() step }

type fieldDebounceMsg struct {
	field validate.Field
	seq   int
}

// fieldCheckedMsg carries a check's result; seq drops stale ones.
type fieldCheckedMsg struct {
	field validate.Field
	seq   int
	res   validate.FieldResult
	// extra holds findings of the full check that belong on this screen:
	// the key that does not match the certificate, the missing intermediate.
	extra []validate.Diagnostic
	// host is the host name the wizard chose for this certificate, when
	// the choice is still the wizard's ("" otherwise).
	host string
}

func stepOfField(f validate.Field) step {
	switch f {
	case validate.FieldKey:
		return stepKey
	case validate.FieldCABundle:
		return stepBundle
	}
	return stepCert
}

func (m fieldDebounceMsg) stepOf() step { return stepOfField(m.field) }
func (m fieldCheckedMsg) stepOf() step  { return stepOfField(m.field) }

type fieldInput int

const (
	inputField fieldInput = iota
	inputPath
	inputPass
)

// fieldScreen is the certificate, key or CA bundle step.
type fieldScreen struct {
	*Common
	s     *shared
	field validate.Field
	f     *PasteField
	w, h  int

	seq      int
	checking bool
	checked  bool
	res      validate.FieldResult
	extra    []validate.Diagnostic

	input     fieldInput
	path      textinput.Model
	pass      textinput.Model
	completed []string // candidates shown under the path prompt
	note      string   // one-line feedback: file loaded, path error, ...
	noteErr   bool
	// blocks caches the number of BEGIN CERTIFICATE lines for blocksAt.
	blocks, blocksAt int
	// results counts check results received; lines caches resultLines.
	results  int
	lines    []string
	linesFor *resultKey
	intro    []string
	introW   int
	// prefilled: the field holds the installed value, untouched.
	prefilled bool
	// gotoFault moves the cursor to the first error's line when the
	// check arrives.
	gotoFault bool
}

// certBlocks counts the certificate blocks, once per edit rather than
// once per frame: a 250 KB bundle has 4,000 lines.
func (fs *fieldScreen) certBlocks() int {
	if v := fs.f.Version(); v != fs.blocksAt {
		fs.blocksAt = v
		fs.blocks = 0
		for _, l := range fs.f.lines {
			if strings.HasPrefix(strings.TrimSpace(l), "-----BEGIN CERTIFICATE-----") {
				fs.blocks++
			}
		}
	}
	return fs.blocks
}

func newFieldScreen(c *Common, s *shared, f validate.Field) *fieldScreen {
	fs := &fieldScreen{Common: c, s: s, field: f, f: s.field(f), blocksAt: -1}
	fs.path = textinput.New()
	fs.path.Cursor.SetMode(cursor.CursorStatic) // no blink timer: fewer redraws over SSH
	fs.path.Prompt = "File: "
	fs.path.Placeholder = "/path/to/file.pem"
	fs.pass = textinput.New()
	fs.pass.Cursor.SetMode(cursor.CursorStatic) // no blink timer: fewer redraws over SSH
	fs.pass.Prompt = "Pass phrase: "
	fs.pass.EchoMode = textinput.EchoPassword
	fs.pass.EchoCharacter = '•'
	return fs
}

// Editing is true while a one-line prompt has the keys ('?' is text there).
func (fs *fieldScreen) Editing() bool { return fs.input != inputField }

func (fs *fieldScreen) SetSize(w, h int) {
	fs.w, fs.h = w, h
	fs.path.Width = max(w-10, 10)
	fs.pass.Width = max(w-16, 10)
	fs.layout()
}

func (fs *fieldScreen) Enter() tea.Cmd {
	fs.input = inputField
	fs.f.Focus()
	fs.gotoFault, fs.s.showFault = fs.s.showFault, false
	if fs.f.Empty() {
		return nil
	}
	// Another field, the host name or a generated certificate may have
	// changed since this one was last checked.
	return fs.validateNow()
}

func (fs *fieldScreen) Update(msg tea.Msg) (nav, tea.Cmd) {
	switch msg := msg.(type) {
	case fieldDebounceMsg:
		if msg.seq == fs.seq {
			return stay, fs.check(msg.seq)
		}
		return stay, nil
	case fieldCheckedMsg:
		if msg.seq != fs.seq {
			return stay, nil // the text changed since: a newer check is coming
		}
		fs.checking, fs.checked = false, true
		fs.res, fs.extra = msg.res, msg.extra
		if msg.host != "" && fs.s.hostSource.auto() {
			fs.s.hostname, fs.s.hostSource = msg.host, hostCert
			if msg.host == fs.s.machineName {
				fs.s.hostSource = hostMachine
			}
		}
		fs.results++
		if fs.gotoFault {
			fs.gotoFault = false
			for _, d := range append(append([]validate.Diagnostic(nil), msg.res.Diagnostics...), msg.extra...) {
				if d.Severity == validate.SevError && d.Line > 0 {
					fs.f.GotoLine(d.Line)
					break
				}
			}
		}
		if fs.field == validate.FieldKey && msg.res.Encrypted && !fs.passAccepted() && fs.input == inputField {
			fs.input = inputPass
			fs.pass.SetValue("")
			return stay, fs.pass.Focus()
		}
		fs.layout()
		return stay, nil
	case tea.KeyMsg:
		switch fs.input {
		case inputPath:
			return fs.updatePath(msg)
		case inputPass:
			return fs.updatePass(msg)
		}
		return fs.updateField(msg)
	}
	return stay, nil
}

func (fs *fieldScreen) updateField(k tea.KeyMsg) (nav, tea.Cmd) {
	keys := fs.Keys
	if fs.Bindable(k) {
		switch {
		case key.Matches(k, keys.Next):
			return nav{act: actNext}, nil
		case key.Matches(k, keys.Back):
			return nav{act: actBack}, nil
		case key.Matches(k, keys.LoadFile):
			fs.input = inputPath
			fs.completed = nil
			fs.path.SetValue("")
			return stay, fs.path.Focus()
		case key.Matches(k, keys.Clear):
			fs.f.Clear()
			fs.note = ""
			fs.prefilled = false
			return stay, fs.changed(false)
		case key.Matches(k, keys.Keep) && fs.s.installedText(fs.field) != "":
			fs.f.SetValue(fs.s.installedText(fs.field))
			fs.prefilled = true
			fs.note = "The installed " + fieldNoun(fs.field) + " is back in the field."
			fs.noteErr = false
			return stay, fs.changed(true)
		case key.Matches(k, keys.Generate) && fs.field == validate.FieldCertificate:
			return goTo(stepGenerate), nil
		case key.Matches(k, keys.Paste):
			return stay, fs.pasteClipboard()
		}
	}
	if k.Type == tea.KeyTab || k.Type == tea.KeyEsc {
		return stay, nil // part of a typed-out paste: neither text nor a binding
	}
	if fs.prefilled && (k.Paste || k.Type == tea.KeyRunes && len(k.Runes) > 1) {
		// A paste over the installed value replaces it: appending a new
		// certificate to the old one is the classic broken renewal.
		fs.f.Clear()
		fs.note = "The paste replaced the installed " + fieldNoun(fs.field) + " (ctrl+k brings it back)."
		fs.noteErr = false
	}
	fs.prefilled = false
	if fs.f.Update(k) {
		return stay, fs.changed(k.Paste)
	}
	return stay, nil
}

// changed starts a check: at once for a paste, after a pause for typing.
func (fs *fieldScreen) changed(now bool) tea.Cmd {
	if fs.field == validate.FieldKey && len(fs.s.passphrase) > 0 {
		// The pass phrase belonged to the key that was there: forget it,
		// so another key is never tried with it, and ask again if needed.
		clear(fs.s.passphrase)
		fs.s.passphrase = nil
	}
	fs.seq++
	fs.checking = true
	fs.layout()
	if now || fs.f.Empty() {
		return fs.check(fs.seq)
	}
	seq, field := fs.seq, fs.field
	return fs.Later(debounce, fieldDebounceMsg{field: field, seq: seq})
}

// validateNow checks the field as it is, for a screen being entered.
func (fs *fieldScreen) validateNow() tea.Cmd {
	fs.seq++
	fs.checking = true
	return fs.check(fs.seq)
}

// check runs the validation engine off the update loop on a snapshot of
// the texts.
func (fs *fieldScreen) check(seq int) tea.Cmd {
	c := fs.s.deps.Checker
	if c == nil {
		return nil
	}
	field := fs.field
	text := fs.f.Value()
	in := validate.Input{
		Certificate: fs.s.cert.Value(),
		Key:         fs.s.key.Value(),
		CABundle:    fs.s.bundle.Value(),
		Hostname:    fs.s.hostname,
		Passphrase:  append([]byte(nil), fs.s.passphrase...),
		Now:         fs.Now(),
	}
	auto, machine := fs.s.hostSource.auto(), fs.s.machineName
	return func() tea.Msg {
		out := fieldCheckedMsg{field: field, seq: seq}
		switch field {
		case validate.FieldCertificate:
			host := in.Hostname
			if auto && machine != "" {
				// The machine's name if the certificate covers it, else
				// the certificate's own first name.
				host = machine
				if sum := c.Check(validate.Input{Certificate: text, Hostname: machine, Now: in.Now}).Summary; sum != nil {
					host = firstNonEmpty(chooseHost(machine, sum.SANs, sum.HostnameMatch), machine)
				}
				out.host = host
			}
			out.res = c.Certificate(text, host, in.Now)
		case validate.FieldKey:
			out.res = c.Key(text, in.Passphrase)
			if strings.TrimSpace(in.Certificate) != "" && strings.TrimSpace(text) != "" && out.res.OK() {
				out.extra = crossFindings(c.Check(in), out.res, validate.FieldKey)
			}
		case validate.FieldCABundle:
			out.res = c.Bundle(text, in.Now)
			if strings.TrimSpace(in.Certificate) != "" {
				out.extra = crossFindings(c.Check(in), out.res, validate.FieldCABundle, validate.FieldChain)
			}
		}
		return out
	}
}

// crossFindings picks the full check's findings for fields that the
// per-field check has not already reported.
func crossFindings(r validate.Report, have validate.FieldResult, fields ...validate.Field) []validate.Diagnostic {
	seen := map[string]bool{}
	for _, d := range have.Diagnostics {
		seen[d.Code+fmt.Sprint(d.Line)] = true
	}
	var out []validate.Diagnostic
	for _, d := range r.Diagnostics {
		for _, f := range fields {
			if d.Field == f && !seen[d.Code+fmt.Sprint(d.Line)] {
				seen[d.Code+fmt.Sprint(d.Line)] = true
				out = append(out, d)
			}
		}
	}
	return out
}

func (fs *fieldScreen) passAccepted() bool {
	if len(fs.s.passphrase) == 0 {
		return false
	}
	for _, d := range fs.res.Diagnostics {
		if d.Code == validate.CodeKeyWrongPassphrase || d.Code == validate.CodeKeyEncrypted {
			return false
		}
	}
	return true
}

func (fs *fieldScreen) updatePass(k tea.KeyMsg) (nav, tea.Cmd) {
	switch k.Type {
	case tea.KeyEnter:
		if k.Paste || fs.Burst {
			return stay, nil
		}
		fs.s.passphrase = []byte(fs.pass.Value())
		fs.pass.SetValue("")
		fs.pass.Blur()
		fs.input = inputField
		fs.note = ""
		return stay, fs.validateNow()
	case tea.KeyEsc:
		fs.pass.SetValue("")
		fs.pass.Blur()
		fs.input = inputField
		return stay, nil
	case tea.KeyCtrlC:
		return stay, nil
	}
	var cmd tea.Cmd
	fs.pass, cmd = fs.pass.Update(k)
	return stay, cmd
}

func fieldNoun(f validate.Field) string {
	switch f {
	case validate.FieldKey:
		return "private key"
	case validate.FieldCABundle:
		return "CA bundle"
	}
	return "certificate"
}

var fieldIntro = map[validate.Field]string{
	validate.FieldCertificate: "Paste the server certificate issued for this gateway: the whole block from " +
		"-----BEGIN CERTIFICATE----- to -----END CERTIFICATE-----, both lines included.",
	validate.FieldKey: "Paste the private key made together with the certificate request, from " +
		"-----BEGIN PRIVATE KEY----- to -----END PRIVATE KEY-----. It is never shown on screen. " +
		"An encrypted key works too: you will be asked for its pass phrase.",
	validate.FieldCABundle: "Paste the CA bundle: the intermediate certificate(s) and usually the root, each from " +
		"-----BEGIN CERTIFICATE----- to -----END CERTIFICATE-----. A bundle holds several certificates: paste all of them, in any order.",
}

// resultKey is everything resultLines depends on, so it is worked out
// once per change instead of once per frame.
type resultKey struct {
	w                                 int
	note                              string
	noteErr, empty, checking, checked bool
	results                           int
	pass, installed                   bool
}

// resultLines is what goes under the field: recognised, problems, fixes.
func (fs *fieldScreen) resultLines() []string {
	k := resultKey{w: fs.w, note: fs.note, noteErr: fs.noteErr, empty: fs.f.Empty(), checking: fs.checking,
		checked: fs.checked, results: fs.results, pass: fs.passAccepted(), installed: fs.s.installedText(fs.field) != ""}
	if fs.linesFor != nil && *fs.linesFor == k {
		return fs.lines
	}
	fs.lines = fs.computeResultLines()
	fs.linesFor = &k
	return fs.lines
}

func (fs *fieldScreen) computeResultLines() []string {
	st := fs.Styles
	w := fs.w
	var out []string
	add := func(style func(...string) string, prefix, text string) {
		for i, l := range strings.Split(wrap(text, w-len([]rune(prefix))), "\n") {
			p := prefix
			if i > 0 {
				p = strings.Repeat(" ", len([]rune(prefix)))
			}
			out = append(out, style(p+l))
		}
	}
	if fs.note != "" {
		if fs.noteErr {
			add(st.Err.Render, "✗ ", fs.note)
		} else {
			add(st.Muted.Render, "", fs.note)
		}
	}
	if fs.f.Empty() {
		if fs.field == validate.FieldCABundle {
			add(st.Muted.Render, "", "Nothing pasted yet. Leave it empty only for a self-signed test certificate.")
		} else {
			add(st.Muted.Render, "", "Nothing pasted yet.")
		}
		if fs.s.installedText(fs.field) != "" {
			add(st.Muted.Render, "", "Press ctrl+k to keep the installed "+fieldNoun(fs.field)+".")
		}
		return out
	}
	if fs.checking && !fs.checked {
		add(st.Muted.Render, "", "Checking…")
		return out
	}
	diags := append(append([]validate.Diagnostic(nil), fs.res.Diagnostics...), fs.extra...)
	sort.SliceStable(diags, func(i, j int) bool { return sevRank(diags[i].Severity) < sevRank(diags[j].Severity) })
	for _, d := range diags {
		if d.Severity != validate.SevError {
			continue
		}
		add(st.Err.Render, "✗ ", lineRef(d)+d.Message)
		if h := fs.s.hint(d); h != "" {
			add(st.Text.Render, "  ", h)
		}
	}
	// No ✓ beside a ✗: with an error in this field, what was recognised is
	// listed without a verdict.
	hasErr := false
	for _, d := range diags {
		hasErr = hasErr || d.Severity == validate.SevError
	}
	for _, r := range fs.res.Recognised {
		if hasErr {
			add(st.Text.Render, "· ", r)
		} else {
			add(st.OK.Render, "✓ ", r)
		}
	}
	repeats := map[string]int{}
	for _, d := range diags {
		if d.Severity != validate.SevError {
			repeats[d.Code]++
		}
	}
	shown := map[string]bool{}
	for _, d := range diags {
		if d.Severity != validate.SevError {
			if shown[d.Code] {
				continue
			}
			shown[d.Code] = true
			if n := repeats[d.Code]; n > 1 {
				d.Message += fmt.Sprintf(" (and %d more like it)", n-1)
			}
		}
		switch d.Severity {
		case validate.SevWarning:
			add(st.Warn.Render, "! ", lineRef(d)+d.Message+" "+fs.s.hint(d))
		case validate.SevInfo:
			if d.Code == validate.CodeKeyEncrypted && fs.passAccepted() {
				continue
			}
			add(st.Muted.Render, "i ", lineRef(d)+d.Message)
		}
	}
	seenFix := map[string]bool{}
	for _, f := range fs.res.Fixes {
		if !seenFix[f] {
			seenFix[f] = true
			add(st.Fix.Render, "↻ ", "On save: "+f)
		}
	}
	if len(out) == 0 && fs.res.OK() {
		add(st.OK.Render, "✓ ", "Looks good.")
	}
	return out
}

func sevRank(s validate.Severity) int {
	switch s {
	case validate.SevError:
		return 0
	case validate.SevWarning:
		return 1
	}
	return 2
}

func lineRef(d validate.Diagnostic) string {
	if d.Line > 0 {
		return fmt.Sprintf("Line %d: ", d.Line)
	}
	return ""
}

// introLines is the explanation above the field, wrapped once per width.
func (fs *fieldScreen) introLines() []string {
	if fs.introW != fs.w || fs.intro == nil {
		fs.intro = strings.Split(wrap(fieldIntro[fs.field], fs.w), "\n")
		fs.introW = fs.w
	}
	return fs.intro
}

// layout sizes the field to what the intro and results leave over.
func (fs *fieldScreen) layout() {
	if fs.w == 0 {
		return
	}
	fixed := len(fs.introLines()) + 1 + 1 // intro, blank, status line
	res := len(fs.resultLines())
	if fs.input != inputField {
		res += 3
	}
	maxRes := max(fs.h-fixed-5, 1)
	fs.f.SetSize(fs.w, max(fs.h-fixed-min(res, maxRes), 5))
}

func (fs *fieldScreen) View() string {
	st := fs.Styles
	fs.layout()
	var b strings.Builder
	b.WriteString(strings.Join(fs.introLines(), "\n"))
	b.WriteString("\n\n")
	b.WriteString(fs.f.View(st))
	b.WriteByte('\n')
	b.WriteString(st.Muted.Render(fs.statusLine()))
	var below []string
	switch fs.input {
	case inputPath:
		below = append(below, fs.path.View())
		if len(fs.completed) > 0 {
			below = append(below, st.Muted.Render(truncateRunes(strings.Join(fs.completed, "  "), fs.w)))
		}
		below = append(below, st.Muted.Render("tab completes · enter loads · esc cancels"))
	case inputPass:
		below = append(below, st.Warn.Render("This key is encrypted. Its pass phrase decrypts it in memory only."), fs.pass.View())
	}
	below = append(below, fs.resultLines()...)
	room := max(fs.h-lineCount(b.String()), 0)
	if len(below) > room && room > 0 {
		more := len(below) - room + 1
		below = append(below[:room-1], st.Muted.Render(fmt.Sprintf("… %d more lines: all of them are listed again on the review step.", more)))
	}
	for _, l := range below[:min(len(below), room)] {
		b.WriteByte('\n')
		b.WriteString(l)
	}
	return b.String()
}

func (fs *fieldScreen) statusLine() string {
	if fs.f.Empty() {
		return ""
	}
	n := fs.f.LineCount()
	s := fmt.Sprintf("%d lines, %s", n, humanBytes(fs.f.Len()))
	if fs.field == validate.FieldKey {
		s = fmt.Sprintf("%d lines, hidden", n)
	}
	if certs := fs.certBlocks(); fs.field == validate.FieldCABundle && certs > 0 {
		s += fmt.Sprintf(", %d certificate blocks", certs)
	}
	if fs.checking {
		s += " · checking…"
	}
	return s
}

func humanBytes(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

func lineCount(s string) int { return strings.Count(s, "\n") + 1 }

func (fs *fieldScreen) ShortHelp() []key.Binding {
	k := fs.Keys
	switch fs.input {
	case inputPath:
		return []key.Binding{k.Complete, withHelp(k.Choose, "enter", "load"), withHelp(k.Back, "esc", "cancel")}
	case inputPass:
		return []key.Binding{withHelp(k.Choose, "enter", "decrypt"), withHelp(k.Back, "esc", "cancel")}
	}
	hs := []key.Binding{k.Next, k.Back, k.LoadFile}
	if fs.s.installedText(fs.field) != "" {
		hs = append(hs, k.Keep)
	} else if fs.field == validate.FieldCertificate {
		hs = append(hs, k.Generate)
	}
	return hs
}

func (fs *fieldScreen) FullHelp() [][]key.Binding {
	k := fs.Keys
	edit := []key.Binding{
		withHelp(k.Choose, "enter", "new line (never moves on)"),
		withHelp(k.Up, "arrows", "move"), k.PageUp, k.PageDn, k.Clear, k.Paste,
	}
	switch fs.input {
	case inputPath, inputPass:
		return [][]key.Binding{fs.ShortHelp()}
	}
	// Only keys that do something here.
	nav := []key.Binding{k.Next, k.Back, k.LoadFile}
	if fs.s.installedText(fs.field) != "" {
		nav = append(nav, k.Keep)
	}
	if fs.field == validate.FieldCertificate {
		nav = append(nav, k.Generate)
	}
	return [][]key.Binding{nav, edit}
}

// pasteClipboard serves ctrl+v: the local clipboard when there is one,
// otherwise a word on how to paste through the terminal (over SSH ctrl+v
// could only read the server's clipboard, which is not the admin's).
func (fs *fieldScreen) pasteClipboard() tea.Cmd {
	if read := fs.s.deps.ReadClipboard; read != nil {
		if text, err := read(); err == nil && text != "" {
			if fs.prefilled {
				fs.f.Clear()
				fs.prefilled = false
			}
			fs.f.Insert(text)
			fs.note, fs.noteErr = "", false
			return fs.changed(true)
		}
	}
	fs.note = "Paste with your terminal: ctrl+shift+v, shift+insert, right click or cmd+v. There is no clipboard here to read."
	fs.noteErr = false
	return nil
}
