package apply

import (
	"context"
	"errors"
	"fmt"

	"github.com/smtptls/smtptls/config"
	"github.com/smtptls/smtptls/smtpd/relay"
	"github.com/smtptls/smtptls/validate"
)

// ExpiryWarnDays: a certificate with fewer days left than this needs
// attention (renewals that are due but failed show up here first).
const ExpiryWarnDays = 14

// Status is what is installed and what is served: `smtptls status` and the
// wizard's recovery screen.
type Status struct {
	Dir        string `json:"config_dir"`
	Generation string `json:"generation"` // "" when nothing was applied yet
	// LoadError is why the installed configuration cannot be read; the rest
	// of the installed fields are empty then.
	LoadError   string                `json:"load_error,omitempty"`
	Settings    config.Settings       `json:"settings"`
	Fingerprint string                `json:"fingerprint,omitempty"` // installed leaf
	Validation  validate.Report       `json:"-"`
	Summary     *validate.Summary     `json:"certificate,omitempty"`
	Diagnostics []validate.Diagnostic `json:"diagnostics,omitempty"`

	// Target is what the configuration is made live on: bundled or postfix.
	Target  string `json:"target"`
	Running bool   `json:"running"`
	// ListenerLost says that a listener runs (its pid file names a live
	// `smtptls serve`) but its control socket is missing.
	ListenerLost string         `json:"listener_lost,omitempty"`
	Listener     *ListenerState `json:"listener,omitempty"`
	// ServesInstalled: the listener serves the live generation and its
	// certificate. False after a renewal that was never reloaded.
	ServesInstalled bool                `json:"serves_installed"`
	Generations     []config.Generation `json:"generations"`
	// Previous is what `rollback` without --to returns to; "" when none.
	Previous string `json:"previous,omitempty"`
	// PreviousProblems are why a rollback to Previous would be refused;
	// status then does not suggest it.
	PreviousProblems []Problem `json:"previous_problems,omitempty"`
	// Problems are why the installed generation fails the gate (reload
	// and rollback refuse it).
	Problems []Problem `json:"problems,omitempty"`
	// NeedsAttention lists, one sentence each, what the admin should act
	// on; empty when all is well.
	NeedsAttention []string `json:"needs_attention"`
	// NextHop is what a session to the relay's next hop found; nil when
	// the installed delivery is not relay.
	NextHop *relay.CheckResult `json:"next_hop,omitempty"`
}

// Current reads the installed configuration, checks it, and asks the
// listener what it serves. The error is for a config directory that cannot
// be read at all; a broken configuration is reported in the Status.
func Current(ctx context.Context, d Deps, dir string) (Status, error) {
	d = d.withDefaults()
	if dir == "" {
		var err error
		if dir, err = config.ResolveDir("", d.Host); err != nil {
			return Status{}, err
		}
	}
	st := Status{Dir: dir, NeedsAttention: []string{}}
	gens, err := config.ListGenerations(dir)
	if err != nil {
		return Status{}, err
	}
	st.Generations = gens
	st.Previous, _ = previousGeneration(dir)
	attention := func(format string, a ...any) {
		st.NeedsAttention = append(st.NeedsAttention, fmt.Sprintf(format, a...))
	}
	// What a plain rollback would return to, through the same gate: status
	// suggests a rollback only when it would succeed.
	if st.Previous != "" {
		pl, err := config.LoadGeneration(dir, st.Previous, d.Host)
		if err != nil {
			st.PreviousProblems = []Problem{{Message: err.Error()}}
		} else {
			_, st.PreviousProblems = gate(d, pl)
		}
	}

	l, err := config.Load(dir, d.Host)
	if err != nil {
		st.LoadError = err.Error()
		st.Generation, _ = config.CurrentGeneration(dir)
		way := "fix the file it names"
		var se *config.SettingsError
		if errors.As(err, &se) && se.File != "" {
			way = "fix " + se.File
		}
		if st.Previous != "" && len(st.PreviousProblems) == 0 {
			way = "run `smtptls rollback` (to " + st.Previous + "), or " + way
		}
		attention("the installed configuration cannot be read: %v; %s", err, way)
	} else {
		st.Generation = l.Generation
		st.Settings = l.Settings
		st.Fingerprint = leafFingerprint(l.CertPEM)
		if l.Generation == "" {
			attention("nothing has been applied yet: run `smtptls apply` or the wizard")
		}
		// The same gate reload and rollback pass: what fails it is
		// reported, and no command is suggested that it would refuse.
		rep, probs := gate(d, l)
		st.Validation = rep
		st.Summary = rep.Summary
		st.Diagnostics = rep.Diagnostics
		st.Problems = probs
		for _, p := range probs {
			attention("installed configuration: %s", p.Message)
		}
		if s := rep.Summary; s != nil && s.DaysLeft < ExpiryWarnDays && !s.NotAfter.Before(d.Now()) {
			attention("the certificate expires in %d day(s), on %s: renew it and apply the new one", s.DaysLeft, s.NotAfter.UTC().Format("2006-01-02"))
		}
	}

	if st.LoadError == "" && st.Settings.RelayMode() {
		st.NextHop = nextHopStatus(ctx, d, st.Settings, attention)
	}

	tgt, err := targetFor(d, dir, st.Settings, "")
	if err != nil {
		attention("%v", err)
		return st, nil
	}
	st.Target = tgt.Name()
	installed := config.Loaded{Dir: dir, Generation: st.Generation, Settings: st.Settings}
	if st.LoadError == "" {
		installed = l
	}
	ts := tgt.Status(ctx, installed, st.LoadError == "", len(st.Problems) == 0)
	st.Running, st.Listener, st.ServesInstalled = ts.Running, ts.Listener, ts.ServesInstalled
	st.ListenerLost = ts.Lost
	st.NeedsAttention = append(st.NeedsAttention, ts.Attention...)
	return st, nil
}

func describeServed(gen, mode, fp string) string {
	if gen == "" {
		gen = "(defaults)"
	}
	s := fmt.Sprintf("generation %s, mode %s", gen, mode)
	if fp != "" {
		s += ", certificate " + shortFP(fp)
	}
	return s
}
