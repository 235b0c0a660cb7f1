package apply

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/smtptls/smtptls/config"
	"github.com/smtptls/smtptls/internal/testpki"
	"github.com/smtptls/smtptls/probe"
	"github.com/smtptls/smtptls/validate"
)

// fakeListener stands in for the bundled smtpd: it loads the current
// generation on reload exactly as the real one does, and can be told to
// refuse.
type fakeListener struct {
	mu      sync.Mutex
	host    config.Host
	running bool
	state   ListenerState
	// refuse, when set, is asked about every config the listener loads;
	// an error makes it keep the old one (reload) or not start.
	refuse  func(config.Loaded) error
	starts  int
	reloads int
	stops   int
}

func (f *fakeListener) load(dir string) (ListenerState, error) {
	l, err := config.Load(dir, f.host)
	if err != nil {
		return ListenerState{}, err
	}
	if f.refuse != nil {
		if err := f.refuse(l); err != nil {
			return ListenerState{}, err
		}
	}
	fp := ""
	if l.Settings.Mode.NeedsCertificate() {
		fp = leafFingerprint(l.CertPEM)
	}
	return ListenerState{Pid: 4242, Generation: l.Generation, Mode: string(l.Settings.Mode), Listen: l.Settings.Listen, Fingerprint: fp, Since: time.Now()}, nil
}

func (f *fakeListener) Reload(ctx context.Context, dir string) (ReloadOutcome, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.running {
		return ReloadOutcome{}, ErrNotRunning
	}
	f.reloads++
	st, err := f.load(dir)
	if err != nil {
		s := f.state
		return ReloadOutcome{OK: false, Message: err.Error(), Generation: s.Generation, Mode: s.Mode, Listen: s.Listen, Fingerprint: s.Fingerprint}, nil
	}
	f.state = st
	return ReloadOutcome{OK: true, Message: "reloaded", Generation: st.Generation, Mode: st.Mode, Listen: st.Listen, Fingerprint: st.Fingerprint}, nil
}

func (f *fakeListener) Start(ctx context.Context, exe, dir string) (ListenerState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.starts++
	st, err := f.load(dir)
	if err != nil {
		return ListenerState{}, fmt.Errorf("listener exited: %w", err)
	}
	f.running, f.state = true, st
	return st, nil
}

func (f *fakeListener) State(ctx context.Context, dir string) (ListenerState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.running {
		return ListenerState{}, ErrNotRunning
	}
	return f.state, nil
}

func (f *fakeListener) Stop(ctx context.Context, dir string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.running {
		return ErrNotRunning
	}
	f.stops++
	f.running = false
	return nil
}

func (f *fakeListener) serving() (ListenerState, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.state, f.running
}

// fakeProber reports what the fake listener serves, stage by stage, the way
// probe.Run would; breakFingerprint makes it see another certificate.
type fakeProber struct {
	l                *fakeListener
	breakFingerprint bool
	mu               sync.Mutex
	calls            []VerifyRequest
}

func (p *fakeProber) Probe(ctx context.Context, r VerifyRequest) probe.Report {
	p.mu.Lock()
	p.calls = append(p.calls, r)
	p.mu.Unlock()
	st, running := p.l.serving()
	h := probe.Host{Target: r.Target}
	add := func(name string, ok bool, detail string) {
		s := probe.Pass
		if !ok {
			s = probe.Fail
		}
		h.Stages = append(h.Stages, probe.Stage{Name: name, Status: s, Detail: detail})
	}
	add(probe.StageConnect, running, "connected")
	if !running {
		return probe.Report{Target: r.Target, Hosts: []probe.Host{h}}
	}
	add(probe.StageBanner, true, "220")
	add(probe.StageEHLO, true, "250")
	tls := st.Mode != string(config.ModeDisabled)
	if r.Disabled {
		add(probe.StageSTARTTLS, !tls, "not offered")
		return probe.Report{Target: r.Target, Hosts: []probe.Host{h}}
	}
	add(probe.StageSTARTTLS, tls, "offered")
	add(probe.StageHandshake, tls, "TLS 1.3")
	fp := st.Fingerprint
	if p.breakFingerprint {
		fp = "00ff"
	}
	add(probe.StageFingerprint, fp == r.Fingerprint, "served "+fp)
	add(probe.StageRequired, !r.Required || st.Mode == string(config.ModeRequired), "530 before STARTTLS")
	return probe.Report{Target: r.Target, Hosts: []probe.Host{h}}
}

type fixture struct {
	t      *testing.T
	dir    string
	l      *fakeListener
	p      *fakeProber
	deps   Deps
	now    time.Time
	steps  []Step
	chains map[string]*testpki.Chain
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	host := config.Host{Getenv: func(string) string { return "" }, UserConfigDir: func() (string, error) { return "", errors.New("none") }}
	l := &fakeListener{host: host}
	p := &fakeProber{l: l}
	f := &fixture{t: t, dir: filepath.Join(t.TempDir(), "cfg"), l: l, p: p, now: time.Now()}
	f.deps = Deps{
		Host:     host,
		Now:      func() time.Time { return f.now },
		Exe:      "/nonexistent/smtptls",
		Reloader: l,
		Prober:   p,
		Validate: validate.Check,
		Roots:    x509.NewCertPool(),
		Command:  "apply test",
	}
	return f
}

// request builds a request for mode with a fresh chain for host (reused by
// tag so tests can re-apply the same material).
func (f *fixture) request(mode config.Mode, tag string) Request {
	f.t.Helper()
	if f.chains == nil {
		f.chains = map[string]*testpki.Chain{}
	}
	ch, ok := f.chains[tag]
	if !ok {
		ch = testpki.MustChain(f.now, testpki.ECDSAP256, "mail.example.test")
		f.chains[tag] = ch
	}
	return Request{
		ConfigDir: f.dir, Mode: mode, ConfirmRequired: true,
		Cert: ch.Leaf.PEM(), Key: ch.Leaf.KeyPEM(), CA: ch.Bundle(),
		Hostname: "mail.example.test", Listen: "127.0.0.1:2525",
	}
}

func (f *fixture) fp(tag string) string {
	return leafFingerprint(f.chains[tag].Leaf.PEM())
}

func (f *fixture) run(req Request) Result {
	f.t.Helper()
	f.steps = nil
	return Run(context.Background(), f.deps, req, func(s Step) { f.steps = append(f.steps, s) })
}

func (f *fixture) mustApply(req Request) Result {
	f.t.Helper()
	r := f.run(req)
	if !r.Applied {
		f.t.Fatalf("apply failed at %s: %s", r.FailedStep, r.Message)
	}
	return r
}

func (f *fixture) loaded() config.Loaded {
	f.t.Helper()
	l, err := config.Load(f.dir, f.deps.Host)
	if err != nil {
		f.t.Fatalf("config dir does not load: %v", err)
	}
	return l
}
