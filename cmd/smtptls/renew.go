package main

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	iofs "io/fs"
	"strings"
	"time"

	"github.com/smtptls/smtptls/acme"
	"github.com/smtptls/smtptls/apply"
	"github.com/smtptls/smtptls/config"
	"github.com/smtptls/smtptls/internal/certpem"
)

const renewUsage = `Usage: smtptls renew [--config-dir DIR] [--force] [--json]

Renews the certificate that smtptls acme set up, with the same settings,
when it has 30 days or less left or when the CA's renewal information (ARI)
asks for it, and applies it like smtptls apply (validated, reloaded,
verified, rolled back on failure). The certificate key is kept, so a
published DANE TLSA record stays valid. Meant for a timer: see
smtptls-renew.timer.

Exit status: 0 renewed, or nothing was due; 1 the renewal failed (the
installed certificate keeps serving; smtptls status shows the error and the
next try); 2 usage or environment problem (no ACME set up here).

Flags:
`

// renewRetry is when a timer run comes again: the shipped timer runs twice
// a day.
const renewRetry = 12 * time.Hour

func cmdRenew(ctx context.Context, e *env, args []string) int {
	fs := flag.NewFlagSet("renew", flag.ContinueOnError)
	dirFlag := fs.String("config-dir", "", "config `DIR` (default: $"+config.EnvConfigDir+", /etc/smtptls as root, else ~/.config/smtptls)")
	force := fs.Bool("force", false, "renew now, due or not")
	asJSON := fs.Bool("json", false, "print one JSON object (the result)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), renewUsage)
		printDefaults(fs)
	}
	if code, ok := parseFlags(e, fs, args, false); !ok {
		return code
	}
	dir, ok := configDir(e, "renew", *dirFlag)
	if !ok {
		return exitUsage
	}
	s, err := acme.LoadSettings(dir)
	if errors.Is(err, iofs.ErrNotExist) {
		fmt.Fprintf(e.stderr, "smtptls renew: no ACME certificate is set up in %s: run smtptls acme first (smtptls acme --help)\n", dir)
		return exitUsage
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "smtptls renew: %v\n", err)
		return exitUsage
	}
	installed, lerr := config.Load(dir, e.host)
	if lerr != nil {
		// Renewing replaces what cannot be read; apply says so too.
		installed = config.Loaded{}
	}
	leaf := parseLeafPEM(installed.CertPEM)
	st, err := acme.LoadState(dir)
	if err != nil {
		st = acme.State{}
	}
	now := e.now()
	req := acme.Request{ConfigDir: dir, Settings: s, DNSResolver: e.host.Getenv(envDNSResolver)}

	o := newACMEOutput(e, "renew", *asJSON)
	due, reason := true, "forced with --force"
	if !*force {
		due, reason = acme.Due(leaf, now, &st, func() (time.Time, time.Time, time.Duration, error) {
			actx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			return acme.RenewalWindow(actx, req, leaf)
		})
	}
	o.res.Due, o.res.Reason = &due, reason
	st.LastCheck = now
	if !due {
		o.res.Message = reason
		if err := acme.SaveState(dir, st); err != nil {
			o.res.Warnings = append(o.res.Warnings, "could not record this check: "+err.Error())
		}
		if !o.json {
			fmt.Fprintf(e.stdout, "Nothing to do: %s\n", strings.TrimPrefix(reason, "not due: "))
		}
		return o.finish(exitOK)
	}
	if !o.json {
		fmt.Fprintf(e.stdout, "Renewing: %s\n", reason)
	}
	req.Key = reusableKey(installed.KeyPEM, &req.Settings, true)
	if req.Key == nil && len(installed.KeyPEM) > 0 {
		o.res.Warnings = append(o.res.Warnings, "the installed key is not of the stored key type ("+s.KeyType+"): a new key was made, so the DANE TLSA record changes")
	}
	code := o.install(ctx, e, req, apply.Request{ConfigDir: dir}, "smtptls renew", installed.KeyPEM)

	st.LastAttempt = now
	st.LastOK = o.res.Renewed
	st.LastError = ""
	if !o.res.Renewed {
		st.LastError = o.res.Message
		st.NextTry = now.Add(renewRetry)
		// Whatever stopped it (the CA, the challenge, the lock, the
		// listener), a timer sees one status: failed, old certificate on.
		code = exitFail
	} else {
		st.ARICert, st.ARIStart, st.ARIEnd, st.ARIRetry = "", time.Time{}, time.Time{}, time.Time{}
		if o.leaf != nil {
			st.NextTry = o.leaf.NotAfter.Add(-acme.RenewDays * 24 * time.Hour)
		}
	}
	if err := acme.SaveState(dir, st); err != nil {
		o.res.Warnings = append(o.res.Warnings, "could not record this attempt for smtptls status: "+err.Error())
	}
	if !o.res.Renewed && !o.json {
		fmt.Fprintf(e.stdout, "The renewal failed; the installed certificate keeps serving. Next try: %s (smtptls status shows this).\n", st.NextTry.UTC().Format("2006-01-02 15:04 UTC"))
	}
	return o.finish(code)
}

// parseLeafPEM is the leaf of certPEM, nil when there is none.
func parseLeafPEM(certPEM []byte) *x509.Certificate {
	c, _ := certpem.First(certPEM)
	return c
}

// acmeStatus is what status shows about ACME renewals.
type acmeStatus struct {
	Domains     []string  `json:"domains"`
	Server      string    `json:"server"`
	Challenge   string    `json:"challenge"`
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	LastOK      bool      `json:"last_ok"`
	LastError   string    `json:"last_error,omitempty"`
	LastCheck   time.Time `json:"last_check,omitzero"`
	NextTry     time.Time `json:"next_try,omitzero"`
	// TLSA is the DANE record of the installed key; NextTLSA that of the
	// key smtptls acme --new-key made, waiting to be published and used.
	TLSA     string `json:"tlsa,omitempty"`
	NextTLSA string `json:"next_tlsa,omitempty"`
}

// loadACMEStatus is nil when ACME is not set up in dir.
func loadACMEStatus(dir string, h config.Host) *acmeStatus {
	s, err := acme.LoadSettings(dir)
	if err != nil {
		return nil
	}
	st, _ := acme.LoadState(dir)
	a := &acmeStatus{Domains: s.Domains, Server: s.Server, Challenge: s.Challenge, LastAttempt: st.LastAttempt, LastOK: st.LastOK,
		LastError: st.LastError, LastCheck: st.LastCheck, NextTry: st.NextTry}
	if l, err := config.Load(dir, h); err == nil {
		if k, err := acme.ParseKey(l.KeyPEM); err == nil {
			a.TLSA = acme.TLSA(k.Public())
		}
	}
	if k, err := acme.LoadNextKey(dir); err == nil && k != nil {
		a.NextTLSA = acme.TLSA(k.Public())
	}
	return a
}

// attention is what status must flag: a renewal that failed.
func (a *acmeStatus) attention() string {
	if a == nil || a.LastAttempt.IsZero() || a.LastOK {
		return ""
	}
	return fmt.Sprintf("the last ACME renewal (%s) failed: %s; next try %s (smtptls renew, or smtptls renew --force now)",
		a.LastAttempt.UTC().Format("2006-01-02 15:04 UTC"), a.LastError, a.NextTry.UTC().Format("2006-01-02 15:04 UTC"))
}

func (a *acmeStatus) write(w io.Writer) {
	if a == nil {
		return
	}
	row := func(k, v string) { fmt.Fprintf(w, "%-13s %s\n", k, v) }
	row("acme", fmt.Sprintf("%s from %s by %s", strings.Join(a.Domains, ", "), a.Server, a.Challenge))
	switch {
	case a.LastAttempt.IsZero():
		row("last renewal", "none yet")
	case a.LastOK:
		row("last renewal", a.LastAttempt.UTC().Format("2006-01-02 15:04 UTC")+", succeeded")
	default:
		row("last renewal", a.LastAttempt.UTC().Format("2006-01-02 15:04 UTC")+", FAILED: "+a.LastError)
	}
	if !a.NextTry.IsZero() {
		row("next renewal", a.NextTry.UTC().Format("2006-01-02 15:04 UTC"))
	}
	if a.NextTLSA != "" {
		row("TLSA now", a.TLSA)
		row("TLSA next", a.NextTLSA+" (a new key is waiting: publish this record, then run smtptls acme --new-key again to switch)")
	}
}
