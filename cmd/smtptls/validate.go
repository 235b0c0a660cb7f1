package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/mattn/go-isatty"

	"github.com/smtptls/smtptls/validate"
)

const validateUsage = `Usage: smtptls validate --cert FILE --key FILE --ca FILE [--hostname NAME] [--key-passphrase-file FILE] [--json]

Checks a server certificate, its private key and the CA bundle (intermediate
and root certificates) the way the wizard does, and explains every problem
with what to do next. Nothing is written.

--ca may be left out: that is checked as an empty bundle, and the chain
findings then say which intermediate is missing, if any.

Exit status: 0 no errors (warnings allowed), 1 at least one error,
2 usage problem (unknown flag, missing or unreadable file).

Flags:
`

// validateJSON is the --json document: exactly one object.
type validateJSON struct {
	OK          bool               `json:"ok"`
	Diagnostics []validateJSONDiag `json:"diagnostics"`
	Summary     *validate.Summary  `json:"summary"`
}

// validateJSONDiag always carries "line" (0 when no line applies), so
// scripts can rely on every key being present.
type validateJSONDiag struct {
	Severity validate.Severity `json:"severity"`
	Field    validate.Field    `json:"field"`
	Code     string            `json:"code"`
	Message  string            `json:"message"`
	Hint     string            `json:"hint"`
	Line     int               `json:"line"`
}

func cmdValidate(ctx context.Context, e *env, args []string) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	certFile := fs.String("cert", "", "server certificate `FILE` (PEM); a full chain is accepted and split")
	keyFile := fs.String("key", "", "private key `FILE` (PEM: PKCS#8, PKCS#1 or SEC1; encrypted needs --key-passphrase-file)")
	caFile := fs.String("ca", "", "CA bundle `FILE`: intermediate (and optionally root) certificates, any order")
	hostname := fs.String("hostname", "", "the gateway's host `NAME` (its MX name), checked against the certificate's names")
	passFile := fs.String("key-passphrase-file", "", "`FILE` holding the key's pass phrase (first line; - reads standard input)")
	asJSON := fs.Bool("json", false, "print one JSON object instead of the report")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), validateUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(e.stdout)
			fs.Usage()
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "smtptls validate: unexpected argument %q (files are given with --cert, --key, --ca)\n", fs.Arg(0))
		return exitUsage
	}
	if *certFile == "" || *keyFile == "" {
		fmt.Fprintln(e.stderr, "smtptls validate: --cert FILE and --key FILE are required (see smtptls validate --help)")
		return exitUsage
	}
	in := validate.Input{Hostname: *hostname, Now: e.now(), LoadRoots: validate.SystemRoots}
	var err error
	if in.Certificate, err = validateReadField(*certFile); err != nil {
		return validateFileError(e, "--cert", err)
	}
	if in.Key, err = validateReadField(*keyFile); err != nil {
		return validateFileError(e, "--key", err)
	}
	if *caFile != "" {
		if in.CABundle, err = validateReadField(*caFile); err != nil {
			return validateFileError(e, "--ca", err)
		}
	}
	if *passFile != "" {
		if in.Passphrase, err = validateReadPassphrase(*passFile, e.stdin); err != nil {
			return validateFileError(e, "--key-passphrase-file", err)
		}
	}

	r := validate.Check(in)
	// Hints name the admin's own files instead of placeholders, so the
	// openssl commands they suggest can be pasted as they are.
	files := strings.NewReplacer("KEYFILE", validateShellQuote(*keyFile), "CERTFILE", validateShellQuote(*certFile))
	for i := range r.Diagnostics {
		r.Diagnostics[i].Hint = files.Replace(r.Diagnostics[i].Hint)
	}
	if *asJSON {
		doc := validateJSON{OK: r.OK(), Diagnostics: []validateJSONDiag{}, Summary: r.Summary}
		for _, d := range r.Diagnostics {
			doc.Diagnostics = append(doc.Diagnostics, validateJSONDiag(d))
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(doc); err != nil {
			fmt.Fprintf(e.stderr, "smtptls validate: write output: %v\n", err)
			return exitUsage
		}
	} else if err := validate.WriteText(e.stdout, r, validateUseColor(e.stdout, e.host.Getenv)); err != nil {
		fmt.Fprintf(e.stderr, "smtptls validate: write output: %v\n", err)
		return exitUsage
	}
	if !r.OK() {
		return exitFail
	}
	return exitOK
}

func validateFileError(e *env, flagName string, err error) int {
	fmt.Fprintf(e.stderr, "smtptls validate: %s: %v\n", flagName, err)
	return exitUsage
}

// validateReadField reads a paste field from a file. It reads one byte past the
// engine's limit so an oversized file is reported by the engine
// (field_too_large) without ever being read whole.
func validateReadField(name string) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return "", fmt.Errorf("%s is a directory, not a file", name)
	}
	b, err := io.ReadAll(io.LimitReader(f, validate.MaxFieldBytes+1))
	if err != nil {
		return "", fmt.Errorf("read %s: %w", name, err)
	}
	return string(b), nil
}

// validateReadPassphrase takes the first line of the file (or standard input for
// "-"): echo and editors add a newline that is not part of the phrase.
func validateReadPassphrase(name string, stdin io.Reader) ([]byte, error) {
	var r io.Reader = stdin
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

// validateUseColor reports whether w gets colors: only a terminal, never
// with NO_COLOR set (https://no-color.org) or on a dumb terminal.
func validateUseColor(w io.Writer, getenv func(string) string) bool {
	if getenv == nil {
		getenv = os.Getenv
	}
	if getenv("NO_COLOR") != "" || getenv("TERM") == "dumb" {
		return false
	}
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// validateShellQuote quotes a path for a shell command line only when it
// needs it.
func validateShellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./+,:@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
