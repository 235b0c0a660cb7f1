package apply

import (
	"context"
	"time"

	"github.com/smtptls/smtptls/probe"
	"github.com/smtptls/smtptls/validate"
)

// realDefaults fills the dependencies a caller left zero with the real
// validation engine, receiver test and listener control.
func realDefaults(d *Deps) {
	if d.Validate == nil {
		d.Validate = validate.Check
	}
	if d.Prober == nil {
		d.Prober = probeRunner{}
	}
	if d.Reloader == nil {
		d.Reloader = smtpdControl{}
	}
	if d.CheckNextHop == nil {
		d.CheckNextHop = checkNextHop
	}
}

// probeRunner is the Prober of a real apply: probe.Run against the listener.
type probeRunner struct{}

func (probeRunner) Probe(ctx context.Context, r VerifyRequest) probe.Report {
	now := r.Now
	return probe.Run(ctx, probe.Options{
		Target:            r.Target,
		Hostname:          r.Hostname,
		Roots:             r.Roots,
		Timeout:           r.Timeout,
		ExpectFingerprint: r.Fingerprint,
		ExpectRequired:    r.Required,
		ExpectDisabled:    r.Disabled,
		Now:               func() time.Time { return now },
	})
}
