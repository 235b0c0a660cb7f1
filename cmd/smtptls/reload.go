package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/smtptls/smtptls/apply"
)

const reloadUsage = `Usage: smtptls reload [--config-dir DIR] [--force] [--json]

Asks the running listener to load the current configuration, after the same
checks as apply: a generation whose certificate is expired, not yet valid or
does not match its key, whose chain is broken, whose settings are invalid, or
that was edited on disk after it was applied is refused, and the listener
keeps serving what it serves.

Exit status: 0 new configuration live, 1 refused (the old one keeps serving),
2 no listener or another environment problem.

Flags:
`

func cmdReload(ctx context.Context, e *env, args []string) int {
	fs := flag.NewFlagSet("reload", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	dirFlag := fs.String("config-dir", "", "config `DIR` of the listener")
	force := fs.Bool("force", false, "EMERGENCY ONLY: load the installed generation even though it fails the checks (it is reported loudly)")
	asJSON := fs.Bool("json", false, "print the outcome as JSON")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), reloadUsage)
		printDefaults(fs)
	}
	if code, ok := parseFlags(e, fs, args, false); !ok {
		return code
	}
	dir, ok := configDir(e, "reload", *dirFlag)
	if !ok {
		return exitUsage
	}
	res := apply.Reload(ctx, applyDeps(e, "smtptls reload"), dir, *force)
	code := exitOK
	switch {
	case !res.Running || res.EnvironmentError:
		code = exitUsage
	case !res.OK:
		code = exitFail
	}
	if *asJSON {
		return writeJSON(e, "reload", res, code)
	}
	if !res.Running {
		fmt.Fprintf(e.stderr, "smtptls reload: %s (%s); start one with: smtptls serve --detach --config-dir %s\n", res.Message, dir, dir)
		return code
	}
	w := e.stdout
	if !res.OK {
		w = e.stderr
	}
	for _, warn := range res.Warnings {
		if res.Forced {
			fmt.Fprintf(e.stderr, "warning: %s\n", warn)
		} else {
			fmt.Fprintf(w, "warning: %s\n", warn)
		}
	}
	fmt.Fprintln(w, res.Message)
	if res.OK && res.Fingerprint != "" {
		fmt.Fprintf(w, "certificate SHA-256 %s\n", res.Fingerprint)
	}
	return code
}
