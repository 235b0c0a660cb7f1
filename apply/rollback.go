package apply

import (
	"context"
	"fmt"

	"github.com/smtptls/smtptls/config"
	"github.com/smtptls/smtptls/validate"
)

// Rollback makes an earlier generation live again (toGen, or the one before
// the live one when empty), reloads and verifies it, with the same steps and
// the same way back as Run.
func Rollback(ctx context.Context, d Deps, dir, toGen string, progress func(Step)) Result {
	if d.Command == "" {
		d.Command = "smtptls rollback"
	}
	d = d.withDefaults()
	t := &txn{d: d, ctx: ctx, dir: dir, progress: progress, res: &Result{}}
	if dir == "" {
		var err error
		if t.dir, err = config.ResolveDir("", d.Host); err != nil {
			t.res.EnvironmentError = true
			return t.fail(StepValidate, err.Error())
		}
	}
	unlock, ok := t.openLocked()
	if !ok {
		return *t.res
	}
	defer unlock()

	if err := t.begin(StepValidate); err != nil {
		return t.crashed(err)
	}
	cur, err := t.store.Current()
	if err != nil {
		t.res.EnvironmentError = true
		return t.fail(StepValidate, err.Error())
	}
	t.prev = cur
	t.res.Previous = cur
	if cur != "" {
		if l, err := config.LoadGeneration(t.dir, cur, d.Host); err == nil {
			t.prevFP = leafFingerprint(l.CertPEM)
		}
	}
	if toGen == "" {
		if toGen, err = t.store.Previous(); err != nil {
			t.res.EnvironmentError = true
			return t.fail(StepValidate, err.Error())
		}
		if toGen == "" {
			return t.fail(StepValidate, "there is no earlier generation to roll back to (see `smtptls status` for the generations on disk)")
		}
	}
	if toGen == cur {
		return t.fail(StepValidate, fmt.Sprintf("generation %s is already the live one; pass --to with another generation (see `smtptls status`)", toGen))
	}
	if !config.ValidGenerationName(toGen) {
		return t.fail(StepValidate, fmt.Sprintf("%q is not a generation name; they look like 20261128T120000Z-0001 (see `smtptls status`)", toGen))
	}
	target, err := config.LoadGeneration(t.dir, toGen, d.Host)
	if err != nil {
		return t.fail(StepValidate, fmt.Sprintf("generation %s cannot be loaded: %v", toGen, err))
	}
	t.target = target
	t.res.Generation = toGen
	t.res.Fingerprint = leafFingerprint(target.CertPEM)
	detail := fmt.Sprintf("generation %s: mode %s, host %s, listen %s", toGen, target.Settings.Mode, target.Settings.Hostname, target.Settings.Listen)
	if target.Settings.Mode.NeedsCertificate() {
		// An old generation may hold a certificate that has expired since;
		// the admin asked for it, so say so rather than refuse: the listener
		// will refuse outright what it cannot serve.
		rep := d.Validate(validate.Input{
			Certificate: string(target.CertPEM), Key: string(target.KeyPEM),
			CABundle: string(append(append([]byte{}, target.ChainPEM...), target.CAPEM...)),
			Hostname: target.Settings.Hostname, Now: d.Now(), Roots: d.Roots, LoadRoots: validate.SystemRoots,
		})
		t.res.Validation = rep
		t.res.Diagnostics = rep.Diagnostics
		for _, dg := range rep.Diagnostics {
			if dg.Severity == validate.SevError || dg.Severity == validate.SevWarning {
				t.res.Warnings = append(t.res.Warnings, fmt.Sprintf("generation %s: %s", toGen, dg.Message))
			}
		}
		if n := countErrors(rep); n > 0 {
			detail += fmt.Sprintf("; %d problem(s) with its certificate, see warnings", n)
		}
	}
	t.report(StepValidate, StepOK, detail)
	return t.switchReloadVerify(toGen)
}
