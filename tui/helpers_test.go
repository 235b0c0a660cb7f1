package tui

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/smtptls/smtptls/apply"
	"github.com/smtptls/smtptls/config"
	"github.com/smtptls/smtptls/validate"
)

// testNow is the clock of every model test: the fixture PKI in
// testdata/pki is valid around it, so screens never change from run to run.
var testNow = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// clock advances by step on every reading: 50 ms is a person typing, 1 ms
// a terminal typing out a paste.
type clock struct {
	mu   sync.Mutex
	t    time.Time
	step time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(c.step)
	return c.t
}

// advance moves the clock by d without a reading.
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func (c *clock) setStep(d time.Duration) {
	c.mu.Lock()
	c.step = d
	c.mu.Unlock()
}

func pki(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "pki", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// plainStyles draws without color or attributes, for comparable text.
func plainStyles() Styles {
	r := lipgloss.NewRenderer(os.Stdout)
	r.SetColorProfile(termenv.Ascii)
	return DefaultStyles(r, true)
}

// harness drives a wizard model the way the program would, running every
// command synchronously and feeding its messages back.
type harness struct {
	t         testing.TB
	m         *Model
	clk       *clock
	installed Installed
	// result is what the fake apply returns; requests records what it got.
	result   apply.Result
	preview  apply.Result // what the dry run on the review step returns
	steps    []apply.Step
	mu       sync.Mutex
	requests []apply.Request
	// postfix is Deps.Postfix (nil: none asked).
	postfix  func(context.Context) (string, bool)
	copied   []string
	deferred []tea.Msg // timers not yet fired
	quit     bool
	dir      string
	// hostFlag is what --hostname would give ("" for none).
	hostFlag string
}

func newHarness(t testing.TB) *harness {
	h := &harness{t: t, clk: &clock{t: testNow, step: 50 * time.Millisecond}, dir: t.TempDir()}
	h.installed = Installed{Loaded: config.Loaded{Dir: h.dir, Settings: config.DefaultSettings(false, "mail.example.test")}}
	h.result = apply.Result{Applied: true, Generation: "20261128T120000Z-0001", Fingerprint: "ab12"}
	h.steps = []apply.Step{{Name: apply.StepValidate, Status: apply.StepOK}, {Name: apply.StepWrite, Status: apply.StepOK}}
	return h
}

func (h *harness) deps() Deps {
	return Deps{
		ConfigDir: h.dir,
		// As root: the README's screens show /etc/smtptls, the default.
		DefaultConfigDir: "/etc/smtptls",
		Hostname:         h.hostFlag,
		Checker:          validate.NewChecker(nil),
		Now:              h.clk.Now,
		Installed:        func(context.Context) (Installed, error) { return h.installed, nil },
		Postfix:          h.postfix,
		Apply: func(_ context.Context, req apply.Request, progress func(apply.Step)) apply.Result {
			if req.DryRun {
				return h.preview
			}
			h.mu.Lock()
			h.requests = append(h.requests, req)
			h.mu.Unlock()
			for _, s := range h.steps {
				progress(apply.Step{Name: s.Name, Status: apply.StepRunning})
				progress(s)
			}
			r := h.result
			r.Steps = h.steps
			return r
		},
		Copy: func(s string) (string, error) {
			h.mu.Lock()
			h.copied = append(h.copied, s)
			h.mu.Unlock()
			return "test clipboard", nil
		},
		VerifyCommand: func(listen, host string, _ config.Mode) string {
			return "smtptls verify --hostname " + host + " " + listen
		},
	}
}

// start builds the model at w x h and lets it read the installed state.
func (h *harness) start(w, hgt int) *harness {
	h.m = New(context.Background(), h.deps(), plainStyles())
	h.m.c.Later = func(_ time.Duration, msg tea.Msg) tea.Cmd {
		return func() tea.Msg { return deferredMsg{msg} }
	}
	h.send(tea.WindowSizeMsg{Width: w, Height: hgt})
	h.run(h.m.Init())
	return h
}

type deferredMsg struct{ msg tea.Msg }

// send delivers msg, then fires the timers it started, as a person's
// pause before the next key would.
func (h *harness) send(msg tea.Msg) {
	h.sendNoTimers(msg)
	h.fire()
}

func (h *harness) sendNoTimers(msg tea.Msg) {
	_, cmd := h.m.Update(msg)
	h.run(cmd)
}

func (h *harness) fire() {
	for len(h.deferred) > 0 {
		d := h.deferred
		h.deferred = nil
		for _, msg := range d {
			h.sendNoTimers(msg)
		}
	}
}

// run executes cmd and everything it leads to, leaving out the timers
// that would loop forever (spinner frames, cursor blinks).
func (h *harness) run(cmd tea.Cmd) {
	queue := []tea.Cmd{cmd}
	for n := 0; len(queue) > 0; n++ {
		if n > 2000 {
			h.t.Fatal("commands do not settle")
		}
		c := queue[0]
		queue = queue[1:]
		if c == nil {
			continue
		}
		msg := c()
		switch msg := msg.(type) {
		case nil:
			continue
		case tea.BatchMsg:
			queue = append(queue, msg...)
			continue
		case tea.QuitMsg:
			h.quit = true
			continue
		case deferredMsg:
			h.deferred = append(h.deferred, msg.msg)
			continue
		}
		if typ := fmt.Sprintf("%T", msg); strings.HasPrefix(typ, "cursor.") || strings.HasPrefix(typ, "spinner.") {
			continue
		}
		_, next := h.m.Update(msg)
		queue = append(queue, next)
	}
}

var keyNames = map[string]tea.KeyType{
	"enter": tea.KeyEnter, "tab": tea.KeyTab, "esc": tea.KeyEsc, "ctrl+c": tea.KeyCtrlC,
	"up": tea.KeyUp, "down": tea.KeyDown, "left": tea.KeyLeft, "right": tea.KeyRight,
	"backspace": tea.KeyBackspace, "ctrl+k": tea.KeyCtrlK, "ctrl+o": tea.KeyCtrlO,
	"ctrl+u": tea.KeyCtrlU, "ctrl+g": tea.KeyCtrlG, "pgdown": tea.KeyPgDown, "pgup": tea.KeyPgUp,
	"home": tea.KeyHome, "end": tea.KeyEnd, "ctrl+home": tea.KeyCtrlHome,
}

// press sends keys typed by a person: named keys or one rune each.
func (h *harness) press(keys ...string) {
	for _, k := range keys {
		if t, ok := keyNames[k]; ok {
			h.send(tea.KeyMsg{Type: t})
			continue
		}
		for _, r := range k {
			h.send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}})
		}
	}
}

// keysAt sends keys gap apart, as a terminal, tmux or a laggy link
// delivers them: named keys, or one rune each. Timers fire only when the
// next key is later than the burst gap, then a person's pause follows.
func (h *harness) keysAt(gap time.Duration, keys ...string) {
	h.clk.setStep(0)
	defer h.clk.setStep(50 * time.Millisecond)
	var msgs []tea.KeyMsg
	for _, k := range keys {
		if t, ok := keyNames[k]; ok {
			msgs = append(msgs, tea.KeyMsg{Type: t})
			continue
		}
		for _, r := range k {
			msgs = append(msgs, tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}})
		}
	}
	for i, m := range msgs {
		if i > 0 {
			h.clk.advance(gap)
			if gap >= burstGap {
				h.fire()
			}
		}
		h.sendNoTimers(m)
	}
	h.clk.advance(time.Second)
	h.fire()
}

// paste sends text as a bracketed paste: one message.
func (h *harness) paste(text string) {
	h.send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(text), Paste: true})
}

// typeOut sends text the way a terminal without bracketed paste does:
// the characters of each line in one message, every line break as Enter
// (tmux sends CR), all microseconds apart.
func (h *harness) typeOut(text string) {
	h.clk.setStep(200 * time.Microsecond)
	defer h.clk.setStep(50 * time.Millisecond)
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			h.sendNoTimers(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(l)})
		}
		if i < len(lines)-1 {
			h.sendNoTimers(tea.KeyMsg{Type: tea.KeyEnter})
		}
	}
	h.fire()
	// A person's next key comes much later.
	h.clk.setStep(time.Second)
	h.clk.Now()
}

func (h *harness) view() string { return h.m.View() }

func (h *harness) screen() string { return h.m.Current() }

func (h *harness) wantScreen(name string) {
	h.t.Helper()
	if got := h.screen(); got != name {
		h.t.Fatalf("on screen %q, want %q; it shows:\n%s", got, name, h.view())
	}
}

func (h *harness) wantView(subs ...string) {
	h.t.Helper()
	v := h.view()
	for _, s := range subs {
		if !strings.Contains(v, s) {
			h.t.Fatalf("screen lacks %q; it shows:\n%s", s, v)
		}
	}
}

func (h *harness) wantNotView(subs ...string) {
	h.t.Helper()
	v := h.view()
	for _, s := range subs {
		if strings.Contains(v, s) {
			h.t.Fatalf("screen shows %q, it must not:\n%s", s, v)
		}
	}
}

// toCert goes from the mode screen to the certificate step (Available).
func (h *harness) toCert() {
	h.t.Helper()
	h.wantScreen("TLS mode")
	h.press("enter")
	h.wantScreen("Certificate")
}

// fillAll pastes the fixture chain into the three fields and stops on review.
func (h *harness) fillAll() {
	h.t.Helper()
	h.toCert()
	h.paste(pki(h.t, "leaf.pem"))
	h.press("tab")
	h.paste(pki(h.t, "leaf.key"))
	h.press("tab")
	h.paste(pki(h.t, "bundle.pem"))
	h.press("tab")
	h.wantScreen("Review")
}

func lipglossWidth(s string) int { return ansiWidth(s) }

// flagUpdate reports whether -update (the golden package's flag) is set.
func flagUpdate() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}
