package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/smtptls/smtptls/smtpd"
)

func cmdStop(ctx context.Context, e *env, args []string) int {
	fs := flag.NewFlagSet("stop", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	dirFlag := fs.String("config-dir", "", "config `DIR` of the listener")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: smtptls stop [--config-dir DIR]")
		fmt.Fprintln(fs.Output(), "\nStops the running listener after it drains (also one whose control socket was")
		fmt.Fprintln(fs.Output(), "deleted: it is found by its pid file). Exit status 0 stopped, 1 it did not stop")
		fmt.Fprintln(fs.Output(), "in time, 2 none runs.")
		printDefaults(fs)
	}
	if code, ok := parseFlags(e, fs, args, false); !ok {
		return code
	}
	dir, ok := configDir(e, "stop", *dirFlag)
	if !ok {
		return exitUsage
	}
	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := smtpd.StopDetached(sctx, dir); err != nil {
		if errors.Is(err, smtpd.ErrNotRunning) {
			fmt.Fprintf(e.stderr, "smtptls stop: %v (%s)\n", err, dir)
			return exitUsage
		}
		fmt.Fprintf(e.stderr, "smtptls stop: %v\n", err)
		return exitFail
	}
	fmt.Fprintln(e.stdout, "listener stopped")
	return exitOK
}
