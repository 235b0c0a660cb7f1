package apply

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/smtptls/smtptls/config"
	"github.com/smtptls/smtptls/postfix"
	"github.com/smtptls/smtptls/probe"
)

// postfixSettle is how long verify waits for Postfix to serve a new
// certificate: smtpd processes still finishing a session keep the old one
// until they exit, and new sessions may land on them meanwhile.
const postfixSettle = 5 * time.Second

// postfixTarget is the Postfix on this machine, driven through postconf and
// postfix only. main.cf names the chain file through the store's current
// link, so a certificate change is a switch and a reload.
type postfixTarget struct {
	d   Deps
	dir string // the smtptls config directory
	pf  *postfix.Instance
	// verifyAt overrides where verify connects (--listen); it never
	// changes where Postfix listens.
	verifyAt string

	// Found by Prepare.
	version postfix.Version
	listen  postfix.Listen
	want    map[string]string        // what main.cf must say
	prev    map[string]postfix.Param // what it said before
	// servedBefore is the leaf Postfix served before a first adoption, to
	// prove a restore brought it back ("" when it offered no TLS).
	servedBefore string
	probedBefore bool

	activated, wrote, unwritten bool
}

func newPostfixTarget(d Deps, dir string, s config.Settings, verifyAt string) *postfixTarget {
	pf := postfix.New(s.PostfixDir())
	pf.Postconf, pf.Postfix = d.PostfixTools.Postconf, d.PostfixTools.Postfix
	return &postfixTarget{d: d, dir: dir, pf: pf, verifyAt: verifyAt}
}

func (p *postfixTarget) Name() string { return config.TargetPostfix }

// chainPath is where main.cf finds the chain file: through current, so it
// follows every switch.
func (p *postfixTarget) chainPath() string {
	return filepath.Join(p.dir, config.CurrentLink, config.PostfixChainFile)
}

// ready refuses when this Postfix cannot be driven: not root, not
// installed, not running.
func (p *postfixTarget) ready(ctx context.Context) error {
	if !p.d.Host.Root {
		return &targetError{fmt.Sprintf("configuring Postfix needs root: postfix check, reload and status refuse other users; run it as root (sudo smtptls ...) for %s", p.pf.ConfigDir)}
	}
	if _, err := os.Stat(filepath.Join(p.pf.ConfigDir, "main.cf")); err != nil {
		return &targetError{fmt.Sprintf("there is no Postfix configuration in %s (%v): give the directory that holds main.cf with --postfix-dir", p.pf.ConfigDir, err)}
	}
	up, err := p.pf.Running(ctx)
	switch {
	case errors.Is(err, postfix.ErrNotInstalled):
		return &targetError{"Postfix is not installed here (no postconf or postfix command found): install it, or apply with --target bundled"}
	case err != nil:
		return &targetError{fmt.Sprintf("asking Postfix (%s) whether it runs failed: %v", p.pf.ConfigDir, err)}
	case !up:
		return &targetError{fmt.Sprintf("Postfix (%s) is not running: start Postfix first (systemctl start postfix, or postfix -c %s start), then apply again", p.pf.ConfigDir, p.pf.ConfigDir)}
	}
	return nil
}

// look reads the version and where smtpd listens.
func (p *postfixTarget) look(ctx context.Context) error {
	v, err := p.pf.Version(ctx)
	if err != nil {
		return &targetError{err.Error()}
	}
	p.version = v
	if p.verifyAt != "" {
		return nil
	}
	l, err := p.pf.SMTPListen(ctx)
	if err != nil {
		return &targetError{err.Error()}
	}
	p.listen = l
	return nil
}

func (p *postfixTarget) dial() string {
	if p.verifyAt != "" {
		return dialAddr(p.verifyAt, p.verifyAt)
	}
	return p.listen.Dial()
}

// wanted is what main.cf must say to serve l, plus the test hook's extras.
func (p *postfixTarget) wanted(l config.Loaded) map[string]string {
	chain := ""
	if len(l.CertPEM) > 0 && len(l.KeyPEM) > 0 {
		chain = p.chainPath()
	}
	w := postfix.Params(l.Settings.Mode, chain, p.version)
	for k, v := range p.d.PostfixExtra {
		w[k] = v
	}
	return w
}

func (p *postfixTarget) Prepare(ctx context.Context, cur, next config.Loaded) (Plan, error) {
	if !p.d.Host.Root {
		return Plan{}, p.ready(ctx)
	}
	// postfix status is a shell script and the slowest look; read main.cf
	// and master.cf meanwhile (an apply's time is mostly Postfix's tools).
	var lookErr error
	var have map[string]postfix.Param
	done := make(chan struct{})
	go func() {
		defer close(done)
		if lookErr = p.look(ctx); lookErr != nil {
			return
		}
		names := append([]string{}, postfix.TouchedParams...)
		for k := range p.d.PostfixExtra {
			names = append(names, k)
		}
		var err error
		if have, err = p.pf.Explicit(ctx, names...); err != nil {
			lookErr = &targetError{err.Error()}
		}
	}()
	readyErr := p.ready(ctx)
	<-done
	if readyErr != nil {
		return Plan{}, readyErr
	}
	if lookErr != nil {
		return Plan{}, lookErr
	}
	if strings.ContainsAny(p.chainPath(), " \t,") {
		// smtpd_tls_chain_files is a list: Postfix would split the path.
		return Plan{}, &targetError{fmt.Sprintf("the smtptls config directory %q holds a space or a comma, which Postfix reads as a list separator in smtpd_tls_chain_files: use a config directory without them (--config-dir)", p.dir)}
	}
	if o := p.listen.Overrides; len(o) > 0 {
		// main.cf would change and nothing that peers see would: refuse
		// now rather than fail the verify after a reload.
		return Plan{}, &targetError{fmt.Sprintf("master.cf's %s service sets %s with -o, which wins over main.cf, where smtptls writes: remove that -o from master.cf (postconf -c %s -P to see it), reload Postfix, and apply again",
			p.listen.Service, strings.Join(o, " and "), p.pf.ConfigDir)}
	}
	p.want = p.wanted(next)
	for _, k := range []string{postfix.ParamChainFiles, postfix.ParamCertFile, postfix.ParamKeyFile} {
		// A generation without a certificate (disabled from the start)
		// has no chain file: main.cf must not go on naming the store's.
		if _, set := p.want[k]; !set && strings.HasPrefix(have[k].Value, p.dir+string(filepath.Separator)) {
			p.want[k] = ""
		}
	}
	prev := map[string]postfix.Param{}
	for k := range p.want {
		prev[k] = have[k]
	}
	p.prev = prev
	plan := Plan{Files: map[string][]byte{}}
	for _, k := range sortedNames(p.want) {
		if old := prev[k]; !old.Set || old.Value != p.want[k] {
			plan.Changes = append(plan.Changes, Change{What: "main.cf " + k, Old: old.String(), New: p.want[k]})
		}
	}
	if len(next.CertPEM) > 0 && len(next.KeyPEM) > 0 {
		b, err := postfix.ChainPEM(config.MaterialOf(next))
		if err != nil {
			return Plan{}, err
		}
		plan.Files[config.PostfixChainFile] = b
	}
	// Recorded in the generation, so what main.cf said before each apply
	// can be read back (and restored by hand) later.
	rec, err := json.MarshalIndent(prev, "", "  ")
	if err != nil {
		return Plan{}, fmt.Errorf("record main.cf parameters: %w", err)
	}
	plan.Files[config.PostfixPreviousFile] = append(rec, '\n')

	if cur.Generation == "" || cur.Settings.TargetName() != config.TargetPostfix {
		// A first adoption: what Postfix serves now is the admin's own
		// configuration. Note its certificate, to prove a restore.
		p.servedBefore, p.probedBefore = p.served(ctx)
	}
	return plan, nil
}

// servedSettled is what Postfix serves once it serves want, or after
// postfixSettle: smtpd processes still finishing a session serve the
// previous certificate until they exit.
func (p *postfixTarget) servedSettled(ctx context.Context, want string) string {
	for deadline := time.Now().Add(postfixSettle); ; {
		got, _ := p.served(ctx)
		if got == want || time.Now().After(deadline) || ctx.Err() != nil {
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// served asks Postfix's smtpd which leaf it serves ("" without TLS).
func (p *postfixTarget) served(ctx context.Context) (fp string, ok bool) {
	rep := p.d.Prober.Probe(ctx, VerifyRequest{Target: p.dial(), Roots: x509.NewCertPool(), Timeout: p.d.VerifyTimeout, Now: p.d.Now()})
	if len(rep.Hosts) != 1 {
		return "", false
	}
	h := rep.Hosts[0]
	for _, st := range h.Stages {
		if st.Name == probe.StageConnect && st.Status == probe.Fail {
			return "", false
		}
	}
	if len(h.Served) > 0 {
		return h.Served[0].SHA256, true
	}
	return "", true
}

func (p *postfixTarget) Activate(ctx context.Context, next config.Loaded) (Activation, error) {
	p.activated = true
	var parts []string
	if changed := p.changedParams(); len(changed) > 0 {
		p.wrote = true
		if err := p.pf.Set(ctx, p.want); err != nil {
			return Activation{}, err
		}
		parts = append(parts, "main.cf: "+strings.Join(changed, ", "))
	} else {
		parts = append(parts, "main.cf already names the live generation")
	}
	if err := p.pf.Check(ctx); err != nil {
		return Activation{}, fmt.Errorf("postfix check refused the new configuration: %v", err)
	}
	if err := p.pf.Reload(ctx); err != nil {
		return Activation{}, fmt.Errorf("postfix reload failed: %v", err)
	}
	parts = append(parts, "postfix check passed, Postfix reloaded")
	listen := p.listen.String()
	if p.verifyAt != "" {
		listen = p.verifyAt
	}
	return Activation{Listen: listen, Dial: p.dial(), Detail: strings.Join(parts, "; "), Settle: postfixSettle}, nil
}

// changedParams lists name=value for every parameter main.cf must change.
func (p *postfixTarget) changedParams() []string {
	var out []string
	for _, k := range sortedNames(p.want) {
		if old := p.prev[k]; !old.Set || old.Value != p.want[k] {
			out = append(out, k+" = "+p.want[k])
		}
	}
	return out
}

// Unwrite puts main.cf's parameters back as they were, before the store
// is switched back (so main.cf never names a generation that is gone).
func (p *postfixTarget) Unwrite(ctx context.Context) error {
	if !p.wrote || p.unwritten {
		return nil
	}
	if err := p.pf.Restore(ctx, p.prev); err != nil {
		return fmt.Errorf("restoring main.cf failed: %v", err)
	}
	p.unwritten = true
	return nil
}

// Restore puts main.cf's parameters back as they were (if Unwrite has not),
// reloads, and checks that Postfix serves what it served before.
func (p *postfixTarget) Restore(ctx context.Context, prev config.Loaded) (string, bool) {
	back := describeGen(prev.Generation)
	if !p.activated {
		return fmt.Sprintf("switched back to %s; Postfix was not touched", back), true
	}
	what := "main.cf was not changed"
	if p.wrote {
		if err := p.Unwrite(ctx); err != nil {
			return fmt.Sprintf("switched back to %s, but %v; run `smtptls status`", back, err), false
		}
		what = "main.cf parameters restored"
	}
	if err := p.pf.Reload(ctx); err != nil {
		return fmt.Sprintf("switched back to %s and %s, but postfix reload failed: %v; run `smtptls status`", back, what, err), false
	}
	want, known := "", false
	switch {
	case prev.Generation != "" && prev.Settings.TargetName() == config.TargetPostfix:
		known = true
		if prev.Settings.Mode.NeedsCertificate() {
			want = leafFingerprint(prev.CertPEM)
		}
	case p.probedBefore:
		want, known = p.servedBefore, true
	}
	if !known {
		return fmt.Sprintf("switched back to %s, %s, Postfix reloaded", back, what), true
	}
	got := p.servedSettled(ctx, want)
	if got != want {
		return fmt.Sprintf("switched back to %s and %s, but Postfix serves %s instead of %s; run `smtptls status`", back, what, fpOrNoTLS(got), fpOrNoTLS(want)), false
	}
	return fmt.Sprintf("%s, %s; Postfix serves %s again on %s", back, what, fpOrNoTLS(want), p.dial()), true
}

func fpOrNoTLS(fp string) string {
	if fp == "" {
		return "no certificate"
	}
	return "certificate " + shortFP(fp)
}

func (p *postfixTarget) Status(ctx context.Context, installed config.Loaded, loaded, sound bool) TargetStatus {
	var ts TargetStatus
	if err := p.ready(ctx); err != nil {
		ts.Attention = append(ts.Attention, err.Error())
		return ts
	}
	ts.Running = true
	if err := p.look(ctx); err != nil {
		ts.Attention = append(ts.Attention, err.Error())
		return ts
	}
	fp, _ := p.served(ctx)
	eff, _ := p.pf.Effective(ctx, postfix.ParamSecurityLevel)
	ts.Listener = &ListenerState{Generation: installed.Generation, Listen: p.listen.String(), Mode: string(postfix.ModeOfLevel(eff[postfix.ParamSecurityLevel])), Fingerprint: fp}
	if p.verifyAt != "" {
		ts.Listener.Listen = p.verifyAt
	}
	if !loaded || installed.Generation == "" {
		return ts
	}
	want := p.wanted(installed)
	have, err := p.pf.Explicit(ctx, sortedNames(want)...)
	if err != nil {
		ts.Attention = append(ts.Attention, err.Error())
		return ts
	}
	drift := false
	for _, k := range sortedNames(want) {
		if h := have[k]; !h.Set || h.Value != want[k] {
			drift = true
			ts.Attention = append(ts.Attention, fmt.Sprintf("main.cf %s is %s, but smtptls set %s (generation %s): it was changed by hand; apply again to set it back, or run `smtptls apply` with the mode you want",
				k, h, want[k], installed.Generation))
		}
	}
	wantFP := ""
	if installed.Settings.Mode.NeedsCertificate() {
		wantFP = leafFingerprint(installed.CertPEM)
	}
	ts.ServesInstalled = !drift && fp == wantFP
	if fp != wantFP {
		ts.Attention = append(ts.Attention, fmt.Sprintf("Postfix serves %s but %s is installed: run `smtptls reload` (a renewal that was never reloaded looks like this)",
			fpOrNoTLS(fp), fpOrNoTLS(wantFP)))
	}
	return ts
}

func sortedNames(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// reloadPostfix is `smtptls reload` for a Postfix target: postfix check,
// postfix reload, and a look at what smtpd then serves.
func reloadPostfix(ctx context.Context, d Deps, dir string, l config.Loaded, res ReloadResult) ReloadResult {
	p := newPostfixTarget(d, dir, l.Settings, "")
	if err := p.ready(ctx); err != nil {
		// Running stays true: the message says what to start, and it
		// is Postfix, not smtptls serve.
		res.Message, res.EnvironmentError, res.Running = err.Error(), true, true
		return res
	}
	res.Running = true
	if err := p.look(ctx); err != nil {
		res.Message, res.EnvironmentError = err.Error(), true
		return res
	}
	if err := p.pf.Check(ctx); err != nil {
		res.Message = fmt.Sprintf("postfix check refused the configuration, so Postfix was not reloaded: %v", err)
		return res
	}
	if err := p.pf.Reload(ctx); err != nil {
		res.Message, res.EnvironmentError = fmt.Sprintf("postfix reload failed: %v", err), true
		return res
	}
	want := ""
	if l.Settings.Mode.NeedsCertificate() {
		want = leafFingerprint(l.CertPEM)
	}
	got := p.servedSettled(ctx, want)
	res.Generation, res.Listen, res.Fingerprint = l.Generation, p.listen.String(), got
	eff, _ := p.pf.Effective(ctx, postfix.ParamSecurityLevel)
	res.Mode = string(postfix.ModeOfLevel(eff[postfix.ParamSecurityLevel]))
	res.OK = got == want
	if res.OK {
		res.Message = fmt.Sprintf("Postfix reloaded; smtpd on %s serves %s", p.listen, fpOrNoTLS(got))
	} else {
		res.Message = fmt.Sprintf("Postfix reloaded, but smtpd on %s serves %s where %s is installed: see `smtptls status`", p.listen, fpOrNoTLS(got), fpOrNoTLS(want))
	}
	return res
}
