package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/smtptls/smtptls/apply"
	"github.com/smtptls/smtptls/config"
)

const setUsage = `Usage: smtptls set [--config-dir DIR] [--dry-run] [--json] KEY=VALUE...

Changes settings the way apply changes a certificate: the new settings are
checked (types, no timeout under 1s, no limit under 1, a host name that is a
DNS name), a new generation is written with the installed certificate
material, the listener reloads it and a receiver test verifies it; if
anything fails, the previous generation is switched back. This is the way
to change a setting: the config.toml in a generation is a record of what was
applied, and an edit to it is refused.

    smtptls set listen=127.0.0.1:2526 limits.max_connections_per_ip=50
    smtptls set --dry-run limits.command_timeout=2m

A list is written comma separated (accept_domains=a.example,b.example). Mode
required is switched on with ` + "`smtptls apply --mode required --yes`" + `, not here.

Exit status: 0 applied and verified (or a dry run that passes the checks),
1 refused, invalid or rolled back, 2 usage or environment problem.

Keys:
`

func cmdSet(ctx context.Context, e *env, args []string) int {
	fs := flag.NewFlagSet("set", flag.ContinueOnError)
	dirFlag := fs.String("config-dir", "", "config `DIR` (default: $"+config.EnvConfigDir+", /etc/smtptls as root, else ~/.config/smtptls)")
	dryRun := fs.Bool("dry-run", false, "check and show what would change; write nothing")
	asJSON := fs.Bool("json", false, "print one JSON object (the result) at the end instead of the steps")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), setUsage)
		for _, k := range config.SettingKeys() {
			fmt.Fprintf(fs.Output(), "  %s\n", k)
		}
		fmt.Fprintln(fs.Output(), "\nFlags:")
		printDefaults(fs)
	}
	if code, ok := parseFlags(e, fs, args, true); !ok {
		return code
	}
	if fs.NArg() == 0 {
		fmt.Fprintf(e.stderr, "smtptls set: nothing to set: give KEY=VALUE, one or more (known keys: %s)\n", strings.Join(config.SettingKeys(), ", "))
		return exitUsage
	}
	var set []apply.Assignment
	for _, a := range fs.Args() {
		k, v, ok := strings.Cut(a, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			fmt.Fprintf(e.stderr, "smtptls set: %q is not KEY=VALUE (like listen=127.0.0.1:2526)\n", a)
			return exitUsage
		}
		set = append(set, apply.Assignment{Key: k, Value: v})
	}
	dir, ok := configDir(e, "set", *dirFlag)
	if !ok {
		return exitUsage
	}
	req := apply.Request{ConfigDir: dir, Set: set, DryRun: *dryRun}
	d := applyDeps(e, "smtptls set "+strings.Join(args, " "))
	return runTransaction(e, "set", dir, *asJSON, func(progress func(apply.Step)) apply.Result {
		return apply.Run(ctx, d, req, progress)
	})
}
