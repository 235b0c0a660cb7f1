package apply

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/smtptls/smtptls/config"
	"github.com/smtptls/smtptls/probe"
	"github.com/smtptls/smtptls/validate"
)

// rollbackBudget bounds the rollback after a failure. It runs on a context
// of its own: an admin pressing Ctrl-C mid-apply must still get the old
// configuration back.
const rollbackBudget = 30 * time.Second

// A listener that accepts on its control socket but never answers must not
// hang an apply: these bound each request to it.
const (
	stateTimeout   = 10 * time.Second
	controlTimeout = 30 * time.Second // a reload or a start, which binds and loads keys
)

// txn is one switch from the live generation to another, with the way back.
type txn struct {
	d        Deps
	ctx      context.Context
	dir      string
	store    *config.Store
	progress func(Step)
	res      *Result

	prev   string // generation live before; "" when none was
	prevFP string // its leaf fingerprint
	// prevLoaded is what was live before (zero when nothing was, or it
	// could not be read): what the target's Restore brings back.
	prevLoaded config.Loaded
	target     config.Loaded
	// tgt makes target live: the bundled listener or Postfix.
	tgt      Target
	verifyAt string // --listen for a Postfix target: where to verify
	switched bool
	// staged: the generation was written by this transaction (apply, set),
	// so a failure marks it failed in its manifest.
	staged bool
	// forced says what --force overrode; "" when the gate passed.
	forced string
	// force: the admin passed --force (another user's config dir may be
	// written to; for rollback, the gate too).
	force bool
}

// errCrash is returned when a Hook stops the transaction: nothing after it
// runs, as if the process had died there.
type errCrash struct {
	step StepName
	err  error
}

func (e *errCrash) Error() string { return fmt.Sprintf("stopped before %s: %v", e.step, e.err) }

func (t *txn) report(name StepName, st StepStatus, detail string) {
	s := Step{Name: name, Status: st, Detail: detail}
	if st != StepRunning {
		t.res.Steps = append(t.res.Steps, s)
		// Details name generations, addresses and fingerprints, never key
		// material, so they are safe in any log.
		lvl := slog.LevelInfo
		if st == StepFailed {
			lvl = slog.LevelWarn
		}
		t.d.Log.Log(t.ctx, lvl, "apply step", "dir", t.dir, "step", string(name), "status", string(st), "detail", detail)
	}
	if t.progress != nil {
		t.progress(s)
	}
}

// begin runs the hook and announces the step.
func (t *txn) begin(name StepName) error {
	if t.d.Hook != nil {
		if err := t.d.Hook(name); err != nil {
			return &errCrash{step: name, err: err}
		}
	}
	t.report(name, StepRunning, "")
	return nil
}

// fail ends the result at a step that failed before anything changed.
func (t *txn) fail(name StepName, msg string) Result {
	t.report(name, StepFailed, msg)
	t.res.FailedStep = name
	t.res.Message = msg
	return *t.res
}

// crashed records a hook stop: no rollback, the caller inspects the disk.
func (t *txn) crashed(err error) Result {
	var c *errCrash
	errors.As(err, &c)
	t.res.FailedStep = c.step
	t.res.Message = err.Error()
	return *t.res
}

// prepare picks the target of t.target and lets it look before anything
// is written: it may refuse (Postfix not running), and its plan says what
// else will change and which files to stage.
func (t *txn) prepare() (Plan, bool) {
	tgt, err := targetFor(t.d, t.dir, t.target.Settings, t.verifyAt)
	if err == nil && t.prevLoaded.Generation != "" && t.prevLoaded.Settings.TargetName() == config.TargetPostfix && tgt.Name() != config.TargetPostfix {
		err = &targetError{fmt.Sprintf("the live configuration (generation %s) configures Postfix; switching this config directory to the %s listener is not supported: Postfix's main.cf names files in it", t.prevLoaded.Generation, tgt.Name())}
	}
	if err == nil {
		t.tgt = tgt
		var plan Plan
		if plan, err = tgt.Prepare(t.ctx, t.prevLoaded, t.target); err == nil {
			return plan, true
		}
	}
	var te *targetError
	if errors.As(err, &te) {
		t.res.EnvironmentError = true
	}
	t.res.Message = err.Error()
	return Plan{}, false
}

// switchReloadVerify makes t.target live and proves it serves. On failure it
// switches back to t.prev and restores the target. gen is the generation to
// activate (staged or existing); t.tgt has been prepared.
func (t *txn) switchReloadVerify(gen string) Result {
	if err := t.begin(StepSwitch); err != nil {
		return t.crashed(err)
	}
	if err := t.store.Activate(gen); err != nil {
		t.res.EnvironmentError = true
		return t.rollback(StepSwitch, fmt.Sprintf("switching to generation %s failed: %v", gen, err))
	}
	t.switched = true
	what := "now current"
	if t.prev != "" {
		what += ", replacing " + t.prev
	}
	t.report(StepSwitch, StepOK, fmt.Sprintf("generation %s %s", gen, what))

	if err := t.begin(StepReload); err != nil {
		return t.crashed(err)
	}
	t.target.Generation = gen
	act, err := t.tgt.Activate(t.ctx, t.target)
	if err != nil {
		return t.rollback(StepReload, err.Error())
	}
	listen := act.Listen
	t.res.Listen = listen
	t.report(StepReload, StepOK, act.Detail)

	if err := t.begin(StepVerify); err != nil {
		return t.crashed(err)
	}
	msg, ok := t.verify(act)
	if ok {
		msg, ok = t.verifyNextHop(msg)
	}
	if !ok {
		return t.rollback(StepVerify, msg)
	}
	t.report(StepVerify, StepOK, msg)

	if err := t.begin(StepDone); err != nil {
		return t.crashed(err)
	}
	// Recording the verdict and pruning touch different directories, and
	// each waits on the disk: do both at once. Neither can undo the apply.
	var markErr error
	marked := make(chan struct{})
	go func() {
		defer close(marked)
		if t.forced == "" {
			markErr = t.store.Mark(gen, config.StatusVerified, "")
		}
	}()
	pruneErr := t.store.Prune(t.prev)
	<-marked
	if markErr != nil {
		t.res.Warnings = append(t.res.Warnings, "recording the generation as verified failed: "+markErr.Error())
	}
	if pruneErr != nil {
		// The new config is live and verified; old generations piling up
		// is worth a word, not a rollback.
		t.res.Warnings = append(t.res.Warnings, "pruning old generations failed: "+pruneErr.Error())
	}
	t.res.Applied = true
	t.res.Message = fmt.Sprintf("generation %s is live and verified: %s", gen, serving(t.target, listen))
	detail := "live and verified"
	if t.forced != "" {
		// Honest about what was overridden: it answers, it is not sound.
		t.res.Message = fmt.Sprintf("generation %s is live but FORCED past the checks (see the warnings), so it is NOT sound: %s", gen, serving(t.target, listen))
		detail = "live, FORCED past the checks"
	}
	if gens, err := t.store.Generations(); err == nil {
		detail += fmt.Sprintf("; %d generation(s) on disk for rollback", len(gens))
	}
	t.report(StepDone, StepOK, detail)
	return *t.res
}

// serving describes what the listener now does, for the final sentence.
func serving(l config.Loaded, listen string) string {
	s := l.Settings
	if !s.Mode.NeedsCertificate() {
		return fmt.Sprintf("%s accepts mail on %s without STARTTLS (mode disabled)", s.Hostname, listen)
	}
	return fmt.Sprintf("%s serves certificate %s on %s (mode %s)", s.Hostname, shortFP(leafFingerprint(l.CertPEM)), listen, s.Mode)
}

// mustPass are the verify stages that prove the listener does what was
// installed; each must have run and not failed. Certificate quality (trust,
// host name, expiry) was judged by validate, which may have let a warning
// through on purpose, so those only warn here.
func mustPass(vr VerifyRequest) []string {
	s := []string{probe.StageConnect, probe.StageBanner, probe.StageEHLO, probe.StageSTARTTLS}
	if vr.Disabled {
		return s // with ExpectDisabled, starttls passes when it is not offered
	}
	s = append(s, probe.StageHandshake, probe.StageFingerprint)
	if vr.Required {
		s = append(s, probe.StageRequired)
	}
	return s
}

func (t *txn) verify(act Activation) (string, bool) {
	s := t.target.Settings
	vr := VerifyRequest{
		Target:      act.Dial,
		Hostname:    s.Hostname,
		Roots:       t.roots(),
		Fingerprint: leafFingerprint(t.target.CertPEM),
		Required:    s.Mode == config.ModeRequired,
		Disabled:    s.Mode == config.ModeDisabled,
		Timeout:     t.d.VerifyTimeout,
		Now:         t.d.Now(),
	}
	if vr.Disabled {
		vr.Fingerprint = ""
	}
	// A target whose old processes finish their sessions first (Postfix)
	// may answer with the old configuration for a moment (old certificate,
	// no STARTTLS, plaintext still accepted): look again until Settle.
	deadline := time.Now().Add(act.Settle)
	for {
		msg, ok, warned := t.verifyOnce(vr)
		if ok || time.Now().After(deadline) || t.ctx.Err() != nil {
			t.res.Warnings = append(t.res.Warnings, warned...)
			return msg, ok
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// verifyOnce runs the receiver test once.
func (t *txn) verifyOnce(vr VerifyRequest) (msg string, ok bool, warned []string) {
	rep := t.d.Prober.Probe(t.ctx, vr)
	t.res.Verify = &rep
	var failed []string
	if len(rep.Hosts) != 1 {
		failed = append(failed, fmt.Sprintf("the receiver test reached %d hosts at %s, expected exactly one", len(rep.Hosts), vr.Target))
	} else {
		h := rep.Hosts[0]
		seen := map[string]probe.Stage{}
		for _, st := range h.Stages {
			seen[st.Name] = st
		}
		need := map[string]bool{}
		for _, name := range mustPass(vr) {
			need[name] = true
			st, ok := seen[name]
			switch {
			case !ok:
				failed = append(failed, name+": not reported")
			case st.Status == probe.Fail || st.Status == probe.Skip:
				failed = append(failed, name+": "+st.Detail)
			}
		}
		for _, st := range h.Stages {
			if !need[st.Name] && (st.Status == probe.Fail || st.Status == probe.Warn) {
				warned = append(warned, "verify "+st.Name+": "+st.Detail)
			}
		}
	}
	if len(failed) > 0 {
		return "verification against " + vr.Target + " failed: " + strings.Join(failed, "; "), false, warned
	}
	switch {
	case vr.Disabled:
		return fmt.Sprintf("%s answers and does not offer STARTTLS, as mode disabled says", vr.Target), true, warned
	case vr.Required:
		return fmt.Sprintf("%s serves certificate %s and refuses mail without STARTTLS", vr.Target, shortFP(vr.Fingerprint)), true, warned
	}
	return fmt.Sprintf("%s serves certificate %s over STARTTLS", vr.Target, shortFP(vr.Fingerprint)), true, warned
}

// roots trusts the CA material of the target, plus the system roots unless
// that material carries its own root: a private CA's chain verifies like a
// public one, and the system store is read only when needed.
func (t *txn) roots() *x509.CertPool {
	base := t.d.Roots
	if base == nil && !hasOwnRoot(t.target.CAPEM) {
		base = validate.SystemRoots()
	}
	pool := x509.NewCertPool()
	if base != nil {
		pool = base.Clone()
	}
	pool.AppendCertsFromPEM(t.target.CAPEM)
	return pool
}

// hasOwnRoot reports whether caPEM holds a self-signed CA certificate.
func hasOwnRoot(caPEM []byte) bool {
	for rest := caPEM; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return false
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err == nil && c.IsCA && c.CheckSignatureFrom(c) == nil {
			return true
		}
	}
}

// rollback switches back to t.prev after a failure at step, reloads, and
// says what happened in one message.
func (t *txn) rollback(step StepName, why string) Result {
	t.report(step, StepFailed, why)
	t.res.FailedStep = step
	if !t.switched {
		t.res.Message = why + "; nothing was switched, the previous configuration stays in place"
		return *t.res
	}
	if err := t.begin(StepRollback); err != nil {
		return t.crashed(err)
	}
	// Our own budget: the caller's context may be what just failed.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.ctx), rollbackBudget)
	defer cancel()

	var err error
	back := describeGen(t.prev)
	if u, ok := t.tgt.(unwriter); ok {
		// Undo what points into the store before the store moves: a crash
		// in between must never leave main.cf naming a file that is gone.
		if err := u.Unwrite(ctx); err != nil {
			t.res.Warnings = append(t.res.Warnings, err.Error())
		}
	}
	if t.prev == "" {
		err = t.store.Deactivate()
	} else {
		err = t.store.Activate(t.prev)
	}
	if err != nil {
		msg := fmt.Sprintf("%s; switching back to %s FAILED too: %v; run `smtptls status` and `smtptls rollback`", why, back, err)
		t.report(StepRollback, StepFailed, err.Error())
		t.res.Message = msg
		t.res.EnvironmentError = true
		return *t.res
	}

	detail, ok := t.tgt.Restore(ctx, t.prevLoaded)
	if !ok {
		t.res.EnvironmentError = true
	}
	t.res.RolledBack = !t.res.EnvironmentError
	if t.staged {
		// History keeps the good: a failed generation is never what a
		// plain rollback picks, and it is pruned first.
		if err := t.store.Mark(t.res.Generation, config.StatusFailed, why); err != nil {
			t.res.Warnings = append(t.res.Warnings, "recording the generation as failed: "+err.Error())
		}
		if err := t.store.Prune(t.prev); err != nil {
			t.res.Warnings = append(t.res.Warnings, "pruning old generations failed: "+err.Error())
		}
	}
	st := StepOK
	if !t.res.RolledBack {
		st = StepFailed
	}
	t.report(StepRollback, st, detail)
	t.res.Message = why + "; rolled back: " + detail
	return *t.res
}

// dialAddr turns the listen setting and the address actually bound into
// something to dial: a wildcard host becomes loopback, the port is the one
// bound (it differs when the setting said port 0).
func dialAddr(setting, bound string) string {
	host, port, err := net.SplitHostPort(setting)
	if err != nil {
		return bound
	}
	if _, bp, err := net.SplitHostPort(bound); err == nil {
		port = bp
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port)
}

// leafFingerprint is the SHA-256 hex of the first certificate in certPEM.
func leafFingerprint(certPEM []byte) string {
	for rest := certPEM; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return ""
		}
		if b.Type == "CERTIFICATE" {
			sum := sha256.Sum256(b.Bytes)
			return hex.EncodeToString(sum[:])
		}
	}
}

func shortFP(fp string) string {
	if len(fp) > 16 {
		return "sha256:" + fp[:16] + "…"
	}
	if fp == "" {
		return "(none)"
	}
	return "sha256:" + fp
}

// bindHint says what to do about the two ways a listen address fails that
// admins meet most: the port is taken (often by the MTA being replaced), or
// it is privileged.
func bindHint(msg, listen string) string {
	switch {
	case strings.Contains(msg, "address already in use"):
		return fmt.Sprintf(" (hint: another program already listens on %s, often the MTA this gateway runs; stop it or choose another address with --listen)", listen)
	case strings.Contains(msg, "bind: permission denied"):
		return fmt.Sprintf(" (hint: ports below 1024 need root or CAP_NET_BIND_SERVICE; run as root or choose a port above 1024 with --listen, not %s)", listen)
	}
	return ""
}

// openLocked opens the store of t.dir and takes the apply lock. On failure
// the result says why (naming the holder when another apply has the lock)
// and is an environment error.
func (t *txn) openLocked() (unlock func() error, ok bool) {
	st, err := config.OpenStoreWith(t.dir, t.d.Host, config.StoreOptions{AllowForeignOwner: t.force})
	if err != nil {
		t.res.EnvironmentError = true
		t.res.Message = storeError(err, t.dir)
		return nil, false
	}
	st.Now = t.d.Now
	t.store = st
	lock, err := st.Lock(t.d.Command)
	if err != nil {
		t.res.EnvironmentError = true
		t.res.Message = err.Error()
		var le *config.LockedError
		if errors.As(err, &le) {
			h := le.Holder
			t.res.LockHolder = &h
		}
		return nil, false
	}
	return lock.Unlock, true
}
