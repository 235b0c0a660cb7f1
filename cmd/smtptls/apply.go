package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/smtptls/smtptls/apply"
	"github.com/smtptls/smtptls/config"
)

const applyUsage = `Usage: smtptls apply --mode disabled|available|required [--cert FILE --key FILE --ca FILE]
                     [--hostname NAME] [--listen ADDR] [--key-passphrase-file FILE]
                     [--target bundled|postfix] [--postfix-dir DIR]
                     [--config-dir DIR] [--yes] [--dry-run] [--force] [--json]
                     [--delivery maildir|relay] [--next-hop URL] [--accept-domains DOMAINS]
                     [--next-hop-tls none|may|verify]

Validates, writes a new configuration generation, switches to it atomically,
reloads the listener (or starts it when none runs) and verifies it with a
receiver test. If the reload is refused or the test fails, the previous
configuration is switched back and reloaded, and the new generation is
marked failed. An apply of exactly what is live and served writes nothing
("already serving this configuration", exit 0), so a renewal hook can run it
every day. An installed configuration that cannot be read is never replaced
by defaults: apply refuses and names the file and line. Settings alone are
changed with ` + "`smtptls set`" + `.

disabled needs no certificate. available and required keep the installed
certificate when none is given; a file not given (--ca, say) keeps the
installed one. required refuses plaintext mail and needs --yes (or a typed
"yes" on a terminal): a public MX that requires TLS loses mail from peers
without it.

--target postfix configures the Postfix already running here instead of
the bundled listener: main.cf gets smtpd_tls_security_level and the chain
file (through postconf), then postfix check, postfix reload and the same
verify; --listen then only says where to verify. The target is kept for
later applies.

Exit status: 0 applied and verified (or a dry run that validates),
1 refused, invalid or rolled back, 2 usage or environment problem (another
apply holds the lock, a config dir owned by another user, a listener whose
control socket is missing).

Flags:
`

func cmdApply(ctx context.Context, e *env, args []string) int {
	fs := flag.NewFlagSet("apply", flag.ContinueOnError)
	dirFlag := fs.String("config-dir", "", "config `DIR` (default: $"+config.EnvConfigDir+", /etc/smtptls as root, else ~/.config/smtptls)")
	modeFlag := fs.String("mode", "", "TLS `MODE`: disabled, available or required")
	certFile := fs.String("cert", "", "server certificate `FILE` (PEM; a full chain is split)")
	keyFile := fs.String("key", "", "private key `FILE` (PEM)")
	caFile := fs.String("ca", "", "CA bundle `FILE`: intermediate and root certificates")
	hostname := fs.String("hostname", "", "the gateway's host `NAME` (default: the installed one, else this machine's)")
	listen := fs.String("listen", "", "listen `ADDR`ess, like 0.0.0.0:25 (default: the installed one)")
	passFile := fs.String("key-passphrase-file", "", "`FILE` holding the key's pass phrase (first line; - reads standard input); the key is stored decrypted")
	yes := fs.Bool("yes", false, "confirm mode required")
	dryRun := fs.Bool("dry-run", false, "validate and show what would change; write nothing")
	force := fs.Bool("force", false, "write into a config directory owned by another user (as root, files are given to that user)")
	asJSON := fs.Bool("json", false, "print one JSON object (the result) at the end instead of the steps")
	deliveryFlags := addDeliveryFlags(fs)
	target, postfixDir := applyTargetFlags(fs)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), applyUsage)
		printDefaults(fs)
	}
	if code, ok := parseFlags(e, fs, args, true); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "smtptls apply: unexpected argument %q (files are given with --cert, --key, --ca)\n", fs.Arg(0))
		return exitUsage
	}
	if *modeFlag == "" {
		fmt.Fprintln(e.stderr, "smtptls apply: --mode is required: disabled, available or required (see smtptls apply --help)")
		return exitUsage
	}
	mode, err := config.ParseMode(*modeFlag)
	if err != nil {
		fmt.Fprintf(e.stderr, "smtptls apply: %v\n", err)
		return exitUsage
	}
	dir, ok := configDir(e, "apply", *dirFlag)
	if !ok {
		return exitUsage
	}
	req := apply.Request{ConfigDir: dir, Mode: mode, Hostname: *hostname, Listen: *listen, ConfirmRequired: *yes, DryRun: *dryRun, Force: *force,
		CertFile: shellQuote(*certFile), KeyFile: shellQuote(*keyFile)}
	deliveryFlags.setOn(fs, &req)
	if req.Target, req.PostfixDir, err = applyTarget(*target, *postfixDir); err != nil {
		fmt.Fprintf(e.stderr, "smtptls apply: %v\n", err)
		return exitUsage
	}
	for _, f := range []struct {
		flag, path string
		dst        *[]byte
	}{{"--cert", *certFile, &req.Cert}, {"--key", *keyFile, &req.Key}, {"--ca", *caFile, &req.CA}} {
		if f.path == "" {
			continue
		}
		if *f.dst, err = readPEMFile(f.path); err != nil {
			fmt.Fprintf(e.stderr, "smtptls apply: %s: %v\n", f.flag, err)
			return exitUsage
		}
	}
	if *passFile != "" {
		if req.Passphrase, err = readPassphrase(*passFile, e.stdin); err != nil {
			fmt.Fprintf(e.stderr, "smtptls apply: --key-passphrase-file: %v\n", err)
			return exitUsage
		}
	}
	if mode == config.ModeRequired && !*yes && !*dryRun && !*asJSON && isTerminal(e.stdin) && *passFile != "-" {
		req.ConfirmRequired = applyConfirmRequired(e)
	}

	d := applyDeps(e, "smtptls apply "+strings.Join(args, " "))
	return runTransaction(e, "apply", dir, *asJSON, func(progress func(apply.Step)) apply.Result {
		return apply.Run(ctx, d, req, progress)
	})
}

// applyDeps are the real dependencies, with this process's host and clock.
func applyDeps(e *env, command string) apply.Deps {
	return apply.Deps{Host: e.host, Now: e.now, Exe: e.exe, Command: command}
}

// applyExit maps a result onto the exit statuses every command shares.
func applyExit(r apply.Result) int {
	switch {
	case r.Applied:
		return exitOK
	case r.EnvironmentError:
		return exitUsage
	case r.DryRun && r.FailedStep == "":
		return exitOK
	}
	return exitFail
}

// applyConfirmRequired asks on the terminal, the interactive form of --yes.
func applyConfirmRequired(e *env) bool {
	fmt.Fprintln(e.stderr, "Mode required refuses mail from every peer that cannot do STARTTLS. On a public MX that")
	fmt.Fprintln(e.stderr, "loses mail: most senders do TLS, but not all, and they will not retry in plaintext.")
	fmt.Fprint(e.stderr, `Type "yes" to require TLS: `)
	line, _ := bufio.NewReader(e.stdin).ReadString('\n')
	return strings.EqualFold(strings.TrimSpace(line), "yes")
}

// applyMark is the word shown before a finished step.
func applyMark(st apply.StepStatus, color bool) string {
	word, code := "skip", "2"
	switch st {
	case apply.StepOK:
		word, code = "ok  ", "32"
	case apply.StepFailed:
		word, code = "FAIL", "31"
	}
	if !color {
		return word
	}
	return "\x1b[" + code + "m" + word + "\x1b[0m"
}

// applyProgress prints each step as it finishes; on a terminal a running
// step shows until it ends, so a slow verify does not look like a hang.
func applyProgress(w io.Writer, color, tty bool) func(apply.Step) {
	return func(s apply.Step) {
		if s.Status == apply.StepRunning {
			if tty {
				fmt.Fprintf(w, "  ...  %-8s", s.Name)
			}
			return
		}
		if tty {
			fmt.Fprint(w, "\r\x1b[K")
		}
		fmt.Fprintf(w, "  %s %-8s %s\n", applyMark(s.Status, color), s.Name, s.Detail)
	}
}

// applyWriteResult prints what the steps did not: changes of a dry run,
// warnings, and the one sentence that sums it up.
func applyWriteResult(w io.Writer, r apply.Result, color bool) {
	if len(r.Changes) > 0 {
		fmt.Fprintln(w, "\nWould change:")
		for _, c := range r.Changes {
			fmt.Fprintf(w, "  %-22s %s -> %s\n", c.What, c.Old, c.New)
		}
	}
	if len(r.Warnings) > 0 {
		fmt.Fprintln(w, "\nWarnings:")
		for _, s := range r.Warnings {
			fmt.Fprintf(w, "  - %s\n", s)
		}
	}
	msg := r.Message
	if r.FailedStep != "" && !r.RolledBack && failedDetail(r) == msg {
		// The failed step above already says why; the last line says
		// what that means for the gateway instead of repeating it.
		msg = "Nothing changed: the installed configuration is as it was."
	}
	if color {
		switch {
		case r.Applied || (r.DryRun && r.FailedStep == ""):
			msg = "\x1b[32m" + msg + "\x1b[0m"
		case r.RolledBack:
			msg = "\x1b[33m" + msg + "\x1b[0m"
		default:
			msg = "\x1b[31m" + msg + "\x1b[0m"
		}
	}
	fmt.Fprintf(w, "\n%s\n", msg)
}

// failedDetail is what the failed step reported.
func failedDetail(r apply.Result) string {
	for _, s := range r.Steps {
		if s.Name == r.FailedStep && s.Status == apply.StepFailed {
			return s.Detail
		}
	}
	return ""
}
