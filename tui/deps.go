package tui

import (
	"context"
	"time"

	"github.com/smtptls/smtptls/acme"
	"github.com/smtptls/smtptls/apply"
	"github.com/smtptls/smtptls/config"
	"github.com/smtptls/smtptls/validate"
)

// Checker is the part of the validation engine the wizard uses; *validate.Checker
// is the real one. It must be safe for
// concurrent use: checks run off the update loop.
type Checker interface {
	Certificate(text, hostname string, now time.Time) validate.FieldResult
	Key(text string, passphrase []byte) validate.FieldResult
	Bundle(text string, now time.Time) validate.FieldResult
	Check(in validate.Input) validate.Report
}

// Installed is what is installed and running, for prefill and for the
// recovery screen. Setup fills it from apply.Current.
type Installed struct {
	Loaded config.Loaded
	// Report is the validation of the installed material; nil when
	// nothing is installed.
	Report *validate.Report
	// Running reports whether a listener answers; Listen and Fingerprint
	// are what it serves ("" when disabled or down).
	Running     bool
	Listen      string
	Fingerprint string
	// NeedsAttention lists, in plain sentences, what is wrong: expired or
	// expiring certificate, key mismatch, listener down, listener serving
	// something other than what is installed. Empty means healthy.
	NeedsAttention []string
	// Field is the paste field to fix first, when the trouble is one.
	Field validate.Field
}

// Deps is everything the wizard reaches outside itself for. Setup wires
// the real packages; tests pass fakes.
type Deps struct {
	ConfigDir string
	// DefaultConfigDir is the directory commands use without
	// --config-dir; every command the wizard prints for another one
	// carries --config-dir ConfigDir.
	DefaultConfigDir string
	Checker          Checker
	// Installed reads the installed configuration and the listener state.
	Installed func(ctx context.Context) (Installed, error)
	// Apply runs the apply transaction, calling progress for every step.
	Apply func(ctx context.Context, req apply.Request, progress func(apply.Step)) apply.Result
	// Copy puts text on the clipboard and says how ("clipboard", "OSC 52").
	// It is never given the private key.
	Copy func(text string) (string, error)
	// ReadClipboard reads the clipboard of the machine the wizard runs on,
	// for ctrl+v; nil (or an error) when there is none, as over SSH.
	ReadClipboard func() (string, error)
	Now           func() time.Time
	// Listen and Hostname override the installed settings (setup flags).
	Listen, Hostname string
	// Bind tries to listen on addr and lets go at once, to check a listen
	// address before apply; nil binds for real (tests may replace it).
	Bind func(addr string) error
	// Order gets a certificate by ACME (the "no certificate yet?" screen),
	// reporting each step; Setup wires acme.Obtain. It must reuse the
	// installed key when it can, so a published TLSA record stays valid.
	Order func(ctx context.Context, s acme.Settings, progress func(acme.Event)) (acme.Result, error)
	// SaveACME stores the settings of an ordered certificate once it is
	// live, so `smtptls renew` repeats the order.
	SaveACME func(s acme.Settings) error
	// Postfix describes the Postfix installed here ("Postfix 3.7.11, smtpd
	// on 0.0.0.0:25, TLS currently: may, ..."); found is false when there
	// is none. With nothing applied yet, the wizard then asks which server
	// to configure. nil: never ask.
	Postfix func(ctx context.Context) (summary string, found bool)
	// VerifyCommand builds the command an admin can re-run to verify.
	VerifyCommand func(listen, hostname string, mode config.Mode) string
}
