package apply

import (
	"context"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/smtptls/smtptls/config"
	"github.com/smtptls/smtptls/internal/testpki"
	"github.com/smtptls/smtptls/smtpd"
	"github.com/smtptls/smtptls/validate"
)

// liveDir is a config dir served by the real listener, in process, so the
// transaction runs against the real control socket and the real probe.
type liveDir struct {
	dir    string
	listen string
	host   config.Host
}

func freeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return "127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// startLive installs a disabled-mode generation on a free port and runs the
// listener on it until the test ends.
func startLive(tb testing.TB) *liveDir {
	tb.Helper()
	h := config.Host{Getenv: func(string) string { return "" }, UserConfigDir: func() (string, error) { return "", errors.New("none") }}
	ld := &liveDir{dir: filepath.Join(tb.TempDir(), "cfg"), listen: freeAddr(tb), host: h}
	st, err := config.OpenStore(ld.dir, h)
	if err != nil {
		tb.Fatal(err)
	}
	s := config.DefaultSettings(false, "mail.example.test")
	s.Listen = ld.listen
	gen, err := st.Stage(s, config.Material{})
	if err != nil {
		tb.Fatal(err)
	}
	if err := st.Activate(gen); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- smtpd.Run(ctx, ld.dir, smtpd.RunOptions{
			Options:     smtpd.Options{Logger: slog.New(slog.DiscardHandler)},
			Host:        h,
			StopTimeout: 5 * time.Second,
			Ready:       func(string) { close(ready) },
		})
	}()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		tb.Fatalf("listener did not start: %v", err)
	case <-time.After(20 * time.Second):
		cancel()
		tb.Fatal("listener did not become ready")
	}
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("listener: %v", err)
		}
	})
	return ld
}

// deps are the real dependencies, except the system roots: the test PKI is
// trusted through the installed CA bundle alone.
func (ld *liveDir) deps() Deps {
	return Deps{Host: ld.host, Exe: "/nonexistent/smtptls", Roots: x509.NewCertPool(), Validate: validate.Check}
}

func (ld *liveDir) request(mode config.Mode, ch *testpki.Chain) Request {
	r := Request{ConfigDir: ld.dir, Mode: mode, ConfirmRequired: true, Listen: ld.listen, Hostname: "mail.example.test"}
	if ch != nil {
		r.Cert, r.Key, r.CA = ch.Leaf.PEM(), ch.Leaf.KeyPEM(), ch.Bundle()
	}
	return r
}

func TestEndToEndEveryMode(t *testing.T) {
	ld := startLive(t)
	a := testpki.MustChain(time.Now(), testpki.ECDSAP256, "mail.example.test")
	b := testpki.MustChain(time.Now(), testpki.RSA2048, "mail.example.test")
	steps := []struct {
		mode config.Mode
		ch   *testpki.Chain
		fp   string
	}{
		{config.ModeAvailable, a, leafFingerprint(a.Leaf.PEM())},
		{config.ModeRequired, b, leafFingerprint(b.Leaf.PEM())},
		{config.ModeDisabled, nil, ""},
		{config.ModeAvailable, nil, leafFingerprint(b.Leaf.PEM())}, // the kept certificate
	}
	for _, s := range steps {
		r := Run(context.Background(), ld.deps(), ld.request(s.mode, s.ch), nil)
		if !r.Applied {
			t.Fatalf("apply %s: failed at %s: %s", s.mode, r.FailedStep, r.Message)
		}
		st, err := smtpd.QueryState(context.Background(), ld.dir)
		if err != nil {
			t.Fatal(err)
		}
		if st.Generation != r.Generation || st.Mode != string(s.mode) || st.Fingerprint != s.fp {
			t.Errorf("after apply %s the listener serves %+v, want generation %s fingerprint %q", s.mode, st, r.Generation, s.fp)
		}
		if r.Verify == nil || r.Verify.Failed() && s.mode != config.ModeDisabled {
			t.Errorf("apply %s: verify report %+v", s.mode, r.Verify)
		}
		status, err := Current(context.Background(), ld.deps(), ld.dir)
		if err != nil || !status.ServesInstalled || len(status.NeedsAttention) != 0 {
			t.Errorf("status after apply %s: serves installed %v, attention %q (%v)", s.mode, status.ServesInstalled, status.NeedsAttention, err)
		}
	}

	// A new listen address: the listener rebinds and verify follows it.
	req := ld.request(config.ModeAvailable, nil)
	req.Listen = freeAddr(t)
	r := Run(context.Background(), ld.deps(), req, nil)
	if !r.Applied || r.Listen != req.Listen || r.Verify == nil || r.Verify.Hosts[0].Target != req.Listen {
		t.Fatalf("moving to %s: %+v", req.Listen, r)
	}
}

func TestEndToEndRefusedReloadKeepsOldCertificate(t *testing.T) {
	ld := startLive(t)
	a := testpki.MustChain(time.Now(), testpki.ECDSAP256, "mail.example.test")
	b := testpki.MustChain(time.Now(), testpki.ECDSAP256, "mail.example.test")
	first := Run(context.Background(), ld.deps(), ld.request(config.ModeAvailable, a), nil)
	if !first.Applied {
		t.Fatalf("first apply: %s", first.Message)
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	req := ld.request(config.ModeAvailable, b)
	req.Listen = busy.Addr().String()
	r := Run(context.Background(), ld.deps(), req, nil)
	if r.Applied || !r.RolledBack || r.FailedStep != StepReload {
		t.Fatalf("result %+v", r)
	}
	st, _ := smtpd.QueryState(context.Background(), ld.dir)
	if st.Generation != first.Generation || st.Fingerprint != leafFingerprint(a.Leaf.PEM()) {
		t.Errorf("after the refused apply the listener serves %+v", st)
	}
	if cur, _ := config.CurrentGeneration(ld.dir); cur != first.Generation {
		t.Errorf("current %s, want %s", cur, first.Generation)
	}
	status, err := Current(context.Background(), ld.deps(), ld.dir)
	if err != nil || !status.ServesInstalled || !status.Running || len(status.NeedsAttention) != 0 {
		t.Errorf("status after the rollback: %+v (%v)", status, err)
	}
}

// BenchmarkApplyEndToEnd is the figure: one apply (validate, write,
// switch, reload, verify) against the real listener on loopback, alternating
// two certificates so every apply really changes what is served. Target:
// under 300 ms. Each step's share is reported too.
func BenchmarkApplyEndToEnd(b *testing.B) {
	for _, kt := range []testpki.KeyType{testpki.ECDSAP256, testpki.RSA2048} {
		b.Run(string(kt), func(b *testing.B) {
			ld := startLive(b)
			chains := []*testpki.Chain{
				testpki.MustChain(time.Now(), kt, "mail.example.test"),
				testpki.MustChain(time.Now(), kt, "mail.example.test"),
			}
			d := ld.deps()
			d.Roots = nil // the real default: system roots, loaded when a chain needs them
			times := stepTimes{}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r := Run(context.Background(), d, ld.request(config.ModeAvailable, chains[i%2]), times.progress)
				if !r.Applied {
					b.Fatalf("apply %d failed at %s: %s", i, r.FailedStep, r.Message)
				}
			}
			b.StopTimer()
			times.report(b)
		})
	}
}

// stepTimes adds up the time Run spends in each step, for a benchmark to
// report per operation.
type stepTimes struct {
	spent   map[StepName]time.Duration
	started time.Time
}

// progress is Run's progress callback.
func (t *stepTimes) progress(s Step) {
	if s.Status == StepRunning {
		t.started = time.Now()
		return
	}
	if t.spent == nil {
		t.spent = map[StepName]time.Duration{}
	}
	t.spent[s.Name] += time.Since(t.started)
}

// report gives each step's mean time as STEP-ms/op.
func (t *stepTimes) report(b *testing.B) {
	for _, s := range []StepName{StepValidate, StepWrite, StepSwitch, StepReload, StepVerify, StepDone} {
		b.ReportMetric(float64(t.spent[s].Microseconds())/1000/float64(b.N), string(s)+"-ms/op")
	}
}
