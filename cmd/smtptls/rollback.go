package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/smtptls/smtptls/apply"
	"github.com/smtptls/smtptls/config"
)

const rollbackUsage = `Usage: smtptls rollback [--config-dir DIR] [--to GENERATION] [--json]

Switches back to an earlier configuration generation (by default the one
before the live one), reloads the listener and verifies it, exactly like
apply: if the old generation does not verify, the live one is restored.
` + "`smtptls status`" + ` lists the generations on disk.

Exit status: 0 switched and verified, 1 refused or rolled back again,
2 usage or environment problem (another apply holds the lock).

Flags:
`

func cmdRollback(ctx context.Context, e *env, args []string) int {
	fs := flag.NewFlagSet("rollback", flag.ContinueOnError)
	dirFlag := fs.String("config-dir", "", "config `DIR` (default: $"+config.EnvConfigDir+", /etc/smtptls as root, else ~/.config/smtptls)")
	to := fs.String("to", "", "the `GENERATION` to return to (default: the one before the live one)")
	asJSON := fs.Bool("json", false, "print one JSON object (the result) at the end instead of the steps")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), rollbackUsage)
		fs.PrintDefaults()
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
	color := useColor(e.stdout, e.host.Getenv)
	var progress func(apply.Step)
	if !*asJSON {
		progress = applyProgress(e.stdout, color, isTerminal(e.stdout))
	}
	res := apply.Rollback(ctx, applyDeps(e, "smtptls rollback "+strings.Join(args, " ")), dir, *to, progress)
	if *asJSON {
		return writeJSON(e, "rollback", res, applyExit(res))
	}
	if len(res.Steps) == 0 {
		// Stopped before any step (lock held, directory unusable): an
		// environment error, said the way every command says one.
		fmt.Fprintf(e.stderr, "smtptls rollback: %s\n", res.Message)
		return applyExit(res)
	}
	applyWriteResult(e.stdout, res, color)
	return applyExit(res)
}
