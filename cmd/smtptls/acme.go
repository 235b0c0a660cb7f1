package main

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/smtptls/smtptls/acme"
	"github.com/smtptls/smtptls/apply"
	"github.com/smtptls/smtptls/config"
)

const acmeUsage = `Usage: smtptls acme [--config-dir DIR] --email ADDR --domain NAME [--domain NAME...]
                    [--server URL] [--challenge http-01|tls-alpn-01|dns-01]
                    [--http-addr ADDR] [--tls-alpn-addr ADDR] [--dns-hook PROGRAM]
                    [--server-ca FILE] [--key-type ec256|rsa2048] [--new-key]
                    [--eab-kid ID --eab-hmac-file FILE] [--mode available|required]
                    [--hostname NAME] [--listen ADDR] [--target bundled|postfix]
                    [--postfix-dir DIR] [--yes] [--json]

Gets a certificate from an ACME CA (Let's Encrypt by default) and applies it
like smtptls apply: validated, written as a new generation, the listener
reloaded and verified, rolled back if anything fails. The settings are stored
in the config directory so that smtptls renew repeats them.

ACME cannot validate over port 25, so the CA needs one of:
  http-01      port 80 of every --domain reaches --http-addr here (default :80)
  tls-alpn-01  port 443 of every --domain reaches --tls-alpn-addr (default :443)
  dns-01       --dns-hook PROGRAM publishes a TXT record: it is run as
               PROGRAM present FQDN VALUE, then PROGRAM cleanup FQDN VALUE
The responder is bound only while the CA validates.

--target postfix installs it in the Postfix running here, as smtptls apply
--target postfix does.

The certificate key is kept across renewals, so a published DANE TLSA 3 1 1
record stays valid. --new-key makes a new key and first only shows the
current and the next TLSA record: publish the next one, wait for its TTL,
then run the command again to switch (--yes switches at once).

Exit status: 0 certificate live and verified, 1 the order or the apply failed
(the installed configuration keeps serving), 2 usage or environment problem.

Flags:
`

// envDNSResolver names the resolver asked whether a dns-01 record has
// propagated (host:port), instead of the system's and the zone's servers:
// for split-horizon DNS, and for tests against a fake DNS.
const envDNSResolver = "SMTPTLS_DNS_RESOLVER"

// stringList is a flag that may be given more than once.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func cmdACME(ctx context.Context, e *env, args []string) int {
	fs := flag.NewFlagSet("acme", flag.ContinueOnError)
	dirFlag := fs.String("config-dir", "", "config `DIR` (default: $"+config.EnvConfigDir+", /etc/smtptls as root, else ~/.config/smtptls)")
	var s acme.Settings
	var domains stringList
	fs.StringVar(&s.Email, "email", "", "contact `ADDR`ess for the CA (expiry notices)")
	fs.Var(&domains, "domain", "host `NAME` the certificate is for (repeat for more names)")
	fs.StringVar(&s.Server, "server", acme.LetsEncrypt, "ACME directory `URL`")
	fs.StringVar(&s.Challenge, "challenge", acme.HTTP01, "how the CA validates: http-01, tls-alpn-01 or dns-01")
	fs.StringVar(&s.HTTPAddr, "http-addr", ":80", "`ADDR` the http-01 responder binds while validating")
	fs.StringVar(&s.TLSALPNAddr, "tls-alpn-addr", ":443", "`ADDR` the tls-alpn-01 responder binds while validating")
	fs.StringVar(&s.DNSHook, "dns-hook", "", "`PROGRAM` run as PROGRAM present|cleanup FQDN VALUE for dns-01")
	fs.StringVar(&s.ServerCA, "server-ca", "", "PEM `FILE`: trust an ACME server whose HTTPS certificate chains to it (private CA)")
	fs.StringVar(&s.KeyType, "key-type", acme.KeyEC256, "certificate key type: ec256 or rsa2048")
	eabKID := fs.String("eab-kid", "", "external account binding key `ID` (for CAs that require it)")
	eabFile := fs.String("eab-hmac-file", "", "`FILE` holding the external account binding HMAC key (base64url)")
	newKey := fs.Bool("new-key", false, "make a new certificate key instead of keeping the installed one (changes the DANE TLSA record)")
	modeFlag := fs.String("mode", "", "TLS `MODE`: available or required (default: the installed one, else available)")
	hostname := fs.String("hostname", "", "the gateway's host `NAME` (default: the installed one when the certificate covers it, else the first --domain)")
	listen := fs.String("listen", "", "listen `ADDR`ess, like 0.0.0.0:25 (default: the installed one)")
	target, postfixDir := applyTargetFlags(fs)
	yes := fs.Bool("yes", false, "confirm mode required; with --new-key, switch to the new key at once instead of first showing its TLSA record")
	asJSON := fs.Bool("json", false, "print one JSON object (the result) at the end instead of the steps")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), acmeUsage)
		printDefaults(fs)
	}
	if code, ok := parseFlags(e, fs, args, false); !ok {
		return code
	}
	s.Domains = domains
	s = s.WithDefaults()
	if err := s.Check(); err != nil {
		fmt.Fprintf(e.stderr, "smtptls acme: %v\n", err)
		return exitUsage
	}
	if (*eabKID == "") != (*eabFile == "") {
		fmt.Fprintln(e.stderr, "smtptls acme: --eab-kid and --eab-hmac-file go together: give both (from your account at the CA), or neither")
		return exitUsage
	}
	// renew runs from a timer, in another directory: store absolute paths.
	if s.ServerCA != "" {
		if _, err := os.Stat(s.ServerCA); err != nil {
			fmt.Fprintf(e.stderr, "smtptls acme: --server-ca: %v\n", err)
			return exitUsage
		}
		s.ServerCA, _ = filepath.Abs(s.ServerCA)
	}
	if strings.Contains(s.DNSHook, "/") {
		if _, err := os.Stat(s.DNSHook); err != nil {
			fmt.Fprintf(e.stderr, "smtptls acme: --dns-hook: %v\n", err)
			return exitUsage
		}
		s.DNSHook, _ = filepath.Abs(s.DNSHook)
	} else if s.DNSHook != "" {
		if _, err := exec.LookPath(s.DNSHook); err != nil {
			fmt.Fprintf(e.stderr, "smtptls acme: --dns-hook %s: %v (give the program's path)\n", s.DNSHook, err)
			return exitUsage
		}
	}
	var mode config.Mode
	if *modeFlag != "" {
		m, err := config.ParseMode(*modeFlag)
		if err != nil || !m.NeedsCertificate() {
			fmt.Fprintf(e.stderr, "smtptls acme: --mode %q: use available or required (a certificate is for TLS)\n", *modeFlag)
			return exitUsage
		}
		mode = m
	}
	tgt, pfDir, err := applyTarget(*target, *postfixDir)
	if err != nil {
		fmt.Fprintf(e.stderr, "smtptls acme: %v\n", err)
		return exitUsage
	}
	dir, ok := configDir(e, "acme", *dirFlag)
	if !ok {
		return exitUsage
	}
	req := acme.Request{ConfigDir: dir, Settings: s, DNSResolver: e.host.Getenv(envDNSResolver)}
	if *eabKID != "" {
		b, err := readPassphrase(*eabFile, e.stdin)
		if err != nil {
			fmt.Fprintf(e.stderr, "smtptls acme: --eab-hmac-file: %v\n", err)
			return exitUsage
		}
		req.EABKID, req.EABHMAC = *eabKID, strings.TrimSpace(string(b))
	}

	installed, _ := config.Load(dir, e.host)
	if mode == "" {
		mode = config.ModeAvailable
		if installed.Settings.Mode.NeedsCertificate() {
			mode = installed.Settings.Mode
		}
	}
	host := *hostname
	if host == "" {
		host = s.Domains[0]
		for _, d := range s.Domains {
			if d == installed.Settings.Hostname && installed.Generation != "" {
				host = d
			}
		}
	}
	keyTypeGiven := false
	fs.Visit(func(f *flag.Flag) { keyTypeGiven = keyTypeGiven || f.Name == "key-type" })
	o := newACMEOutput(e, "acme", *asJSON)
	if !*newKey {
		req.Key = reusableKey(installed.KeyPEM, &req.Settings, keyTypeGiven)
	} else {
		next, ready, err := nextKey(dir, installed.KeyPEM, req.Settings.KeyType, *yes)
		if err != nil {
			fmt.Fprintf(e.stderr, "smtptls acme: %v\n", err)
			return exitUsage
		}
		if !ready {
			return o.nextKeyMade(next, installed.KeyPEM)
		}
		req.Key = next
	}

	code := o.install(ctx, e, req, apply.Request{ConfigDir: dir, Mode: mode, Hostname: host, Listen: *listen, ConfirmRequired: *yes, Target: tgt, PostfixDir: pfDir},
		"smtptls acme "+strings.Join(args, " "), installed.KeyPEM)
	if o.res.Apply != nil && o.res.Apply.Applied {
		if err := acme.SaveSettings(dir, req.Settings); err != nil {
			o.res.Warnings = append(o.res.Warnings, fmt.Sprintf("the certificate is live, but the ACME settings could not be stored, so smtptls renew cannot repeat them: %v", err))
		}
		st, _ := acme.LoadState(dir)
		st.LastAttempt, st.LastOK, st.LastError = e.now(), true, ""
		acme.SaveState(dir, st)
		if *newKey {
			if err := acme.RemoveNextKey(dir); err != nil {
				o.res.Warnings = append(o.res.Warnings, "the new key serves, but "+acme.NextKeyFile+" could not be removed: "+err.Error())
			}
		}
	}
	return o.finish(code)
}

// nextKey is the key --new-key switches to. A gateway that serves a key
// gets the new one made and stored first (ready false): its TLSA record
// must be published before a certificate with it is served. The next run
// (or --yes, for a gateway without DANE) orders with it.
func nextKey(dir string, installedKey []byte, keyType string, now bool) (k crypto.Signer, ready bool, err error) {
	k, err = acme.LoadNextKey(dir)
	if err != nil {
		return nil, false, err
	}
	if k != nil && acme.KeyTypeOf(k) == keyType {
		return k, true, nil
	}
	if k, err = acme.NewKey(keyType); err != nil {
		return nil, false, err
	}
	if len(installedKey) == 0 || now {
		return k, true, nil // nothing served yet, or told not to wait
	}
	if err := acme.SaveNextKey(dir, k); err != nil {
		return nil, false, err
	}
	return k, false, nil
}

// nextKeyMade reports a next key made and stored, and what to do before
// switching to it.
func (o *acmeOutput) nextKeyMade(next crypto.Signer, installedKey []byte) int {
	o.res.TLSA = acme.TLSA(next.Public())
	if old, err := acme.ParseKey(installedKey); err == nil {
		o.res.PreviousTLSA = acme.TLSA(old.Public())
	}
	o.res.NextKeyWaiting = true
	o.res.Message = "a new certificate key is ready and nothing was switched: publish its TLSA record beside the current one, wait for the record's TTL, then run the same command again to switch (or add --yes to switch now)"
	if !o.json {
		w := o.e.stdout
		fmt.Fprintln(w, "A new certificate key is ready; the current one keeps serving.")
		fmt.Fprintf(w, "  current TLSA %s\n  next    TLSA %s\n", o.res.PreviousTLSA, o.res.TLSA)
		fmt.Fprintln(w, "Publish the next TLSA record beside the current one now, wait for the record's TTL to pass,")
		fmt.Fprintln(w, "then run the same command again to switch (--yes switches without waiting). Nothing was switched.")
	}
	return o.finish(exitOK)
}

// reusableKey is the installed key when it can serve the order, so a
// published TLSA record stays valid. With --key-type given it must be of
// that type; without, the installed key's type wins.
func reusableKey(keyPEM []byte, s *acme.Settings, typeGiven bool) crypto.Signer {
	if len(keyPEM) == 0 {
		return nil
	}
	k, err := acme.ParseKey(keyPEM)
	if err != nil {
		return nil
	}
	kt := acme.KeyTypeOf(k)
	switch {
	case kt == "":
		return nil // a key type ACME orders here do not use (P-384, RSA-4096)
	case typeGiven && kt != s.KeyType:
		return nil
	}
	s.KeyType = kt
	return k
}

// acmeResult is what acme and renew print with --json.
type acmeResult struct {
	// Due and Reason are renew's: whether a renewal was due, and why.
	Due    *bool  `json:"due,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Renewed is true when a new certificate is live and verified.
	Renewed    bool         `json:"renewed"`
	Steps      []acme.Event `json:"acme_steps"`
	FailedStep string       `json:"failed_step,omitempty"`
	Message    string       `json:"message"`
	// KeyKept is true when the certificate key stayed the same, so a
	// published TLSA record stays valid.
	KeyKept bool `json:"key_kept"`
	// TLSA is the DANE record of the key now served; PreviousTLSA the one
	// before, when the key changed.
	TLSA         string `json:"tlsa,omitempty"`
	PreviousTLSA string `json:"previous_tlsa,omitempty"`
	NotAfter     string `json:"not_after,omitempty"`
	// NextKeyWaiting is true when --new-key made a key and stopped, so its
	// TLSA record can be published first.
	NextKeyWaiting bool          `json:"next_key_waiting,omitempty"`
	Warnings       []string      `json:"warnings,omitempty"`
	Apply          *apply.Result `json:"apply,omitempty"`
}

// acmeOutput prints an order and its apply as they happen (or, with
// --json, once at the end).
type acmeOutput struct {
	e     *env
	name  string
	json  bool
	color bool
	tty   bool
	res   acmeResult
	leaf  *x509.Certificate // the certificate ordered
}

func newACMEOutput(e *env, name string, asJSON bool) *acmeOutput {
	return &acmeOutput{e: e, name: name, json: asJSON, color: useColor(e.stdout, e.host.Getenv), tty: isTerminal(e.stdout), res: acmeResult{Steps: []acme.Event{}}}
}

func (o *acmeOutput) step(ev acme.Event) {
	o.res.Steps = append(o.res.Steps, ev)
	if o.json {
		return
	}
	d := ev.Detail
	if ev.Name != "" {
		d = ev.Name + ": " + d
	}
	fmt.Fprintf(o.e.stdout, "  %s %-8s %s\n", applyMark(apply.StepOK, o.color), ev.Step, d)
}

// install orders the certificate and applies it with areq; oldKeyPEM is
// the key served before, for the TLSA lines.
func (o *acmeOutput) install(ctx context.Context, e *env, req acme.Request, areq apply.Request, command string, oldKeyPEM []byte) int {
	req.Progress = o.step
	req.Log = slog.New(slog.DiscardHandler)
	res, err := acme.Obtain(ctx, req)
	if err != nil {
		var ae *acme.Error
		step := acme.StepOrder
		if errors.As(err, &ae) {
			step = ae.Step
		}
		o.res.FailedStep, o.res.Message = step, err.Error()
		if !o.json {
			fmt.Fprintf(o.e.stdout, "  %s %-8s %s\n", applyMark(apply.StepFailed, o.color), step, err.Error())
			fmt.Fprintln(o.e.stdout, "\nNothing changed: the installed configuration is as it was.")
		}
		return exitFail
	}
	o.leaf = res.Leaf
	o.res.NotAfter = res.Leaf.NotAfter.UTC().Format("2006-01-02")
	o.res.TLSA = acme.TLSA(res.Leaf.PublicKey)
	if old, err := acme.ParseKey(oldKeyPEM); err == nil {
		if prev := acme.TLSA(old.Public()); prev != o.res.TLSA {
			o.res.PreviousTLSA = prev
		} else {
			o.res.KeyKept = true
		}
	}

	areq.Cert, areq.Key, areq.CA = res.CertPEM, res.KeyPEM, res.ChainPEM
	d := applyDeps(e, command)
	var progress func(apply.Step)
	if !o.json {
		progress = applyProgress(e.stdout, o.color, o.tty)
	}
	ar := apply.Run(ctx, d, areq, progress)
	o.res.Apply = &ar
	o.res.Renewed = ar.Applied
	o.res.Message = ar.Message
	if ar.FailedStep != "" {
		o.res.FailedStep = string(ar.FailedStep)
	}
	if !o.json {
		applyWriteResult(e.stdout, ar, o.color)
		o.writeTLSA(ar.Applied)
	}
	return applyExit(ar)
}

// writeTLSA says what DANE needs: nothing when the key was kept, the new
// record to publish when it changed.
func (o *acmeOutput) writeTLSA(applied bool) {
	w := o.e.stdout
	switch {
	case !applied:
	case o.res.KeyKept:
		fmt.Fprintf(w, "DANE TLSA %s (the key was kept: a published TLSA record stays valid)\n", o.res.TLSA)
	case o.res.PreviousTLSA != "":
		fmt.Fprintf(w, "DANE: the certificate key changed.\n  now served TLSA %s\n  previous   TLSA %s\n", o.res.TLSA, o.res.PreviousTLSA)
		fmt.Fprintln(w, "If this gateway publishes TLSA records: the new one must be published (smtptls acme --new-key showed it before the switch); remove the previous one now.")
	default:
		fmt.Fprintf(w, "DANE TLSA %s\n", o.res.TLSA)
	}
}

// finish prints the JSON result and warnings, and returns code.
func (o *acmeOutput) finish(code int) int {
	if o.json {
		return writeJSON(o.e, o.name, o.res, code)
	}
	for _, w := range o.res.Warnings {
		fmt.Fprintf(o.e.stdout, "warning: %s\n", w)
	}
	return code
}

// wizardOrder is the wizard's ACME order: the same as smtptls acme's,
// keeping the installed key when it can (DANE), never applying.
func wizardOrder(e *env, dir string) func(context.Context, acme.Settings, func(acme.Event)) (acme.Result, error) {
	return func(ctx context.Context, s acme.Settings, progress func(acme.Event)) (acme.Result, error) {
		installed, _ := config.Load(dir, e.host)
		req := acme.Request{ConfigDir: dir, Settings: s, DNSResolver: e.host.Getenv(envDNSResolver), Progress: progress,
			Log: slog.New(slog.DiscardHandler)}
		// The wizard has no key type to ask for: the installed key's wins.
		req.Key = reusableKey(installed.KeyPEM, &req.Settings, false)
		return acme.Obtain(ctx, req)
	}
}

// wizardSaveACME stores an ordered certificate's settings once it is live.
func wizardSaveACME(e *env, dir string) func(acme.Settings) error {
	return func(s acme.Settings) error {
		if err := acme.SaveSettings(dir, s); err != nil {
			return err
		}
		st, _ := acme.LoadState(dir)
		st.LastAttempt, st.LastOK, st.LastError = e.now(), true, ""
		return acme.SaveState(dir, st)
	}
}
