package apply

import (
	"context"
	"errors"
	"fmt"

	"github.com/smtptls/smtptls/config"
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

	Running  bool           `json:"running"`
	Listener *ListenerState `json:"listener,omitempty"`
	// ServesInstalled: the listener serves the live generation and its
	// certificate. False after a renewal that was never reloaded.
	ServesInstalled bool                `json:"serves_installed"`
	Generations     []config.Generation `json:"generations"`
	// Previous is what `rollback` without --to returns to; "" when none.
	Previous string `json:"previous,omitempty"`
	// NeedsAttention lists, one sentence each, what the admin should act
	// on; empty when all is well.
	NeedsAttention []string `json:"needs_attention"`
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
	for i, g := range gens {
		if g.Current && i > 0 {
			st.Previous = gens[i-1].Name
		}
	}
	attention := func(format string, a ...any) {
		st.NeedsAttention = append(st.NeedsAttention, fmt.Sprintf(format, a...))
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
		if st.Previous != "" {
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
		if l.Settings.Mode.NeedsCertificate() {
			rep := d.Validate(validate.Input{
				Certificate: string(l.CertPEM), Key: string(l.KeyPEM),
				CABundle: string(append(append([]byte{}, l.ChainPEM...), l.CAPEM...)),
				Hostname: l.Settings.Hostname, Now: d.Now(), Roots: d.Roots, LoadRoots: validate.SystemRoots,
			})
			st.Validation = rep
			st.Summary = rep.Summary
			st.Diagnostics = rep.Diagnostics
			for _, dg := range rep.Diagnostics {
				if dg.Severity == validate.SevError {
					attention("installed configuration: %s %s", dg.Message, dg.Hint)
				}
			}
			if s := rep.Summary; s != nil && s.DaysLeft < ExpiryWarnDays && !s.NotAfter.Before(d.Now()) {
				attention("the certificate expires in %d day(s), on %s: renew it and apply the new one", s.DaysLeft, s.NotAfter.UTC().Format("2006-01-02"))
			}
		}
	}

	sctx, cancel := context.WithTimeout(ctx, stateTimeout)
	defer cancel()
	ls, err := d.Reloader.State(sctx, dir)
	switch {
	case errors.Is(err, ErrNotRunning):
		attention("the listener is not running: start it with `smtptls serve --detach` or apply again")
	case err != nil:
		attention("the listener cannot be asked what it serves: %v", err)
	default:
		st.Running = true
		st.Listener = &ls
		if st.LoadError == "" {
			want := st.Fingerprint
			if !st.Settings.Mode.NeedsCertificate() {
				want = "" // disabled keeps the certificate on disk but serves none
			}
			st.ServesInstalled = ls.Generation == st.Generation && ls.Fingerprint == want && ls.Mode == string(st.Settings.Mode)
			if !st.ServesInstalled {
				attention("the listener serves %s but %s is installed: run `smtptls reload` (a renewal that was never reloaded looks like this)",
					describeServed(ls.Generation, ls.Mode, ls.Fingerprint), describeServed(st.Generation, string(st.Settings.Mode), want))
			}
		}
	}
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
