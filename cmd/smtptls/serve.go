package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/smtptls/smtptls/config"
	"github.com/smtptls/smtptls/smtpd"
)

func cmdServe(ctx context.Context, e *env, args []string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	dirFlag := fs.String("config-dir", "", "config directory (default: $"+config.EnvConfigDir+", /etc/smtptls as root, else ~/.config/smtptls)")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	detach := fs.Bool("detach", false, "run in the background (pid and log file in the config directory) and return once it answers")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: smtptls serve [--config-dir DIR] [--log-format text|json] [--detach]")
		fmt.Fprintln(fs.Output(), "\nRuns the bundled SMTP listener in the foreground, logging to stderr. SIGHUP or")
		fmt.Fprintln(fs.Output(), "`smtptls reload` reloads the configuration; SIGTERM drains and exits.")
		printDefaults(fs)
	}
	if code, ok := parseFlags(e, fs, args, false); !ok {
		return code
	}
	log, err := serveLogger(e.stderr, *logFormat)
	if err != nil {
		fmt.Fprintf(e.stderr, "smtptls serve: %v\n", err)
		return exitUsage
	}
	dir, ok := configDir(e, "serve", *dirFlag)
	if !ok {
		return exitUsage
	}
	if *detach {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		pid, err := smtpd.StartDetachedArgs(sctx, e.exe, dir, "--log-format", *logFormat)
		if err != nil {
			fmt.Fprintf(e.stderr, "smtptls serve: %v\n", err)
			return exitUsage
		}
		st, _ := smtpd.QueryState(sctx, dir)
		fmt.Fprintf(e.stdout, "listener started (pid %d) on %s in mode %s; log: %s/%s\n", pid, st.Listen, st.Mode, dir, config.LogFile)
		return exitOK
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	err = smtpd.Run(ctx, dir, smtpd.RunOptions{
		Options: smtpd.Options{Logger: log},
		Host:    e.host,
		Reload:  hup,
	})
	if err != nil {
		log.Error("listener failed", "err", err.Error())
		fmt.Fprintf(e.stderr, "smtptls serve: %v\n", err)
		return exitUsage
	}
	return exitOK
}

func serveLogger(w io.Writer, format string) (*slog.Logger, error) {
	switch format {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, nil)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, nil)), nil
	}
	return nil, fmt.Errorf("--log-format %q: use text or json", format)
}
