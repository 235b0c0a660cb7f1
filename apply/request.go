// Package apply is the transaction behind `smtptls apply` and the wizard's
// Apply button: validate, write a new generation, switch, reload, verify, and
// roll back when any of that fails, so a gateway is never left worse off.
package apply

import (
	"github.com/smtptls/smtptls/config"
	"github.com/smtptls/smtptls/probe"
	"github.com/smtptls/smtptls/validate"
)

// Request is what to apply. Empty fields keep what is installed.
type Request struct {
	ConfigDir string
	Mode      config.Mode
	// Cert, Key and CA are the texts as pasted; all nil keeps the installed
	// certificate material.
	Cert, Key, CA []byte
	// CertFile and KeyFile are how the admin named Cert and Key, for the
	// openssl commands that validation hints suggest (validate.Input).
	CertFile, KeyFile string
	Passphrase        []byte
	Hostname          string
	Listen            string
	// ConfirmRequired must be true to apply ModeRequired (--yes, or the
	// wizard's second confirmation).
	ConfirmRequired bool
	DryRun          bool
	// Delivery, NextHop and NextHopTLS set delivery, relay.next_hop and
	// relay.tls when not empty; AcceptDomains sets accept_domains when not
	// nil (an empty list clears it).
	Delivery      string
	NextHop       string
	NextHopTLS    string
	AcceptDomains []string
	// Target is config.TargetBundled or config.TargetPostfix; "" keeps the
	// installed one. PostfixDir is the Postfix config directory ("" keeps
	// the installed one, else /etc/postfix). For a Postfix target, Listen
	// only says where to verify: Postfix's own configuration says where it
	// listens.
	Target     string
	PostfixDir string
	// Set changes settings by their config.toml key (`smtptls set`), after
	// the fields above; any key of config.Settings works.
	Set []Assignment
	// Force writes into a config directory owned by another user (as
	// root, the files are given to that user).
	Force bool
}

// Assignment is one KEY=VALUE of `smtptls set`.
type Assignment struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// StepName names a step of the transaction, in the order they run.
type StepName string

const (
	StepValidate StepName = "validate"
	StepWrite    StepName = "write"
	StepSwitch   StepName = "switch"
	StepReload   StepName = "reload" // or start the listener when none runs
	StepVerify   StepName = "verify"
	StepRollback StepName = "rollback"
	// StepDone is reported last, once the new generation is live and
	// verified (old generations are pruned here).
	StepDone StepName = "done"
)

// StepStatus is where a step stands.
type StepStatus string

const (
	StepRunning StepStatus = "running"
	StepOK      StepStatus = "ok"
	StepFailed  StepStatus = "failed"
	StepSkipped StepStatus = "skipped"
)

// Step is one progress event; the wizard draws a spinner for running and a
// tick or a cross for the rest.
type Step struct {
	Name   StepName   `json:"name"`
	Status StepStatus `json:"status"`
	Detail string     `json:"detail"`
}

// Result is the outcome of one apply.
type Result struct {
	// Applied is true when the new generation is live and verified.
	Applied bool `json:"applied"`
	// RolledBack is true when the new generation failed and the previous one
	// is serving again.
	RolledBack bool   `json:"rolled_back"`
	Generation string `json:"generation,omitempty"` // the one written
	Previous   string `json:"previous,omitempty"`   // the one before
	// FailedStep names the step that failed; empty on success.
	FailedStep StepName `json:"failed_step,omitempty"`
	// Field is the paste field at fault, when the failure is one (the wizard
	// jumps back to it).
	Field      validate.Field  `json:"field,omitempty"`
	Message    string          `json:"message"` // one plain sentence for the admin
	Steps      []Step          `json:"steps"`
	Validation validate.Report `json:"-"`
	Verify     *probe.Report   `json:"verify,omitempty"`
	// Fingerprint is the SHA-256 of the installed certificate, hex.
	Fingerprint string `json:"fingerprint,omitempty"`

	// EnvironmentError is true when the failure is the machine's, not the
	// input's: lock held, permissions, a listener that cannot be reached.
	// The command exits 2 then.
	EnvironmentError bool `json:"environment_error,omitempty"`
	// LockHolder names who holds the apply lock when that stopped us.
	LockHolder *config.LockHolder `json:"lock_holder,omitempty"`
	// DryRun is true when nothing was written; Changes says what would be.
	DryRun  bool     `json:"dry_run,omitempty"`
	Changes []Change `json:"changes,omitempty"`
	// Diagnostics are validate's findings (never key material).
	Diagnostics []validate.Diagnostic `json:"diagnostics,omitempty"`
	// Warnings are things that did not stop the apply but deserve a look.
	Warnings []string `json:"warnings,omitempty"`
	Listen   string   `json:"listen,omitempty"` // the address the listener bound
	// Forced is true when --force made live a generation that fails the
	// gate; Warnings says what was overridden.
	Forced bool `json:"forced,omitempty"`
	// Unchanged is true when the request equals the live generation and
	// the listener serves it: nothing was written.
	Unchanged bool `json:"unchanged,omitempty"`
}

// Change is one difference between the installed and the new configuration.
type Change struct {
	What string `json:"what"` // a config.toml key ("mode", "limits.max_recipients") or "certificate", "chain", "ca_bundle", "key"
	Old  string `json:"old"`
	New  string `json:"new"`
}
