package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/mattn/go-isatty"

	"github.com/smtptls/smtptls/config"
	"github.com/smtptls/smtptls/validate"
)

// parseFlags parses a command's flags. The flag package prints the usage
// itself on --help, to the same writer as errors; collect it, and send it to
// stdout for --help (exit 0) and to stderr with an error (exit 2), once.
// When positional is false, any argument left over is a usage error.
func parseFlags(e *env, fs *flag.FlagSet, args []string, positional bool) (code int, ok bool) {
	var buf bytes.Buffer
	fs.SetOutput(&buf)
	err := fs.Parse(args)
	switch {
	case err == nil:
		fs.SetOutput(e.stderr)
	case errors.Is(err, flag.ErrHelp):
		e.stdout.Write(buf.Bytes())
		return exitOK, false
	default:
		e.stderr.Write(buf.Bytes())
		return exitUsage, false
	}
	if !positional && fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "smtptls %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return exitUsage, false
	}
	return 0, true
}

// configDir resolves --config-dir for command name, reporting a failure.
func configDir(e *env, name, flagValue string) (string, bool) {
	dir, err := config.ResolveDir(flagValue, e.host)
	if err != nil {
		fmt.Fprintf(e.stderr, "smtptls %s: %v\n", name, err)
		return "", false
	}
	return dir, true
}

// writeJSON prints v as the one JSON object a --json command outputs and
// returns code, or exitUsage when stdout cannot be written.
func writeJSON(e *env, name string, v any, code int) int {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(e.stderr, "smtptls %s: write output: %v\n", name, err)
		return exitUsage
	}
	return code
}

func isTerminal(v any) bool {
	f, ok := v.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// useColor reports whether w gets colors: only a terminal, never with
// NO_COLOR set (https://no-color.org) or on a dumb terminal.
func useColor(w io.Writer, getenv func(string) string) bool {
	if getenv == nil {
		getenv = os.Getenv
	}
	if getenv("NO_COLOR") != "" || getenv("TERM") == "dumb" {
		return false
	}
	return isTerminal(w)
}

// readPEMFile reads a paste field from a file. It reads one byte past the
// engine's limit, so an oversized file (a log, a disk image given by
// mistake) is reported by the engine (field_too_large) without ever being
// read whole.
func readPEMFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return nil, fmt.Errorf("%s is a directory, not a file", name)
	}
	b, err := io.ReadAll(io.LimitReader(f, validate.MaxFieldBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return b, nil
}

// readPassphrase takes the first line of the file (or standard input for
// "-"): echo and editors add a newline that is not part of the phrase.
func readPassphrase(name string, stdin io.Reader) ([]byte, error) {
	r := stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("read pass phrase: %w", err)
	}
	s := string(b)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	if s == "" {
		return nil, errors.New("the pass phrase file is empty")
	}
	return []byte(s), nil
}

// shellQuote quotes a path for a shell command line only when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./+,:@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// printDefaults lists fs's flags as flag.PrintDefaults does, but spelled
// --flag, the way the usage line and every message spell them.
func printDefaults(fs *flag.FlagSet) {
	w := fs.Output()
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if name != "" {
			line += " " + name
		}
		if len(line) <= 6 {
			line += "\t"
		} else {
			line += "\n    \t"
		}
		line += strings.ReplaceAll(usage, "\n", "\n    \t")
		if d := f.DefValue; d != "" && d != "false" && d != "0" {
			line += fmt.Sprintf(" (default %q)", d)
		}
		fmt.Fprintln(w, line)
	})
}
