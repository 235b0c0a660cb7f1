package apply

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/youmark/pkcs8"

	"github.com/smtptls/smtptls/config"
	"github.com/smtptls/smtptls/internal/testpki"
	"github.com/smtptls/smtptls/validate"
)

func stepNames(steps []Step) string {
	var s []string
	for _, st := range steps {
		s = append(s, string(st.Name)+":"+string(st.Status))
	}
	return strings.Join(s, " ")
}

func TestApplyStartsListenerAndVerifies(t *testing.T) {
	f := newFixture(t)
	r := f.mustApply(f.request(config.ModeAvailable, "a"))
	want := "validate:running validate:ok write:running write:ok switch:running switch:ok reload:running reload:ok verify:running verify:ok done:running done:ok"
	if got := stepNames(f.steps); got != want {
		t.Errorf("progress:\n got %s\nwant %s", got, want)
	}
	l := f.loaded()
	if l.Generation != r.Generation || l.Settings.Mode != config.ModeAvailable {
		t.Errorf("installed %s %s, result says %s", l.Generation, l.Settings.Mode, r.Generation)
	}
	st, running := f.l.serving()
	if !running || st.Fingerprint != f.fp("a") || st.Generation != r.Generation {
		t.Errorf("listener running=%v serves %+v, want the new certificate", running, st)
	}
	if f.l.starts != 1 {
		t.Errorf("listener started %d times, want 1 (none was running)", f.l.starts)
	}
	if r.Fingerprint != f.fp("a") || r.Previous != "" {
		t.Errorf("result fingerprint %s previous %q", r.Fingerprint, r.Previous)
	}
	call := f.p.calls[0]
	if call.Target != "127.0.0.1:2525" || call.Fingerprint != f.fp("a") || call.Hostname != "mail.example.test" || call.Required || call.Disabled {
		t.Errorf("verify asked for %+v", call)
	}
	if len(call.Roots.Subjects()) == 0 { //nolint:staticcheck // fine for a pool built from PEM
		t.Errorf("verify got no CA roots from the installed bundle")
	}
	gdir := filepath.Join(f.dir, config.GenerationsDir, r.Generation)
	fi, _ := os.Stat(filepath.Join(gdir, config.KeyFile))
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v", fi.Mode().Perm())
	}
	// validate's normalised material is what lands on disk: the leaf alone,
	// the root kept apart from the served chain.
	if string(l.CertPEM) != string(f.chains["a"].Leaf.PEM()) {
		t.Errorf("cert.pem is not the leaf alone")
	}
	if !strings.Contains(string(l.CAPEM), "CERTIFICATE") || strings.Contains(string(l.ChainPEM), string(f.chains["a"].Root.PEM())) {
		t.Errorf("root not split from the served chain")
	}
}

func TestApplyReloadsARunningListener(t *testing.T) {
	f := newFixture(t)
	first := f.mustApply(f.request(config.ModeAvailable, "a"))
	second := f.mustApply(f.request(config.ModeRequired, "b"))
	if second.Previous != first.Generation {
		t.Errorf("previous %q, want %s", second.Previous, first.Generation)
	}
	if f.l.starts != 1 || f.l.reloads != 1 {
		t.Errorf("starts %d reloads %d, want 1 and 1", f.l.starts, f.l.reloads)
	}
	st, _ := f.l.serving()
	if st.Fingerprint != f.fp("b") || st.Mode != "required" {
		t.Errorf("listener serves %+v", st)
	}
	if !f.p.calls[1].Required {
		t.Errorf("verify of mode required did not ask for the plaintext refusal check")
	}
}

func TestValidationErrorWritesNothing(t *testing.T) {
	f := newFixture(t)
	req := f.request(config.ModeAvailable, "a")
	other := testpki.MustChain(f.now, testpki.ECDSAP256, "mail.example.test")
	req.Key = other.Leaf.KeyPEM() // the classic: a key from another CSR
	r := f.run(req)
	if r.Applied || r.FailedStep != StepValidate || r.Field == "" {
		t.Fatalf("result %+v, want a validate failure naming a field", r)
	}
	if !strings.Contains(strings.ToLower(r.Message), "key") {
		t.Errorf("message %q does not talk about the key", r.Message)
	}
	if _, err := os.Stat(f.dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a paste with errors created the config directory: %v", err)
	}
	if cur, _ := config.CurrentGeneration(f.dir); cur != "" {
		t.Errorf("current set to %s", cur)
	}
	if _, running := f.l.serving(); running {
		t.Errorf("listener started for a config that did not validate")
	}
}

func TestRequiredNeedsConfirmation(t *testing.T) {
	f := newFixture(t)
	req := f.request(config.ModeRequired, "a")
	req.ConfirmRequired = false
	r := f.run(req)
	if r.Applied || r.FailedStep != StepValidate || !strings.Contains(r.Message, "loses mail") || !strings.Contains(r.Message, "--yes") {
		t.Fatalf("result %+v", r)
	}
	if gens, _ := config.ListGenerations(f.dir); len(gens) != 0 {
		t.Errorf("written anyway: %v", gens)
	}
	// A dry run previews without the confirmation, and says it will need it.
	req.DryRun = true
	r = f.run(req)
	if r.FailedStep != "" || len(r.Changes) == 0 || !strings.Contains(strings.Join(r.Warnings, " "), "--yes") {
		t.Errorf("dry run of required without confirmation: %+v", r)
	}
}

func TestTLSModeWithoutCertificateSaysWhatToPass(t *testing.T) {
	f := newFixture(t)
	r := f.run(Request{ConfigDir: f.dir, Mode: config.ModeAvailable})
	if r.FailedStep != StepValidate || r.Field != validate.FieldCertificate || !strings.Contains(r.Message, "--cert") {
		t.Fatalf("result %+v", r)
	}
}

func TestRefusedReloadRollsBack(t *testing.T) {
	f := newFixture(t)
	old := f.mustApply(f.request(config.ModeAvailable, "a"))
	f.l.refuse = func(l config.Loaded) error {
		if l.Settings.Listen == "127.0.0.1:2626" {
			return errors.New("listen tcp 127.0.0.1:2626: bind: address already in use")
		}
		return nil
	}
	req := f.request(config.ModeAvailable, "b")
	req.Listen = "127.0.0.1:2626"
	r := f.run(req)
	if r.Applied || !r.RolledBack || r.FailedStep != StepReload {
		t.Fatalf("result %+v", r)
	}
	for _, want := range []string{"refused", "address already in use", "another program already listens on 127.0.0.1:2626", "rolled back", old.Generation, "serves again"} {
		if !strings.Contains(r.Message, want) {
			t.Errorf("message %q lacks %q", r.Message, want)
		}
	}
	if l := f.loaded(); l.Generation != old.Generation {
		t.Errorf("installed %s after rollback, want %s", l.Generation, old.Generation)
	}
	if st, _ := f.l.serving(); st.Fingerprint != f.fp("a") {
		t.Errorf("listener serves %s, want the old certificate", st.Fingerprint)
	}
	if got := stepNames(f.steps); !strings.HasSuffix(got, "reload:failed rollback:running rollback:ok") {
		t.Errorf("steps %s", got)
	}
}

func TestFailedVerifyRollsBack(t *testing.T) {
	f := newFixture(t)
	old := f.mustApply(f.request(config.ModeAvailable, "a"))
	f.p.breakFingerprint = true
	r := f.run(f.request(config.ModeAvailable, "b"))
	if r.Applied || !r.RolledBack || r.FailedStep != StepVerify || r.Verify == nil {
		t.Fatalf("result %+v", r)
	}
	if !strings.Contains(r.Message, "fingerprint") {
		t.Errorf("message %q does not say which stage failed", r.Message)
	}
	if l := f.loaded(); l.Generation != old.Generation {
		t.Errorf("installed %s, want %s", l.Generation, old.Generation)
	}
	if st, _ := f.l.serving(); st.Generation != old.Generation || st.Fingerprint != f.fp("a") {
		t.Errorf("listener serves %+v after rollback", st)
	}
}

func TestFirstApplyFailingLeavesNoListener(t *testing.T) {
	f := newFixture(t)
	f.p.breakFingerprint = true
	r := f.run(f.request(config.ModeAvailable, "a"))
	if !r.RolledBack || r.FailedStep != StepVerify {
		t.Fatalf("result %+v", r)
	}
	if _, running := f.l.serving(); running {
		t.Errorf("the listener this apply started is still running after the rollback")
	}
	if l := f.loaded(); l.Generation != "" || l.Settings.Mode != config.ModeDisabled {
		t.Errorf("after rolling back the first apply: %s %s, want the defaults", l.Generation, l.Settings.Mode)
	}
	if !strings.Contains(r.Message, "no listener was running before") {
		t.Errorf("message %q", r.Message)
	}
}

func TestListenerThatWillNotStart(t *testing.T) {
	f := newFixture(t)
	f.l.refuse = func(config.Loaded) error { return errors.New("bind: permission denied") }
	r := f.run(f.request(config.ModeAvailable, "a"))
	if !r.RolledBack || r.FailedStep != StepReload || !strings.Contains(r.Message, "permission denied") || !strings.Contains(r.Message, "CAP_NET_BIND_SERVICE") {
		t.Fatalf("result %+v", r)
	}
}

func TestDisabledKeepsCertificateForLater(t *testing.T) {
	f := newFixture(t)
	f.mustApply(f.request(config.ModeAvailable, "a"))
	r := f.mustApply(Request{ConfigDir: f.dir, Mode: config.ModeDisabled})
	l := f.loaded()
	if l.Settings.Mode != config.ModeDisabled || leafFingerprint(l.CertPEM) != f.fp("a") {
		t.Errorf("disabled generation: mode %s cert %s", l.Settings.Mode, leafFingerprint(l.CertPEM))
	}
	if !f.p.calls[len(f.p.calls)-1].Disabled || !strings.Contains(r.Message, "without STARTTLS") {
		t.Errorf("disabled apply verified as %+v: %s", f.p.calls[len(f.p.calls)-1], r.Message)
	}
	// Back to available without pasting anything: the kept certificate.
	f.mustApply(Request{ConfigDir: f.dir, Mode: config.ModeAvailable})
	if st, _ := f.l.serving(); st.Fingerprint != f.fp("a") {
		t.Errorf("re-enabled with %s, want the kept certificate", st.Fingerprint)
	}
}

func TestDisablingIsNotBlockedByAnExpiredCertificate(t *testing.T) {
	f := newFixture(t)
	f.mustApply(f.request(config.ModeAvailable, "a"))
	f.now = f.now.AddDate(11, 0, 0) // long after testpki's ten years
	f.mustApply(Request{ConfigDir: f.dir, Mode: config.ModeDisabled})
	// ...but switching TLS on with it is.
	r := f.run(Request{ConfigDir: f.dir, Mode: config.ModeAvailable})
	if r.Applied || r.FailedStep != StepValidate || !strings.Contains(strings.ToLower(r.Message), "expire") {
		t.Errorf("available with an expired certificate: %+v", r)
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	f := newFixture(t)
	req := f.request(config.ModeAvailable, "a")
	req.DryRun = true
	r := f.run(req)
	if r.Applied || r.FailedStep != "" || !r.DryRun {
		t.Fatalf("result %+v", r)
	}
	if _, err := os.Stat(f.dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("dry run created the config dir: %v", err)
	}
	got := map[string]Change{}
	for _, c := range r.Changes {
		got[c.What] = c
	}
	if c := got["mode"]; c.Old != "disabled" || c.New != "available" {
		t.Errorf("mode change %+v", c)
	}
	if c := got["certificate"]; c.Old != "(none)" || c.New != "sha256:"+f.fp("a") {
		t.Errorf("certificate change %+v", c)
	}
	if c := got["key"]; c.New != "new key" {
		t.Errorf("key change %+v", c)
	}
	// A second dry run over an installed config shows only what differs.
	f.mustApply(f.request(config.ModeAvailable, "a"))
	req = f.request(config.ModeAvailable, "a")
	req.Hostname = "mx2.example.test"
	req.DryRun = true
	r = f.run(req)
	if len(r.Changes) != 1 || r.Changes[0].What != "hostname" || r.Changes[0].Old != "mail.example.test" {
		t.Errorf("changes %+v, want only the hostname", r.Changes)
	}
}

func TestLockHeldIsAnEnvironmentError(t *testing.T) {
	f := newFixture(t)
	st, err := config.OpenStore(f.dir, f.deps.Host)
	if err != nil {
		t.Fatal(err)
	}
	lock, err := st.Lock("smtptls setup (the wizard)")
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Unlock()
	r := f.run(f.request(config.ModeAvailable, "a"))
	if r.Applied || !r.EnvironmentError || r.LockHolder == nil || r.LockHolder.Command != "smtptls setup (the wizard)" {
		t.Fatalf("result %+v", r)
	}
	if !strings.Contains(r.Message, "smtptls setup (the wizard)") {
		t.Errorf("message %q does not name the holder", r.Message)
	}
	if gens, _ := config.ListGenerations(f.dir); len(gens) != 0 {
		t.Errorf("wrote while locked out: %v", gens)
	}
}

// TestCrashAtEveryStep stops the transaction before each step, as a dying
// process would, and checks the directory loads, holds the old or the new
// generation, and that the next apply cleans up and succeeds.
func TestCrashAtEveryStep(t *testing.T) {
	for _, at := range []StepName{StepValidate, StepWrite, StepSwitch, StepReload, StepVerify, StepDone, StepRollback} {
		t.Run(string(at), func(t *testing.T) {
			f := newFixture(t)
			old := f.mustApply(f.request(config.ModeAvailable, "a"))
			if at == StepRollback {
				f.p.breakFingerprint = true // reach the rollback step
			}
			f.deps.Hook = func(s StepName) error {
				if s == at {
					return errors.New("killed")
				}
				return nil
			}
			r := f.run(f.request(config.ModeRequired, "b"))
			if r.Applied || r.FailedStep != at {
				t.Fatalf("result %+v", r)
			}
			l := f.loaded()
			switch l.Generation {
			case old.Generation:
				if leafFingerprint(l.CertPEM) != f.fp("a") || l.Settings.Mode != config.ModeAvailable {
					t.Errorf("old generation with new content")
				}
			case r.Generation:
				if leafFingerprint(l.CertPEM) != f.fp("b") || l.Settings.Mode != config.ModeRequired {
					t.Errorf("new generation with old content")
				}
			default:
				t.Errorf("loads generation %q: neither old %s nor new %s", l.Generation, old.Generation, r.Generation)
			}
			switchedYet := at == StepReload || at == StepVerify || at == StepDone || at == StepRollback
			if switchedYet != (l.Generation == r.Generation) {
				t.Errorf("crash before %s left generation %s live", at, l.Generation)
			}
			f.deps.Hook = nil
			f.p.breakFingerprint = false
			next := f.mustApply(f.request(config.ModeAvailable, "c"))
			ents, _ := os.ReadDir(filepath.Join(f.dir, config.GenerationsDir))
			for _, e := range ents {
				if strings.HasPrefix(e.Name(), ".") {
					t.Errorf("leftover %s after the next apply", e.Name())
				}
			}
			if st, _ := f.l.serving(); st.Generation != next.Generation {
				t.Errorf("listener serves %s after recovery apply %s", st.Generation, next.Generation)
			}
		})
	}
}

func TestKeepsFiveGenerations(t *testing.T) {
	f := newFixture(t)
	for i := 0; i < 8; i++ {
		f.mustApply(f.request(config.ModeAvailable, string(rune('a'+i))))
	}
	gens, _ := config.ListGenerations(f.dir)
	if len(gens) != config.KeepGenerations {
		t.Errorf("%d generations kept, want %d", len(gens), config.KeepGenerations)
	}
}

func TestSameApplyTwiceWritesNothing(t *testing.T) {
	f := newFixture(t)
	first := f.mustApply(f.request(config.ModeAvailable, "a"))
	r := f.mustApply(f.request(config.ModeAvailable, "a"))
	if !r.Unchanged || r.Generation != first.Generation || !strings.Contains(r.Message, "already serving this configuration") {
		t.Errorf("second identical apply: %+v", r)
	}
	if gens, _ := config.ListGenerations(f.dir); len(gens) != 1 {
		t.Errorf("%d generations after two identical applies, want 1", len(gens))
	}
	// The listener stopped: the same apply starts it on the same
	// generation, still without writing one.
	f.l.Stop(context.Background(), f.dir)
	r = f.mustApply(f.request(config.ModeAvailable, "a"))
	if r.Unchanged || r.Generation != first.Generation {
		t.Errorf("identical apply with the listener down: %+v", r)
	}
	if st, ok := f.l.serving(); !ok || st.Generation != first.Generation {
		t.Errorf("listener after the apply: %+v %v", st, ok)
	}
	if gens, _ := config.ListGenerations(f.dir); len(gens) != 1 {
		t.Errorf("%d generations, want 1", len(gens))
	}
	// A live generation never verified (an apply killed after the switch)
	// is verified by the next identical apply, and marked so.
	st, _ := config.OpenStore(f.dir, f.deps.Host)
	st.Mark(first.Generation, config.StatusPending, "")
	r = f.mustApply(f.request(config.ModeAvailable, "a"))
	if r.Unchanged || r.Verify == nil {
		t.Errorf("identical apply over a pending generation did not verify: %+v", r)
	}
	if gens, _ := config.ListGenerations(f.dir); len(gens) != 1 || gens[0].Status != config.StatusVerified {
		t.Errorf("generations after verifying the pending one: %+v", gens)
	}
}

func TestResultJSONCarriesNoKey(t *testing.T) {
	f := newFixture(t)
	var logs strings.Builder
	f.deps.Log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	req := f.request(config.ModeAvailable, "a")
	r := f.mustApply(req)
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "step=verify status=ok") {
		t.Errorf("steps not logged:\n%s", logs.String())
	}
	assertNoKey(t, string(b)+fmtSteps(f.steps)+logs.String(), req.Key)
	req.DryRun = true
	other := testpki.MustChain(f.now, testpki.ECDSAP256, "mail.example.test")
	req.Cert, req.Key = other.Leaf.PEM(), other.Leaf.KeyPEM()
	r = f.run(req)
	b, _ = json.Marshal(r)
	assertNoKey(t, string(b), req.Key)
	assertNoKey(t, string(b), f.chains["a"].Leaf.KeyPEM())
}

func fmtSteps(steps []Step) string {
	b, _ := json.Marshal(steps)
	return string(b)
}

// assertNoKey fails when any line of the key's base64 body appears in out.
func assertNoKey(t *testing.T, out string, keyPEM []byte) {
	t.Helper()
	for _, line := range strings.Split(string(keyPEM), "\n") {
		if strings.HasPrefix(line, "-----") || len(line) < 16 {
			continue
		}
		if strings.Contains(out, line) || strings.Contains(out, line[:16]) {
			t.Fatalf("output contains key material %q", line[:16])
		}
	}
}

func TestCancelledApplyStillRollsBack(t *testing.T) {
	f := newFixture(t)
	old := f.mustApply(f.request(config.ModeAvailable, "a"))
	ctx, cancel := context.WithCancel(context.Background())
	f.p.breakFingerprint = true
	f.deps.Hook = func(s StepName) error {
		if s == StepVerify {
			cancel() // Ctrl-C while verifying
		}
		return nil
	}
	r := Run(ctx, f.deps, f.request(config.ModeAvailable, "b"), nil)
	if !r.RolledBack {
		t.Fatalf("result %+v", r)
	}
	if st, _ := f.l.serving(); st.Generation != old.Generation {
		t.Errorf("listener serves %s, want %s", st.Generation, old.Generation)
	}
}

// wedged is a listener that holds its control socket but never answers.
type wedged struct{ *fakeListener }

func (w wedged) State(ctx context.Context, dir string) (ListenerState, error) {
	return ListenerState{}, errors.New("control socket: read state reply: i/o timeout")
}

func (w wedged) Reload(ctx context.Context, dir string) (ReloadOutcome, error) {
	return ReloadOutcome{}, errors.New("control socket: read reload reply: i/o timeout")
}

func TestWedgedListenerIsAnEnvironmentError(t *testing.T) {
	f := newFixture(t)
	old := f.mustApply(f.request(config.ModeAvailable, "a"))
	f.deps.Reloader = wedged{f.l}
	r := f.run(f.request(config.ModeAvailable, "b"))
	if r.Applied || r.RolledBack || !r.EnvironmentError || r.FailedStep != StepReload {
		t.Fatalf("result %+v", r)
	}
	if f.l.starts != 1 {
		t.Errorf("started a second listener beside a wedged one")
	}
	for _, want := range []string{"i/o timeout", "smtptls status"} {
		if !strings.Contains(r.Message, want) {
			t.Errorf("message %q lacks %q", r.Message, want)
		}
	}
	if l := f.loaded(); l.Generation != old.Generation {
		t.Errorf("installed %s, want the old %s switched back", l.Generation, old.Generation)
	}
}

// TestEncryptedKeyIsStoredDecrypted: the listener cannot ask for a pass
// phrase at start (the crash loop admins know), so apply stores the key
// decrypted, 0600, and the pass phrase goes nowhere.
func TestEncryptedKeyIsStoredDecrypted(t *testing.T) {
	f := newFixture(t)
	req := f.request(config.ModeAvailable, "a")
	pass := []byte("correct horse battery staple")
	enc, err := pkcs8.MarshalPrivateKey(f.chains["a"].Leaf.Key, pass, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Key = pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: enc})

	noPass := req
	noPass.Passphrase = nil
	if r := f.run(noPass); r.Applied || r.Field != validate.FieldKey {
		t.Fatalf("encrypted key without a pass phrase: %+v", r)
	}
	req.Passphrase = pass
	r := f.mustApply(req)
	l := f.loaded()
	if !strings.Contains(string(l.KeyPEM), "-----BEGIN PRIVATE KEY-----") {
		t.Errorf("stored key is not plain PKCS#8: %.40q", l.KeyPEM)
	}
	b, _ := json.Marshal(r)
	if strings.Contains(string(b)+fmtSteps(f.steps), string(pass)) {
		t.Errorf("the pass phrase appears in the result")
	}
}

func TestUnwritableConfigDirSaysWhatToDo(t *testing.T) {
	// Tests run as root in CI, where no directory is unwritable; the error
	// OpenStore returns for a non-root admin is built here instead.
	err := fmt.Errorf("create config directory: %w", &fs.PathError{Op: "mkdir", Path: "/etc/smtptls", Err: syscall.EACCES})
	msg := storeError(err, "/etc/smtptls")
	if !strings.Contains(msg, "permission denied") || !strings.Contains(msg, "--config-dir") || !strings.Contains(msg, "root") {
		t.Errorf("message %q", msg)
	}
	if msg := storeError(errors.New("config directory /x is not a directory"), "/x"); strings.Contains(msg, "--config-dir") {
		t.Errorf("hint added to an unrelated error: %q", msg)
	}
}

func TestParallelAppliesNeverMix(t *testing.T) {
	f := newFixture(t)
	f.mustApply(f.request(config.ModeAvailable, "a"))
	reqs := []Request{f.request(config.ModeRequired, "b"), f.request(config.ModeAvailable, "c"), f.request(config.ModeRequired, "d"), f.request(config.ModeAvailable, "e")}
	results := make([]Result, len(reqs))
	var wg sync.WaitGroup
	for i := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = Run(context.Background(), f.deps, reqs[i], nil)
		}()
	}
	wg.Wait()
	applied := 0
	for i, r := range results {
		switch {
		case r.Applied:
			applied++
		case r.EnvironmentError && r.LockHolder != nil && r.LockHolder.Pid == os.Getpid():
		default:
			t.Errorf("apply %d: neither applied nor locked out: %+v", i, r)
		}
	}
	if applied == 0 {
		t.Fatal("no apply won")
	}
	l := f.loaded()
	for tag, ch := range f.chains {
		if leafFingerprint(l.CertPEM) == leafFingerprint(ch.Leaf.PEM()) {
			want := config.ModeAvailable
			if tag == "b" || tag == "d" {
				want = config.ModeRequired
			}
			if l.Settings.Mode != want {
				t.Errorf("live generation mixes mode %s with certificate %s", l.Settings.Mode, tag)
			}
		}
	}
	if st, _ := f.l.serving(); st.Generation != l.Generation {
		t.Errorf("listener serves %s, installed %s", st.Generation, l.Generation)
	}
}

// TestRenewalWithOnlyANewCertificate is the commonest real apply: the CA
// renewed the certificate on the same key and intermediate, and the admin
// passes only --cert. The installed key and bundle are kept.
func TestRenewalWithOnlyANewCertificate(t *testing.T) {
	f := newFixture(t)
	f.mustApply(f.request(config.ModeAvailable, "a"))
	ch := f.chains["a"]
	renewed, err := ch.Intermediate.Issue(testpki.Template{CommonName: "mail.example.test", DNSNames: []string{"mail.example.test"}, Key: ch.Leaf.Key, Now: f.now})
	if err != nil {
		t.Fatal(err)
	}
	r := f.mustApply(Request{ConfigDir: f.dir, Mode: config.ModeAvailable, Cert: renewed.PEM()})
	l := f.loaded()
	if leafFingerprint(l.CertPEM) != leafFingerprint(renewed.PEM()) || r.Fingerprint != leafFingerprint(renewed.PEM()) {
		t.Errorf("renewed certificate not installed")
	}
	if string(l.KeyPEM) != string(ch.Leaf.KeyPEM()) {
		t.Errorf("installed key not kept")
	}
	if st, _ := f.l.serving(); st.Fingerprint != leafFingerprint(renewed.PEM()) {
		t.Errorf("listener serves %s", st.Fingerprint)
	}
	// A renewal on a new key without --key: the kept key does not match,
	// and validate says so before anything is written.
	other := testpki.MustChain(f.now, testpki.ECDSAP256, "mail.example.test")
	gens, _ := config.ListGenerations(f.dir)
	r = f.run(Request{ConfigDir: f.dir, Mode: config.ModeAvailable, Cert: other.Leaf.PEM(), CA: other.Bundle()})
	if r.Applied || r.FailedStep != StepValidate {
		t.Errorf("mismatched renewal: %+v", r)
	}
	if after, _ := config.ListGenerations(f.dir); len(after) != len(gens) {
		t.Errorf("a refused renewal wrote a generation")
	}
}

// TestAnotherApplyWhileWaitingIsBuiltOn: validation runs before the lock,
// so an apply that finished meanwhile must be what this one replaces and
// carries over from, not the state seen before.
func TestAnotherApplyWhileWaitingIsBuiltOn(t *testing.T) {
	f := newFixture(t)
	first := f.mustApply(f.request(config.ModeAvailable, "a"))
	var sneaked Result
	f.deps.Hook = func(s StepName) error {
		if s == StepValidate && sneaked.Generation == "" {
			// Runs after this apply validated, before it re-reads under
			// the lock: the lock is ours, so the other apply goes through
			// the store directly, as a racing process would have.
			d := f.deps
			d.Hook = nil
			st, _ := config.OpenStore(f.dir, d.Host)
			l := f.loaded()
			l.Settings.Hostname = "mx2.example.test"
			gen, err := st.Stage(l.Settings, config.MaterialOf(l))
			if err != nil {
				return err
			}
			sneaked.Generation = gen
			return st.Activate(gen)
		}
		return nil
	}
	// Only a new listen address: everything else comes from what is live.
	r := f.mustApply(Request{ConfigDir: f.dir, Mode: config.ModeAvailable, Listen: "127.0.0.1:2626"})
	if r.Previous != sneaked.Generation || r.Previous == first.Generation {
		t.Errorf("previous %s, want the generation applied meanwhile %s", r.Previous, sneaked.Generation)
	}
	if l := f.loaded(); l.Settings.Hostname != "mx2.example.test" || l.Settings.Listen != "127.0.0.1:2626" {
		t.Errorf("carried over hostname %s listen %s", l.Settings.Hostname, l.Settings.Listen)
	}
}

// An apply killed while staging or pruning leaves a dot-directory behind;
// the next apply tidies it even when it has nothing to write.
func TestSameApplyTwiceTidiesWhatAKilledApplyLeft(t *testing.T) {
	f := newFixture(t)
	f.mustApply(f.request(config.ModeAvailable, "a"))
	debris := filepath.Join(f.dir, config.GenerationsDir, ".removing-20261101T000000Z-0001")
	if err := os.MkdirAll(debris, 0o700); err != nil {
		t.Fatal(err)
	}
	r := f.mustApply(f.request(config.ModeAvailable, "a"))
	if !r.Unchanged {
		t.Fatalf("second identical apply wrote something: %+v", r)
	}
	if _, err := os.Stat(debris); !os.IsNotExist(err) {
		t.Errorf("debris of a killed apply still there after an apply that wrote nothing: %v", err)
	}
}
