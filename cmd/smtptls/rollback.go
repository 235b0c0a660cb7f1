package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/smtptls/smtptls/apply"
	"github.com/smtptls/smtptls/config"
)

const rollbackUsage = `Usage: smtptls rollback [--config-dir DIR] [--to GENERATION] [--dry-run] [--force] [--json]

Switches back to an earlier configuration generation (by default the newest
one before the live one that did not fail), reloads the listener and
verifies it, exactly like apply: if the old generation does not verify, the
live one is restored. It passes the same checks as apply first: a generation
whose certificate has expired since, or that was edited on disk after it was
applied, is refused. ` + "`smtptls status`" + ` lists the generations on disk.

Exit status: 0 switched and verified (or a dry run that passes the checks),
1 refused or rolled back again, 2 usage or environment problem (another
apply holds the lock).

Flags:
`

func cmdRollback(ctx context.Context, e *env, args []string) int {
	fs := flag.NewFlagSet("rollback", flag.ContinueOnError)
	dirFlag := fs.String("config-dir", "", "config `DIR` (default: $"+config.EnvConfigDir+", /etc/smtptls as root, else ~/.config/smtptls)")
	to := fs.String("to", "", "the `GENERATION` to return to (default: the one before the live one)")
	dryRun := fs.Bool("dry-run", false, "check the generation and show what would change; switch nothing")
	force := fs.Bool("force", false, "EMERGENCY ONLY: switch even to a generation that fails the checks (expired, edited); reported loudly")
	asJSON := fs.Bool("json", false, "print one JSON object (the result) at the end instead of the steps")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), rollbackUsage)
		printDefaults(fs)
	}
	if code, ok := parseFlags(e, fs, args, true); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "smtptls rollback: unexpected argument %q (name the generation with --to)\n", fs.Arg(0))
		return exitUsage
	}
	dir, ok := configDir(e, "rollback", *dirFlag)
	if !ok {
		return exitUsage
	}
	d := applyDeps(e, "smtptls rollback "+strings.Join(args, " "))
	req := apply.RollbackRequest{ConfigDir: dir, To: *to, Force: *force, DryRun: *dryRun}
	return runTransaction(e, "rollback", dir, *asJSON, func(progress func(apply.Step)) apply.Result {
		return apply.RollbackWith(ctx, d, req, progress)
	})
}
