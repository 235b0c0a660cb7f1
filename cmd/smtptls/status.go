package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/smtptls/smtptls/apply"
	"github.com/smtptls/smtptls/config"
)

const statusUsage = `Usage: smtptls status [--config-dir DIR] [--json]

Shows the installed configuration (mode, host name, listen address, the
certificate and its days left), whether the listener runs, and whether it
serves the installed certificate: a renewal that was never reloaded shows
up here. The installed generation passes the same checks as reload (valid
certificate, sane settings, unchanged since it was applied); a command is
suggested only when it would succeed. The generations on disk are listed
newest first, failed ones marked.

Exit status: 0 all well, 1 something needs attention (certificate expired or
expiring within 14 days, listener down, serving something other than what is
installed, installed configuration invalid or edited by hand, listener
running with its control socket missing, spool file system under
limits.min_free_bytes), 2 usage problem.

Flags:
`

func cmdStatus(ctx context.Context, e *env, args []string) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	dirFlag := fs.String("config-dir", "", "config `DIR` (default: $"+config.EnvConfigDir+", /etc/smtptls as root, else ~/.config/smtptls)")
	asJSON := fs.Bool("json", false, "print one JSON object")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), statusUsage)
		printDefaults(fs)
	}
	if code, ok := parseFlags(e, fs, args, false); !ok {
		return code
	}
	dir, ok := configDir(e, "status", *dirFlag)
	if !ok {
		return exitUsage
	}
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := apply.Current(qctx, applyDeps(e, "smtptls status"), dir)
	if err != nil {
		fmt.Fprintf(e.stderr, "smtptls status: %v\n", err)
		return exitUsage
	}
	st = statusForDir(st, dir, e.host)
	acmeSt := loadACMEStatus(dir, e.host)
	if a := acmeSt.attention(); a != "" {
		st.NeedsAttention = append(st.NeedsAttention, a)
	}
	lr := listenerStatus(qctx, st, dir, e.now())
	st.NeedsAttention = append(st.NeedsAttention, lr.needs...)
	code := exitOK
	if len(st.NeedsAttention) > 0 {
		code = exitFail
	}
	if *asJSON {
		return writeJSON(e, "status", struct {
			apply.Status
			ACME       *acmeStatus    `json:"acme,omitempty"`
			Operations listenerReport `json:"operations"`
		}{st, acmeSt, lr}, code)
	}
	color := useColor(e.stdout, e.host.Getenv)
	statusWrite(e.stdout, st, color, e.now(), lr.writer(color, e.now()), acmeSt.write)
	return code
}

func statusWrite(w io.Writer, st apply.Status, color bool, now time.Time, extra ...func(io.Writer)) {
	paint := func(code, s string) string {
		if !color {
			return s
		}
		return "\x1b[" + code + "m" + s + "\x1b[0m"
	}
	row := func(k, v string) { fmt.Fprintf(w, "%-13s %s\n", k, v) }
	row("config dir", st.Dir)
	gen := st.Generation
	if gen == "" {
		gen = "(none: nothing applied yet, defaults in effect)"
	}
	row("generation", fmt.Sprintf("%s (%d on disk)", gen, len(st.Generations)))
	if st.LoadError != "" {
		row("installed", paint("31", "cannot be read: "+st.LoadError))
	} else {
		s := st.Settings
		row("mode", string(s.Mode))
		row("host name", s.Hostname)
		if st.Target == config.TargetPostfix {
			row("target", "Postfix, main.cf in "+s.PostfixDir())
		} else {
			row("listen", s.Listen)
		}
		if sum := st.Summary; sum != nil {
			left := fmt.Sprintf("%d days left", sum.DaysLeft)
			switch {
			case sum.NotAfter.Before(now):
				left = paint("31", "EXPIRED")
			case sum.DaysLeft < apply.ExpiryWarnDays:
				left = paint("33", left)
			}
			row("certificate", fmt.Sprintf("%s, issued by %s, expires %s (%s)", sum.Subject, sum.Issuer, sum.NotAfter.UTC().Format("2006-01-02"), left))
			row("", "SHA-256 "+st.Fingerprint)
		} else if st.Fingerprint != "" {
			row("certificate", "SHA-256 "+st.Fingerprint+" (kept; not served in mode "+string(s.Mode)+")")
		}
	}
	if st.Running && st.Target == config.TargetPostfix {
		row("postfix", "running, smtpd on "+st.Listener.Listen)
		if st.ServesInstalled {
			row("serves", paint("32", "the installed configuration"))
		} else {
			row("serves", paint("31", "NOT the installed configuration"))
		}
	} else if st.Running {
		l := st.Listener
		row("listener", fmt.Sprintf("running, pid %d, on %s, generation %s since %s", l.Pid, l.Listen, orDash(l.Generation), l.Since.UTC().Format("2006-01-02 15:04 UTC")))
		if st.ServesInstalled {
			row("serves", paint("32", "the installed configuration"))
		} else {
			row("serves", paint("31", "NOT the installed configuration"))
		}
	} else if st.Target == config.TargetPostfix {
		row("postfix", paint("31", "not running"))
	} else if st.ListenerLost != "" {
		row("listener", paint("31", st.ListenerLost))
	} else {
		row("listener", paint("31", "not running"))
	}
	statusDelivery(row, paint, st)
	// Newest first, as rollback --to wants them.
	for i := len(st.Generations) - 1; i >= 0; i-- {
		g := st.Generations[i]
		k := ""
		if i == len(st.Generations)-1 {
			k = "on disk"
		}
		var notes []string
		if g.Current {
			notes = append(notes, "live")
		}
		switch g.Status {
		case config.StatusFailed:
			notes = append(notes, paint("31", "failed, rolled back"))
		case config.StatusPending:
			notes = append(notes, "never verified")
		}
		note := ""
		if len(notes) > 0 {
			note = "  (" + strings.Join(notes, ", ") + ")"
		}
		row(k, g.Name+note)
	}
	if st.Previous != "" {
		// Suggest only what would succeed.
		if len(st.PreviousProblems) == 0 {
			row("rollback to", st.Previous+" (smtptls rollback)")
		} else {
			row("rollback to", st.Previous+" would be refused: "+st.PreviousProblems[0].Message)
		}
	}
	for _, f := range extra {
		f(w)
	}
	if len(st.NeedsAttention) == 0 {
		fmt.Fprintln(w, "\n"+paint("32", "All well."))
		return
	}
	fmt.Fprintln(w, "\n"+paint("31", "Needs attention:"))
	for _, a := range st.NeedsAttention {
		fmt.Fprintf(w, "  - %s\n", strings.TrimSpace(a))
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
