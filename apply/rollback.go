package apply

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/smtptls/smtptls/config"
	"github.com/smtptls/smtptls/validate"
)

// RollbackRequest is what to roll back to, and how.
type RollbackRequest struct {
	ConfigDir string
	// To names the generation; "" is the newest good one before the live
	// one.
	To string
	// Force makes a generation live that fails the gate (an expired
	// certificate, an edited generation): an emergency override that is
	// reported loudly.
	Force bool
	// DryRun checks and says what would change; nothing is switched.
	DryRun bool
}

// Rollback makes an earlier generation live again (toGen, or the one before
// the live one when empty), reloads and verifies it, with the same steps and
// the same way back as Run.
func Rollback(ctx context.Context, d Deps, dir, toGen string, progress func(Step)) Result {
	return RollbackWith(ctx, d, RollbackRequest{ConfigDir: dir, To: toGen}, progress)
}

// RollbackWith is Rollback with every option.
func RollbackWith(ctx context.Context, d Deps, req RollbackRequest, progress func(Step)) Result {
	if d.Command == "" {
		d.Command = "smtptls rollback"
	}
	d = d.withDefaults()
	t := &txn{d: d, ctx: ctx, dir: req.ConfigDir, progress: progress, res: &Result{DryRun: req.DryRun}, force: req.Force}
	if t.dir == "" {
		var err error
		if t.dir, err = config.ResolveDir("", d.Host); err != nil {
			t.res.EnvironmentError = true
			return t.fail(StepValidate, err.Error())
		}
	}
	if req.DryRun {
		// A look, like apply's dry run: no lock, no store opened.
		if err := t.begin(StepValidate); err != nil {
			return t.crashed(err)
		}
		return t.rollbackChecks(req)
	}
	unlock, ok := t.openLocked()
	if !ok {
		return *t.res
	}
	defer unlock()

	if err := t.begin(StepValidate); err != nil {
		return t.crashed(err)
	}
	r := t.rollbackChecks(req)
	if r.FailedStep != "" {
		return r
	}
	if _, ok := t.prepare(); !ok {
		return t.fail(StepSwitch, t.res.Message+"; nothing was switched")
	}
	return t.switchReloadVerify(t.res.Generation)
}

// rollbackChecks picks the generation and passes it through the gate. On
// a dry run it also ends the result; otherwise the caller switches when
// FailedStep is empty.
func (t *txn) rollbackChecks(req RollbackRequest) Result {
	d := t.d
	cur, err := config.CurrentGeneration(t.dir)
	if err != nil {
		t.res.EnvironmentError = true
		return t.fail(StepValidate, err.Error())
	}
	t.prev = cur
	t.res.Previous = cur
	var old config.Loaded
	var oldErr error = errors.New("nothing applied")
	t.prevLoaded.Generation = cur
	if cur != "" {
		if old, oldErr = config.LoadGeneration(t.dir, cur, d.Host); oldErr == nil {
			t.prevFP = leafFingerprint(old.CertPEM)
			t.prevLoaded = old
		}
	}
	toGen := req.To
	if toGen == "" {
		if toGen, err = previousGeneration(t.dir); err != nil {
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
	if pruned(t.dir, toGen) {
		return t.fail(StepValidate, fmt.Sprintf("generation %s was pruned: only the last %d good generations are kept (see `smtptls status` for those on disk)", toGen, config.KeepGenerations))
	}
	target, err := config.LoadGeneration(t.dir, toGen, d.Host)
	if err != nil {
		return t.fail(StepValidate, fmt.Sprintf("generation %s cannot be loaded: %v", toGen, err))
	}
	t.target = target
	t.res.Generation = toGen
	t.res.Fingerprint = leafFingerprint(target.CertPEM)
	detail := fmt.Sprintf("generation %s: mode %s, host %s, listen %s", toGen, target.Settings.Mode, target.Settings.Hostname, target.Settings.Listen)

	rep, probs := gate(d, target)
	t.res.Validation = rep
	t.res.Diagnostics = rep.Diagnostics
	for _, dg := range rep.Diagnostics {
		if dg.Severity != validate.SevError {
			t.res.Warnings = append(t.res.Warnings, fmt.Sprintf("generation %s: %s", toGen, dg.Message))
		}
	}
	if len(probs) > 0 {
		if !req.Force {
			return t.fail(StepValidate, fmt.Sprintf("generation %s would break the gateway, so it was not made live: %s. Nothing was switched; %s keeps serving. Apply a good configuration with `smtptls apply`, or pick another generation with --to (see `smtptls status`)",
				toGen, problemList(probs), orNothing(cur)))
		}
		t.forced = forcedWarning(toGen, probs)
		t.res.Forced = true
		t.res.Warnings = append([]string{t.forced}, t.res.Warnings...)
		detail += "; FORCED past: " + problemList(probs)
	}
	t.report(StepValidate, StepOK, detail)
	if req.DryRun {
		t.res.Changes = diff(old, oldErr, target)
		t.res.Message = "dry run: rolling back to " + toGen + " would pass the checks"
		if t.forced != "" {
			t.res.Message = "dry run: rolling back to " + toGen + " would need --force"
		}
		t.res.Message += "; " + dryRunMessage(t.res.Changes)[len("dry run: "):]
	}
	return *t.res
}

func orNothing(gen string) string {
	if gen == "" {
		return "the defaults"
	}
	return "generation " + gen
}

// previousGeneration is what a plain rollback returns to: the newest
// generation before the live one that did not fail.
func previousGeneration(dir string) (string, error) {
	return config.PreviousGeneration(dir)
}

// pruned reports whether gen is a name the store once used and has since
// removed: it is missing, and a newer generation exists.
func pruned(dir, gen string) bool {
	if _, err := os.Lstat(filepath.Join(dir, config.GenerationsDir, gen)); !errors.Is(err, fs.ErrNotExist) {
		return false
	}
	seq, ok := config.GenerationSeq(gen)
	gens, err := config.ListGenerations(dir)
	if !ok || err != nil {
		return false
	}
	for _, g := range gens {
		if g.Seq > seq {
			return true
		}
	}
	return false
}
