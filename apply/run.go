package apply

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"reflect"
	"strings"

	"github.com/smtptls/smtptls/config"
	"github.com/smtptls/smtptls/validate"
)

// requiredRefusal is why mode required needs a second yes.
const requiredRefusal = "mode required refused without confirmation: a public MX that requires TLS loses mail from every peer that cannot do STARTTLS (they get 530 and give up); pass --yes, or confirm in the wizard, if this gateway must refuse plaintext mail"

// Run applies req: validate, write a new generation, switch, reload (or
// start) the listener, verify it, and roll back when reload or verify fails.
// progress, when not nil, sees every step as it starts and ends.
func Run(ctx context.Context, d Deps, req Request, progress func(Step)) Result {
	d = d.withDefaults()
	t := &txn{d: d, ctx: ctx, progress: progress, res: &Result{DryRun: req.DryRun}, force: req.Force}

	dir := req.ConfigDir
	if dir == "" {
		var err error
		if dir, err = config.ResolveDir("", d.Host); err != nil {
			t.res.EnvironmentError = true
			return t.fail(StepValidate, err.Error())
		}
	}
	t.dir = dir

	// Validate before touching the disk, so a paste with errors leaves no
	// trace, not even a new config directory or lock file.
	old, oldErr := config.Load(dir, d.Host)
	next, msg, field := t.build(req, old, oldErr)
	if msg != "" || req.DryRun {
		if err := t.begin(StepValidate); err != nil {
			return t.crashed(err)
		}
		if msg != "" {
			t.res.Field = field
			return t.fail(StepValidate, msg)
		}
		t.accept(old, oldErr, next)
		t.res.Changes = diff(t.recorded(old, oldErr), oldErr, next)
		if plan, ok := t.prepare(); ok {
			t.res.Changes = append(t.res.Changes, plan.Changes...)
		} else {
			// A preview still shows what it can; the real apply refuses.
			t.res.Warnings = append(t.res.Warnings, "applying will be refused: "+t.res.Message)
			t.res.EnvironmentError = false
		}
		t.res.Message = dryRunMessage(t.res.Changes)
		return *t.res
	}

	// Nothing to write when the request is what is live and served: a daily
	// renewal hook must not push the good history out.
	if !config.Busy(dir) && t.unchanged(old, oldErr, next) {
		if r, ok := t.alreadyServing(old, next); ok {
			return r
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
	// What we carry over must be what we replace: if another apply finished
	// while we waited for the lock, build again on top of its result.
	now, nowErr := config.Load(dir, d.Host)
	if now.Generation != old.Generation || (nowErr == nil) != (oldErr == nil) {
		old, oldErr = now, nowErr
		t.res.Warnings, t.res.Diagnostics, t.res.Validation = nil, nil, validate.Report{}
		if next, msg, field = t.build(req, old, oldErr); msg != "" {
			t.res.Field = field
			return t.fail(StepValidate, msg)
		}
	}
	t.accept(old, oldErr, next)
	plan, ok := t.prepare()
	if !ok {
		return t.fail(StepWrite, t.res.Message+"; nothing was written")
	}

	if t.unchanged(old, oldErr, next) {
		// The same configuration, but the listener does not serve it (down,
		// or never reloaded): make it serve the generation that holds it,
		// rather than write a copy.
		next.Generation = old.Generation
		t.target = next
		t.res.Generation = old.Generation
		t.report(StepWrite, StepSkipped, fmt.Sprintf("nothing to write: generation %s already holds this configuration", old.Generation))
		return t.switchReloadVerify(old.Generation)
	}

	if err := t.begin(StepWrite); err != nil {
		return t.crashed(err)
	}
	m := config.MaterialOf(next)
	m.TargetFiles = plan.Files
	gen, err := t.store.Stage(next.Settings, m)
	if err != nil {
		t.res.EnvironmentError = true
		return t.fail(StepWrite, fmt.Sprintf("writing the new generation failed (nothing was switched): %v", err))
	}
	t.res.Generation = gen
	t.staged = true
	next.Generation = gen
	t.target = next
	t.report(StepWrite, StepOK, fmt.Sprintf("generation %s written to %s", gen, dir))
	return t.switchReloadVerify(gen)
}

// accept records what validate passed: the generation it replaces and the
// one it will install.
func (t *txn) accept(old config.Loaded, oldErr error, next config.Loaded) {
	if oldErr == nil && old.Generation != "" {
		var ed *config.EditedError
		if err := config.CheckGeneration(t.dir, old.Generation); errors.As(err, &ed) {
			// Apply is the way to adopt a hand edit: say that it does.
			t.res.Warnings = append(t.res.Warnings, ed.Error()+"; this apply makes those edits part of the new generation")
		}
	}
	if oldErr == nil {
		t.prev = old.Generation
		t.prevFP = leafFingerprint(old.CertPEM)
		t.prevLoaded = old
		t.res.Previous = old.Generation
	}
	t.target = next
	t.res.Fingerprint = leafFingerprint(next.CertPEM)
	t.report(StepValidate, StepOK, t.validateDetail())
}

// build works out the configuration to install: the request on top of what
// is installed. A non-empty msg is why it cannot be applied (field names the
// paste field at fault, when one is).
func (t *txn) build(req Request, old config.Loaded, oldErr error) (next config.Loaded, msg string, field validate.Field) {
	base := old
	if oldErr != nil {
		// Never fall back to defaults: as root they would move the listener
		// to every interface, rename the host and reset every limit. A
		// setting changes only when the admin asks for it.
		return next, unreadableMessage(oldErr), ""
	}
	s := base.Settings
	if req.Mode != "" {
		m, err := config.ParseMode(string(req.Mode))
		if err != nil {
			return next, err.Error(), ""
		}
		s.Mode = m
	}
	if req.Hostname != "" {
		s.Hostname = req.Hostname
	}
	if req.Target != "" {
		s.Target = req.Target
	}
	if req.PostfixDir != "" {
		s.Postfix.ConfigDir = req.PostfixDir
	}
	switch {
	case req.Listen == "":
	case s.TargetName() == config.TargetPostfix:
		t.verifyAt = req.Listen
	default:
		s.Listen = req.Listen
	}
	if err := setDelivery(req, &s); err != nil {
		return next, err.Error(), ""
	}
	for _, a := range req.Set {
		if err := config.SetKey(&s, a.Key, a.Value); err != nil {
			return next, err.Error(), ""
		}
	}
	// Set changes other settings of a gateway that already requires TLS
	// without asking again; it is switching to required that needs a yes.
	stillRequired := len(req.Set) > 0 && req.Mode == "" && base.Settings.Mode == config.ModeRequired
	if s.Mode == config.ModeRequired && !req.ConfirmRequired && !stillRequired {
		if len(req.Set) > 0 && !req.DryRun {
			return next, "mode required is not switched on with set: a public MX that requires TLS loses mail from every peer that cannot do STARTTLS; run `smtptls apply --mode required --yes` if this gateway must refuse plaintext mail", ""
		}
		if !req.DryRun {
			return next, requiredRefusal, ""
		}
		// A preview needs no confirmation; the real apply will.
		t.res.Warnings = append(t.res.Warnings, "applying mode required will need confirmation (--yes): a public MX that requires TLS loses mail from peers without it")
	}
	if err := s.Sane(); err != nil {
		return next, err.Error(), ""
	}
	next = config.Loaded{Dir: t.dir, Settings: s}

	given := req.Cert != nil || req.Key != nil || req.CA != nil
	if !s.Mode.NeedsCertificate() && !given {
		// Disabling TLS must never be blocked by the certificate it stops
		// using (expired is the usual reason to disable): carry it over as is.
		next.CertPEM, next.KeyPEM, next.ChainPEM, next.CAPEM = base.CertPEM, base.KeyPEM, base.ChainPEM, base.CAPEM
		return next, "", ""
	}
	cert, key, ca := req.Cert, req.Key, req.CA
	if cert == nil {
		cert = base.CertPEM
	}
	if key == nil {
		key = base.KeyPEM
	}
	if ca == nil {
		ca = append(append([]byte{}, base.ChainPEM...), base.CAPEM...)
	}
	switch {
	case len(cert) == 0:
		return next, fmt.Sprintf("mode %s needs a certificate and none is installed yet: pass --cert FILE (and --key FILE, --ca FILE)", s.Mode), validate.FieldCertificate
	case len(key) == 0:
		return next, fmt.Sprintf("mode %s needs the certificate's private key and none is installed yet: pass --key FILE", s.Mode), validate.FieldKey
	}
	rep := t.d.Validate(validate.Input{
		Certificate: string(cert),
		Key:         string(key),
		CABundle:    string(ca),
		Hostname:    s.Hostname,
		CertFile:    fileName(req.Cert, req.CertFile),
		KeyFile:     fileName(req.Key, req.KeyFile),
		Passphrase:  req.Passphrase,
		Now:         t.d.Now(),
		Roots:       t.d.Roots,
		LoadRoots:   validate.SystemRoots, // only when the chain needs them
	})
	t.res.Validation = rep
	t.res.Diagnostics = rep.Diagnostics
	for _, dg := range rep.Diagnostics {
		if dg.Severity == validate.SevError {
			m := dg.Message
			if dg.Hint != "" {
				m += " " + dg.Hint
			}
			if n := countErrors(rep); n > 1 {
				m += fmt.Sprintf(" (%d problems in all; run `smtptls validate` for each)", n)
			}
			return next, m, dg.Field
		}
	}
	if rep.Material == nil {
		return next, "the certificate material could not be read; run `smtptls validate` for the details", validate.FieldCertificate
	}
	m := rep.Material
	next.CertPEM, next.KeyPEM, next.ChainPEM, next.CAPEM = m.LeafPEM, m.KeyPEM, m.ChainPEM, m.CAPEM
	return next, "", ""
}

func countErrors(r validate.Report) int {
	n := 0
	for _, d := range r.Diagnostics {
		if d.Severity == validate.SevError {
			n++
		}
	}
	return n
}

// validateDetail is the line under the validate step.
func (t *txn) validateDetail() string {
	s := t.target.Settings
	parts := []string{fmt.Sprintf("mode %s, host %s, listen %s", s.Mode, s.Hostname, s.Listen)}
	if s.TargetName() == config.TargetPostfix {
		parts[0] = fmt.Sprintf("mode %s, host %s, target Postfix in %s", s.Mode, s.Hostname, s.PostfixDir())
	}
	if sum := t.res.Validation.Summary; sum != nil {
		parts = append(parts, fmt.Sprintf("certificate %s, expires %s (%d days)", sum.Subject, sum.NotAfter.UTC().Format("2006-01-02"), sum.DaysLeft))
	}
	w := 0
	for _, d := range t.res.Diagnostics {
		if d.Severity == validate.SevWarning {
			w++
			t.res.Warnings = append(t.res.Warnings, d.Message)
		}
	}
	if w > 0 {
		parts = append(parts, fmt.Sprintf("%d warning(s)", w))
	}
	return strings.Join(parts, "; ")
}

// storeError adds what to do when the config directory cannot be opened:
// almost always a non-root user pointed at /etc/smtptls.
func storeError(err error, dir string) string {
	msg := err.Error()
	if errors.Is(err, fs.ErrPermission) {
		msg += fmt.Sprintf("; %s belongs to another user: run as that user (root for /etc/smtptls), or pass --config-dir with a directory of your own", dir)
	}
	return msg
}

// fileName is the name hints use for a field: the admin's when the text
// came with the request, the engine's default when it is the installed one.
func fileName(given []byte, name string) string {
	if given == nil {
		return ""
	}
	return name
}

// unreadableMessage says why an installed configuration that cannot be read
// stops an apply, where to look, and the two ways out.
func unreadableMessage(err error) string {
	fix := "fix the file it names"
	var se *config.SettingsError
	if errors.As(err, &se) && se.File != "" {
		fix = "fix " + se.File
		if se.Line > 0 {
			fix += fmt.Sprintf(" at line %d", se.Line)
		}
	}
	return fmt.Sprintf("the installed configuration cannot be read: %v. Nothing was changed, and nothing is built from defaults (that would change the listen address, host name and limits behind your back). Two ways out: run `smtptls rollback` to return to the previous generation, or %s and run this again", err, fix)
}

// recorded is old as its manifest recorded it, so a dry run shows hand
// edits to config.toml as changes instead of hiding them.
func (t *txn) recorded(old config.Loaded, oldErr error) config.Loaded {
	if oldErr != nil || old.Generation == "" {
		return old
	}
	if m, err := config.ReadManifest(t.dir, old.Generation); err == nil {
		old.Settings = m.Settings
	}
	return old
}

// unchanged reports whether next is exactly the live generation, as it was
// written and not failed: applying it again would write a copy.
func (t *txn) unchanged(old config.Loaded, oldErr error, next config.Loaded) bool {
	if oldErr != nil || old.Generation == "" {
		return false
	}
	if !reflect.DeepEqual(old.Settings, next.Settings) ||
		!bytes.Equal(old.CertPEM, next.CertPEM) || !bytes.Equal(old.KeyPEM, next.KeyPEM) ||
		!bytes.Equal(old.ChainPEM, next.ChainPEM) || !bytes.Equal(old.CAPEM, next.CAPEM) {
		return false
	}
	if config.CheckGeneration(t.dir, old.Generation) != nil {
		return false
	}
	m, err := config.ReadManifest(t.dir, old.Generation)
	return err != nil || m.Status != config.StatusFailed
}

// tidy removes what a killed apply left behind (a half-staged or
// half-removed generation, history past what is kept), as every writing
// apply does, so an apply that writes nothing still leaves a clean store.
// It is best effort and never touches the live configuration: when another
// apply holds the lock, that apply tidies instead.
func (t *txn) tidy() {
	st, err := config.OpenStoreWith(t.dir, t.d.Host, config.StoreOptions{AllowForeignOwner: t.force})
	if err != nil {
		return
	}
	st.Now = t.d.Now
	lock, err := st.Lock(t.d.Command)
	if err != nil {
		return
	}
	defer lock.Unlock()
	if err := st.Clean(); err == nil {
		_ = st.Prune()
	}
}

// alreadyServing ends an apply of what is live when the listener serves
// it: nothing is written, and the answer says so.
func (t *txn) alreadyServing(old, next config.Loaded) (Result, bool) {
	sctx, cancel := context.WithTimeout(t.ctx, stateTimeout)
	ls, err := t.d.Reloader.State(sctx, t.dir)
	cancel()
	want := leafFingerprint(old.CertPEM)
	if !old.Settings.Mode.NeedsCertificate() {
		want = ""
	}
	if err != nil || ls.Generation != old.Generation || ls.Fingerprint != want || ls.Mode != string(old.Settings.Mode) {
		return Result{}, false
	}
	// A generation never verified (an apply killed after the switch) is
	// verified now, through the full path, rather than vouched for.
	if m, err := config.ReadManifest(t.dir, old.Generation); err == nil && m.Status != config.StatusVerified {
		return Result{}, false
	}
	if err := t.begin(StepValidate); err != nil {
		return t.crashed(err), true
	}
	next.Generation = old.Generation
	t.accept(old, nil, next)
	t.res.Generation = old.Generation
	t.res.Applied = true
	t.res.Unchanged = true
	t.res.Listen = ls.Listen
	t.tidy()
	t.res.Message = fmt.Sprintf("already serving this configuration (generation %s): nothing was written", old.Generation)
	t.report(StepDone, StepOK, "already serving this configuration")
	return *t.res, true
}
