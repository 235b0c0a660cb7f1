// Command smtptls switches on SMTP TLS for a mail gateway: a wizard, the
// validation engine, the bundled listener, and apply/verify for scripts.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
	"time"

	"github.com/smtptls/smtptls/config"
)

// Exit statuses shared by every command.
const (
	exitOK    = 0 // success
	exitFail  = 1 // validation or check failure, refused, rolled back
	exitUsage = 2 // usage or environment error
)

// env is everything a command may touch of the outside world, so tests can
// run commands in-process with their own streams, clock and host.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	host           config.Host
	now            func() time.Time
	// exe is the path of this binary, for starting the listener detached.
	exe string
}

type command struct {
	summary string
	run     func(ctx context.Context, e *env, args []string) int
}

func commands() map[string]command {
	return map[string]command{
		"setup":    {"open the wizard (the default when no command is given)", cmdSetup},
		"validate": {"check a certificate, key and CA bundle and explain every problem", cmdValidate},
		"apply":    {"write a new configuration, reload the listener and verify it, or roll back", cmdApply},
		"verify":   {"test a receiving SMTP server's STARTTLS like an online receiver test", cmdVerify},
		"status":   {"show the installed configuration and whether the listener serves it", cmdStatus},
		"rollback": {"switch back to an earlier configuration generation", cmdRollback},
		"serve":    {"run the bundled SMTP listener", cmdServe},
		"reload":   {"ask the running listener to load the current configuration", cmdReload},
		"stop":     {"stop a listener started with serve --detach", cmdStop},
		"set":      {"change settings (listen, limits, ...) through the apply transaction", cmdSet},
		"acme":     {"get a certificate from an ACME CA (Let's Encrypt) and apply it", cmdACME},
		"renew":    {"renew the ACME certificate when it is due, and apply it", cmdRenew},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	e := &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, host: config.ThisHost(), now: time.Now, exe: exe}
	os.Exit(run(ctx, e, os.Args[1:]))
}

func run(ctx context.Context, e *env, args []string) int {
	cmds := commands()
	if len(args) == 0 {
		return cmdSetup(ctx, e, nil)
	}
	name := args[0]
	switch name {
	case "-h", "--help", "help":
		usage(e.stdout, cmds)
		return exitOK
	}
	if len(name) > 0 && name[0] == '-' {
		// Flags without a command belong to the wizard: smtptls --config-dir X.
		return cmdSetup(ctx, e, args)
	}
	c, ok := cmds[name]
	if !ok {
		fmt.Fprintf(e.stderr, "smtptls: unknown command %q\n\n", name)
		usage(e.stderr, cmds)
		return exitUsage
	}
	return c.run(ctx, e, args[1:])
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "Usage: smtptls [command] [flags]")
	fmt.Fprintln(w, "\nWith no command, smtptls opens the setup wizard.\n\nCommands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'smtptls COMMAND --help' for a command's flags.")
}
