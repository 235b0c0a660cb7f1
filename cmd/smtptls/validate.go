package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"

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
		printDefaults(fs)
	}
	if code, ok := parseFlags(e, fs, args, true); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "smtptls validate: unexpected argument %q (files are given with --cert, --key, --ca)\n", fs.Arg(0))
		return exitUsage
	}
	if *certFile == "" || *keyFile == "" {
		fmt.Fprintln(e.stderr, "smtptls validate: --cert FILE and --key FILE are required (see smtptls validate --help)")
		return exitUsage
	}
	in := validate.Input{Hostname: *hostname, Now: e.now(), LoadRoots: validate.SystemRoots,
		CertFile: shellQuote(*certFile), KeyFile: shellQuote(*keyFile)}
	for _, f := range []struct {
		flag, path string
		dst        *string
	}{{"--cert", *certFile, &in.Certificate}, {"--key", *keyFile, &in.Key}, {"--ca", *caFile, &in.CABundle}} {
		if f.path == "" {
			continue // only --ca may be empty: an empty bundle, and the chain findings say what is missing
		}
		b, err := readPEMFile(f.path)
		if err != nil {
			return validateFileError(e, f.flag, err)
		}
		*f.dst = string(b)
	}
	var err error
	if *passFile != "" {
		if in.Passphrase, err = readPassphrase(*passFile, e.stdin); err != nil {
			return validateFileError(e, "--key-passphrase-file", err)
		}
	}

	r := validate.Check(in)
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
	} else if err := validate.WriteText(e.stdout, r, useColor(e.stdout, e.host.Getenv)); err != nil {
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
