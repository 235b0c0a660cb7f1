package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/atotto/clipboard"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/term"
	"github.com/muesli/termenv"

	"github.com/smtptls/smtptls/apply"
	"github.com/smtptls/smtptls/config"
	"github.com/smtptls/smtptls/tui"
	"github.com/smtptls/smtptls/validate"
)

const setupUsage = `Usage: smtptls [setup] [--config-dir DIR] [--listen ADDR] [--hostname NAME]

Opens the setup wizard in this terminal: choose a TLS mode, paste (or load)
the certificate, its private key and the CA bundle, review, then apply with
the listener reloaded and verified, or rolled back if anything fails.
Nothing is written before you apply. For scripts use 'smtptls apply'.

Flags:
`

func cmdSetup(ctx context.Context, e *env, args []string) int {
	fs := flag.NewFlagSet("setup", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	dirFlag := fs.String("config-dir", "", "config `DIR` (default: $"+config.EnvConfigDir+", /etc/smtptls as root, else ~/.config/smtptls)")
	listen := fs.String("listen", "", "listen `ADDR` for the listener, overriding the installed setting (e.g. 127.0.0.1:2525)")
	hostname := fs.String("hostname", "", "the gateway's host `NAME` (its MX name), overriding the installed setting")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), setupUsage)
		printDefaults(fs)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "smtptls setup: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	if *listen != "" {
		if _, _, err := net.SplitHostPort(*listen); err != nil {
			fmt.Fprintf(e.stderr, "smtptls setup: --listen %q: %v (write it like 127.0.0.1:2525)\n", *listen, err)
			return exitUsage
		}
	}
	getenv := e.host.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	in, inOK := e.stdin.(*os.File)
	out, outOK := e.stdout.(*os.File)
	if !inOK || !outOK || !term.IsTerminal(in.Fd()) || !term.IsTerminal(out.Fd()) {
		fmt.Fprint(e.stderr, "smtptls setup: the wizard needs a terminal, and this is none.\n"+noWizard)
		return exitUsage
	}
	if t := getenv("TERM"); t == "dumb" || t == "" {
		// A full-screen UI on a terminal that cannot move the cursor is a
		// scroll of redrawn frames: say what does the same job instead.
		fmt.Fprintf(e.stderr, "smtptls setup: this terminal (TERM=%s) cannot show the wizard's full-screen screens.\n"+noWizard, t)
		return exitUsage
	}
	dir, err := config.ResolveDir(*dirFlag, e.host)
	if err != nil {
		fmt.Fprintf(e.stderr, "smtptls setup: %v\n", err)
		return exitUsage
	}

	renderer := lipgloss.NewRenderer(out)
	if getenv("NO_COLOR") != "" {
		renderer.SetColorProfile(termenv.Ascii)
	}
	// Asking the terminal for its background color costs a round trip,
	// over SSH easily more than the whole first frame may take.
	renderer.SetHasDarkBackground(darkBackground(getenv("COLORFGBG")))
	// The clipboard's OSC 52 sequence and the renderer's frames share one
	// locked writer, so a copy can never land in the middle of a frame.
	term := &lockedFile{File: out}
	d := wizardDeps(e, dir, term, getenv)
	d.Listen, d.Hostname = *listen, *hostname
	m := tui.New(ctx, d, tui.DefaultStyles(renderer, false).ForTerminal(getenv("TERM")))
	opts := []tea.ProgramOption{tea.WithContext(ctx), tea.WithInput(in), tea.WithOutput(term), tea.WithAltScreen()}
	if _, err := tea.NewProgram(m, opts...).Run(); err != nil && !errors.Is(err, tea.ErrProgramKilled) {
		fmt.Fprintf(e.stderr, "smtptls setup: %v\n", err)
		return exitUsage
	}
	if m.Applied() {
		fmt.Fprintf(e.stdout, "smtptls: applied and verified (config in %s). Check again with: %s\n", dir, d.VerifyCommand(m.Listen(), m.Hostname(), m.Mode()))
		return exitOK
	}
	fmt.Fprintln(e.stdout, "smtptls: nothing applied.")
	return exitOK
}

// noWizard says which commands do the wizard's job without a screen.
const noWizard = `The same job without the wizard:
  smtptls validate --cert FILE --key FILE --ca FILE    checks the three files and explains every problem
  smtptls apply --mode available --cert FILE --key FILE --ca FILE
                                                       writes, reloads and verifies them, or rolls back
See smtptls validate --help and smtptls apply --help.
`

// wizardDeps wires the wizard to the real engine: validate for the live
// checks, apply for the transaction and the installed state.
func wizardDeps(e *env, dir string, out io.Writer, getenv func(string) string) tui.Deps {
	ad := apply.Deps{Host: e.host, Now: e.now, Exe: e.exe, Command: "smtptls setup (wizard)"}
	return tui.Deps{
		ConfigDir:        dir,
		DefaultConfigDir: defaultConfigDir(e.host),
		Checker:          &lazyChecker{},
		Now:              e.now,
		Installed: func(ctx context.Context) (tui.Installed, error) {
			return installedState(ctx, ad, dir, e.host)
		},
		Apply: func(ctx context.Context, req apply.Request, progress func(apply.Step)) apply.Result {
			return apply.Run(ctx, ad, req, progress)
		},
		Copy: tui.Clipboard(out, getenv, tmuxOption),
		ReadClipboard: func() (string, error) {
			if getenv("SSH_TTY") != "" || getenv("SSH_CONNECTION") != "" {
				return "", errors.New("over SSH the clipboard here is not the admin's")
			}
			return clipboard.ReadAll()
		},
		VerifyCommand: func(listen, hostname string, mode config.Mode) string {
			return verifyCommand(dir, listen, hostname, mode)
		},
		Order:    wizardOrder(e, dir),
		SaveACME: wizardSaveACME(e, dir),
		Postfix:  postfixFound(e),
	}
}

// tmuxOption asks the tmux the wizard runs in for a global option.
func tmuxOption(name string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "tmux", "show-options", "-gv", name).Output()
	if err != nil {
		return "", fmt.Errorf("tmux show-options: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// installedState combines apply.Current (health, listener) with the
// installed PEM texts the wizard prefills its fields with.
func installedState(ctx context.Context, ad apply.Deps, dir string, h config.Host) (tui.Installed, error) {
	st, err := apply.Current(ctx, ad, dir)
	if err != nil {
		return tui.Installed{}, err
	}
	var in tui.Installed
	if st.LoadError == "" {
		l, err := config.Load(dir, h)
		if err != nil {
			return tui.Installed{}, err
		}
		in.Loaded = l
		rep := st.Validation
		if st.Generation != "" && st.Settings.Mode.NeedsCertificate() {
			in.Report = &rep
		}
	} else {
		in.Loaded = config.Loaded{Dir: dir, Settings: config.Defaults(h)}
	}
	in.Running = st.Running
	if st.Listener != nil {
		in.Listen, in.Fingerprint = st.Listener.Listen, st.Listener.Fingerprint
	}
	if st.Generation != "" {
		// A fresh directory is not broken: the wizard starts at the first step.
		in.NeedsAttention = st.NeedsAttention
	}
	if st.LoadError != "" && len(in.NeedsAttention) == 0 {
		in.NeedsAttention = []string{st.LoadError}
	}
	for _, d := range st.Diagnostics {
		if d.Severity == validate.SevError {
			in.Field = d.Field
			break
		}
		if d.Code == validate.CodeCertExpiringSoon && in.Field == "" {
			// Re-applying cannot fix this one: the fix is a new certificate.
			in.Field = validate.FieldCertificate
		}
	}
	return in, nil
}

// verifyCommand is the command that re-runs the check the wizard ended
// with, against the listener's address as a peer on this host reaches it.
func verifyCommand(dir, listen, hostname string, mode config.Mode) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "smtptls verify " + listen
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	flags := ""
	// With no bundle pasted there is no ca.pem to trust: verify then checks
	// against the system roots, as a sending server would.
	ca := filepath.Join(dir, config.CurrentLink, config.CAFile)
	if st, err := os.Stat(ca); err == nil && st.Size() > 0 {
		flags += " --ca " + shellQuote(ca)
	}
	if mode == config.ModeRequired {
		flags += " --required" // also prove that plaintext mail is refused
	}
	return fmt.Sprintf("smtptls verify --hostname %s%s %s", hostname, flags, net.JoinHostPort(host, port))
}

// lazyChecker builds the validation engine on first use, which is always
// off the update loop: loading the system trust store takes tens of
// milliseconds that the first frame should not wait for.
type lazyChecker struct {
	once sync.Once
	c    *validate.Checker
}

func (l *lazyChecker) get() *validate.Checker {
	l.once.Do(func() { l.c = validate.NewChecker(validate.SystemRoots()) })
	return l.c
}

func (l *lazyChecker) Certificate(text, hostname string, now time.Time) validate.FieldResult {
	return l.get().Certificate(text, hostname, now)
}
func (l *lazyChecker) Key(text string, pass []byte) validate.FieldResult {
	return l.get().Key(text, pass)
}
func (l *lazyChecker) Bundle(text string, now time.Time) validate.FieldResult {
	return l.get().Bundle(text, now)
}
func (l *lazyChecker) Check(in validate.Input) validate.Report { return l.get().Check(in) }

// lockedFile is the terminal with its writes serialised; it is still an
// *os.File underneath (Fd, Read), so Bubble Tea sees a terminal.
type lockedFile struct {
	*os.File
	mu sync.Mutex
}

func (f *lockedFile) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.File.Write(p)
}

// darkBackground reads COLORFGBG ("fg;bg", set by rxvt, konsole and
// others); without it, dark is the common case.
func darkBackground(colorfgbg string) bool {
	parts := strings.Split(colorfgbg, ";")
	bg, err := strconv.Atoi(parts[len(parts)-1])
	if err != nil {
		return true
	}
	return bg != 7 && bg != 15
}
