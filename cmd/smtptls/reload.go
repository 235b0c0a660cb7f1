package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/smtptls/smtptls/config"
	"github.com/smtptls/smtptls/smtpd"
)

func cmdReload(ctx context.Context, e *env, args []string) int {
	fs := flag.NewFlagSet("reload", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	dirFlag := fs.String("config-dir", "", "config directory of the listener")
	asJSON := fs.Bool("json", false, "print the outcome as JSON")
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, "Usage: smtptls reload [--config-dir DIR] [--json]")
		fmt.Fprintln(e.stderr, "\nAsks the running listener to load the current configuration.")
		fmt.Fprintln(e.stderr, "Exit status: 0 new configuration live, 1 refused (the old one keeps serving), 2 no listener.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "smtptls reload: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	dir, err := config.ResolveDir(*dirFlag, e.host)
	if err != nil {
		fmt.Fprintf(e.stderr, "smtptls reload: %v\n", err)
		return exitUsage
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	res, err := smtpd.RequestReload(rctx, dir)
	if err != nil {
		if errors.Is(err, smtpd.ErrNotRunning) {
			if *asJSON {
				reloadJSON(e, map[string]any{"ok": false, "running": false, "message": err.Error()})
			}
			fmt.Fprintf(e.stderr, "smtptls reload: %v (%s); start one with: smtptls serve --detach --config-dir %s\n", err, dir, dir)
			return exitUsage
		}
		fmt.Fprintf(e.stderr, "smtptls reload: %v\n", err)
		return exitUsage
	}
	if *asJSON {
		reloadJSON(e, res)
	} else {
		w := e.stdout
		if !res.OK {
			w = e.stderr
		}
		fmt.Fprintln(w, res.Message)
		if res.OK && res.Fingerprint != "" {
			fmt.Fprintf(w, "certificate SHA-256 %s\n", res.Fingerprint)
		}
		for _, warn := range res.Warnings {
			fmt.Fprintf(w, "warning: %s\n", warn)
		}
	}
	if !res.OK {
		return exitFail
	}
	return exitOK
}

func reloadJSON(e *env, v any) {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
