package apply

import (
	"context"
	"strings"
	"testing"

	"github.com/smtptls/smtptls/config"
)

func (f *fixture) rollback(to string) Result {
	f.t.Helper()
	f.steps = nil
	return Rollback(context.Background(), f.deps, f.dir, to, func(s Step) { f.steps = append(f.steps, s) })
}

func TestRollbackToPrevious(t *testing.T) {
	f := newFixture(t)
	a := f.mustApply(f.request(config.ModeAvailable, "a"))
	b := f.mustApply(f.request(config.ModeRequired, "b"))
	if s, _ := Current(context.Background(), f.deps, f.dir); s.Previous != a.Generation {
		t.Errorf("status names %q as the rollback target, want %s", s.Previous, a.Generation)
	}
	r := f.rollback("")
	if !r.Applied || r.Generation != a.Generation || r.Previous != b.Generation {
		t.Fatalf("result %+v", r)
	}
	if st, _ := f.l.serving(); st.Generation != a.Generation || st.Fingerprint != f.fp("a") {
		t.Errorf("listener serves %+v", st)
	}
	if got := stepNames(f.steps); !strings.Contains(got, "verify:ok") || strings.Contains(got, "write") {
		t.Errorf("steps %s", got)
	}
	// Again: the generation before a, and there is none.
	if r := f.rollback(""); r.Applied || r.FailedStep != StepValidate || !strings.Contains(r.Message, "no earlier generation") {
		t.Errorf("second rollback %+v", r)
	}
	// Forward by name.
	if r := f.rollback(b.Generation); !r.Applied {
		t.Errorf("rollback --to %s: %s", b.Generation, r.Message)
	}
}

func TestRollbackThatFailsVerifyReturnsToCurrent(t *testing.T) {
	f := newFixture(t)
	f.mustApply(f.request(config.ModeAvailable, "a"))
	b := f.mustApply(f.request(config.ModeAvailable, "b"))
	f.p.breakFingerprint = true
	r := f.rollback("")
	if r.Applied || !r.RolledBack || r.FailedStep != StepVerify {
		t.Fatalf("result %+v", r)
	}
	if cur, _ := config.CurrentGeneration(f.dir); cur != b.Generation {
		t.Errorf("current %s, want %s back", cur, b.Generation)
	}
	if st, _ := f.l.serving(); st.Generation != b.Generation {
		t.Errorf("listener serves %s", st.Generation)
	}
}

func TestRollbackRefusesAnExpiredGenerationUnlessForced(t *testing.T) {
	f := newFixture(t)
	a := f.mustApply(f.request(config.ModeAvailable, "a"))
	b := f.mustApply(f.request(config.ModeAvailable, "b"))
	f.now = f.now.AddDate(11, 0, 0)
	// Both certificates expired by now: the gate refuses a, as apply
	// would, and b keeps serving.
	r := f.rollback(a.Generation)
	if r.Applied || r.FailedStep != StepValidate || !strings.Contains(r.Message, "expired") {
		t.Errorf("result applied=%v msg=%s", r.Applied, r.Message)
	}
	if cur, _ := config.CurrentGeneration(f.dir); cur != b.Generation {
		t.Errorf("current %s, want %s untouched", cur, b.Generation)
	}
	// --force switches, and says loudly what it overrode.
	r = RollbackWith(context.Background(), f.deps, RollbackRequest{ConfigDir: f.dir, To: a.Generation, Force: true}, nil)
	if !r.Applied || !r.Forced || !strings.Contains(r.Message, "FORCED") || !strings.Contains(strings.Join(r.Warnings, " "), "FORCED") {
		t.Errorf("forced: applied=%v forced=%v warnings=%v msg=%s", r.Applied, r.Forced, r.Warnings, r.Message)
	}
}

func TestRollbackLockedOut(t *testing.T) {
	f := newFixture(t)
	f.mustApply(f.request(config.ModeAvailable, "a"))
	f.mustApply(f.request(config.ModeAvailable, "b"))
	st, _ := config.OpenStore(f.dir, f.deps.Host)
	lock, err := st.Lock("smtptls apply --mode required")
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Unlock()
	if r := f.rollback(""); !r.EnvironmentError || r.LockHolder == nil {
		t.Errorf("result %+v", r)
	}
}

func TestRollbackToAPrunedGenerationSaysSo(t *testing.T) {
	f := newFixture(t)
	first := f.mustApply(f.request(config.ModeAvailable, "a"))
	for i := 0; i < config.KeepGenerations+2; i++ {
		f.mustApply(f.request(config.ModeAvailable, string(rune('b'+i))))
	}
	r := f.rollback(first.Generation)
	if r.Applied || !strings.Contains(r.Message, "was pruned") {
		t.Errorf("rollback --to a pruned generation: %s", r.Message)
	}
	// --dry-run looks and switches nothing.
	cur, _ := config.CurrentGeneration(f.dir)
	r = RollbackWith(context.Background(), f.deps, RollbackRequest{ConfigDir: f.dir, DryRun: true}, nil)
	if !r.DryRun || r.FailedStep != "" || !strings.Contains(r.Message, "dry run") {
		t.Errorf("rollback --dry-run: %+v", r)
	}
	if now, _ := config.CurrentGeneration(f.dir); now != cur {
		t.Errorf("the dry run switched to %s", now)
	}
}
