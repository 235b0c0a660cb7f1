package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/smtptls/smtptls/smtpd"
)

func cmdReload(ctx context.Context, e *env, args []string) int {
	fs := flag.NewFlagSet("reload", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	dirFlag := fs.String("config-dir", "", "config directory of the listener")
	asJSON := fs.Bool("json", false, "print the outcome as JSON")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: smtptls reload [--config-dir DIR] [--json]")
		fmt.Fprintln(fs.Output(), "\nAsks the running listener to load the current configuration.")
		fmt.Fprintln(fs.Output(), "Exit status: 0 new configuration live, 1 refused (the old one keeps serving), 2 no listener.")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(e, fs, args, false); !ok {
		return code
	}
	dir, ok := configDir(e, "reload", *dirFlag)
	if !ok {
		return exitUsage
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	res, err := smtpd.RequestReload(rctx, dir)
	if err != nil {
		if errors.Is(err, smtpd.ErrNotRunning) {
			if *asJSON {
				writeJSON(e, "reload", map[string]any{"ok": false, "running": false, "message": err.Error()}, exitUsage)
			}
			fmt.Fprintf(e.stderr, "smtptls reload: %v (%s); start one with: smtptls serve --detach --config-dir %s\n", err, dir, dir)
			return exitUsage
		}
		fmt.Fprintf(e.stderr, "smtptls reload: %v\n", err)
		return exitUsage
	}
	if *asJSON {
		writeJSON(e, "reload", res, exitOK)
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
