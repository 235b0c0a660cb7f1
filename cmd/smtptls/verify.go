package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"

	"github.com/smtptls/smtptls/probe"
)

const verifyUsage = `Usage: smtptls verify [flags] TARGET

Tests a receiving SMTP server's STARTTLS the way online receiver tests do:
resolve, connect, banner, EHLO, STARTTLS, handshake, the chain as served,
trust, host name, expiry, MAIL over TLS, and whether plaintext MAIL is
refused. No message is sent.

TARGET is host:port, a host (port 25, or --port) or a mail domain, in which
case every MX is tested in preference order (a name without MX records is
tested itself; give a port, as in mail.example.org:25, to skip the MX lookup).

Exit status: 0 nothing failed, 1 a stage failed, 2 usage error.

Flags:
`

func cmdVerify(ctx context.Context, e *env, args []string) int {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	var (
		o       probe.Options
		jsonOut bool
	)
	fs.StringVar(&o.CAFile, "ca", "", "PEM `FILE` of extra trusted CA certificates (a private root, or the CA bundle you installed)")
	fs.StringVar(&o.Hostname, "hostname", "", "`NAME` the certificate must match (default: the host or each MX name)")
	fs.DurationVar(&o.Timeout, "timeout", probe.DefaultTimeout, "longest wait for each step (connect, each reply, the handshake)")
	fs.BoolVar(&jsonOut, "json", false, "print the report as one JSON object")
	fs.StringVar(&o.ExpectFingerprint, "expect-fingerprint", "", "SHA-256 `HEX` the served certificate must have (colons allowed)")
	fs.BoolVar(&o.ExpectRequired, "required", false, "fail unless plaintext MAIL is refused with 530 (TLS required mode)")
	fs.StringVar(&o.HELO, "helo", "", "`NAME` to send in EHLO (default localhost)")
	fs.IntVar(&o.Port, "port", probe.DefaultPort, "port for MX hosts and for a TARGET without one")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), verifyUsage)
		printDefaults(fs)
	}
	targets, err := verifyParseArgs(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage // flag has printed the problem and the usage
	}
	if msg := verifyCheckOptions(&o, targets); msg != "" {
		fmt.Fprintf(e.stderr, "smtptls verify: %s\nRun 'smtptls verify --help' for usage.\n", msg)
		return exitUsage
	}

	r := probe.Run(ctx, o)
	if jsonOut {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(r)
	} else {
		err = probe.WriteText(e.stdout, r, useColor(e.stdout, e.host.Getenv))
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "smtptls verify: write report: %v\n", err)
		return exitUsage
	}
	if r.Failed() {
		return exitFail
	}
	return exitOK
}

// verifyParseArgs lets flags come after the target too (smtptls verify
// example.org --json), which the flag package alone stops at.
func verifyParseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// verifyCheckOptions refuses what could only fail later with a vaguer
// message, and fills in the target. It returns the problem, or "".
func verifyCheckOptions(o *probe.Options, targets []string) string {
	switch len(targets) {
	case 0:
		return "give a TARGET: host:port, a host or a mail domain (e.g. smtptls verify mail.example.org:25)"
	case 1:
	default:
		return fmt.Sprintf("give one TARGET, got %d: %q", len(targets), targets)
	}
	o.Target = targets[0]
	if o.Port < 1 || o.Port > 65535 {
		return fmt.Sprintf("--port %d: give a port from 1 to 65535", o.Port)
	}
	if _, _, _, err := probe.ParseTarget(o.Target, o.Port); err != nil {
		return err.Error()
	}
	if o.HELO != "" && !probe.ValidHELO(o.HELO) {
		return fmt.Sprintf("--helo %q: give one host name, without spaces or control characters", o.HELO)
	}
	if o.Timeout <= 0 {
		return fmt.Sprintf("--timeout %s: give a positive duration such as 10s", o.Timeout)
	}
	if o.CAFile != "" {
		if _, _, err := probe.LoadCAFile(o.CAFile); err != nil {
			return fmt.Sprintf("--ca: %v", err)
		}
	}
	if o.ExpectFingerprint != "" {
		fp := probe.NormalizeFingerprint(o.ExpectFingerprint)
		if b, err := hex.DecodeString(fp); err != nil || len(b) != 32 {
			return fmt.Sprintf("--expect-fingerprint %q: give a SHA-256 as 64 hex digits (colons allowed), e.g. from openssl x509 -noout -fingerprint -sha256", o.ExpectFingerprint)
		}
	}
	return ""
}
