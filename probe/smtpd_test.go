package probe_test

import (
	"context"
	"crypto/tls"
	"io/fs"
	"path/filepath"
	"testing"
	"time"

	"github.com/smtptls/smtptls/config"
	"github.com/smtptls/smtptls/internal/testpki"
	"github.com/smtptls/smtptls/probe"
	"github.com/smtptls/smtptls/smtpd"
)

// Against our own listener, in each mode, as apply runs it.

type ownListener struct {
	srv   *smtpd.Server
	spool string
	addr  string
}

func smtpdConfig(t testing.TB, mode config.Mode, ch *testpki.Chain, spool string) smtpd.Config {
	t.Helper()
	cfg := smtpd.Config{
		Generation:      "20261128T120000Z-0001",
		Mode:            mode,
		Hostname:        host,
		Listen:          "127.0.0.1:0",
		SpoolDir:        spool,
		BareLineEndings: config.BareReject,
		Limits:          config.DefaultSettings(false, host).Limits,
	}
	if mode.NeedsCertificate() {
		cfg.Certificate = &tls.Certificate{
			Certificate: [][]byte{ch.Leaf.Cert.Raw, ch.Intermediate.Cert.Raw},
			PrivateKey:  ch.Leaf.Key,
			Leaf:        ch.Leaf.Cert,
		}
		cfg.Fingerprint = smtpd.Fingerprint(ch.Leaf.Cert.Raw)
	}
	return cfg
}

func startOwn(t testing.TB, mode config.Mode, ch *testpki.Chain) ownListener {
	t.Helper()
	spool := t.TempDir()
	srv, err := smtpd.New(smtpdConfig(t, mode, ch, spool), smtpd.Options{})
	if err != nil {
		t.Fatalf("smtpd.New: %v", err)
	}
	if err := srv.Start(); err != nil {
		t.Fatalf("smtpd Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return ownListener{srv: srv, spool: spool, addr: srv.Addr().String()}
}

// spooled counts regular files under the spool: the probe must leave none.
func spooled(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return nil
	})
	return n
}

func TestOwnListenerDisabled(t *testing.T) {
	l := startOwn(t, config.ModeDisabled, nil)
	r := run(t, probe.Options{Target: l.addr, ExpectDisabled: true})
	expect(t, r, probe.StageSTARTTLS, probe.Pass, "as expected in disabled mode")
	expect(t, r, probe.StageMail, probe.Pass, "accepted in plaintext")
	if r.Failed() {
		t.Errorf("disabled listener failed its own check: %+v", r.Hosts[0].Stages)
	}
	// Verified as a TLS receiver, a disabled listener fails at STARTTLS.
	r = run(t, probe.Options{Target: l.addr, Hostname: host})
	expect(t, r, probe.StageSTARTTLS, probe.Fail, "not offered")
	if n := spooled(t, l.spool); n != 0 {
		t.Errorf("%d files in the spool after probing; the probe must send no message", n)
	}
}

func TestOwnListenerAvailable(t *testing.T) {
	ch := testpki.MustChain(time.Now(), testpki.ECDSAP256, host)
	l := startOwn(t, config.ModeAvailable, ch)
	r := run(t, probe.Options{Target: l.addr, Hostname: host, Roots: rootsOf(ch), ExpectFingerprint: probe.Fingerprint(ch.Leaf.Cert)})
	for _, s := range r.Hosts[0].Stages {
		if s.Status != probe.Pass {
			t.Errorf("stage %s = %s %q, want pass", s.Name, s.Status, s.Detail)
		}
	}
	expect(t, r, probe.StageRequired, probe.Pass, "TLS not required")
	r = run(t, probe.Options{Target: l.addr, Hostname: host, Roots: rootsOf(ch), ExpectRequired: true})
	expect(t, r, probe.StageRequired, probe.Fail, "TLS is not required")
	if n := spooled(t, l.spool); n != 0 {
		t.Errorf("%d files in the spool after probing", n)
	}
}

func TestOwnListenerRequired(t *testing.T) {
	ch := testpki.MustChain(time.Now(), testpki.ECDSAP256, host)
	l := startOwn(t, config.ModeRequired, ch)
	r := run(t, probe.Options{Target: l.addr, Hostname: host, Roots: rootsOf(ch), ExpectRequired: true})
	expect(t, r, probe.StageRequired, probe.Pass, "plaintext MAIL refused with 530")
	expect(t, r, probe.StageMail, probe.Pass, "accepted over TLS")
	if r.Failed() || r.Score != 100 {
		t.Errorf("required listener: failed %v score %d: %+v", r.Failed(), r.Score, r.Hosts[0].Stages)
	}
}

// The apply use: after a reload the probe proves which certificate is
// served, catching "renewed but never reloaded".
func TestOwnListenerFingerprintFollowsReload(t *testing.T) {
	old := testpki.MustChain(time.Now(), testpki.ECDSAP256, host)
	l := startOwn(t, config.ModeAvailable, old)
	renewed := testpki.MustChain(time.Now(), testpki.ECDSAP256, host)
	want := probe.Fingerprint(renewed.Leaf.Cert)

	r := run(t, probe.Options{Target: l.addr, Hostname: host, Roots: rootsOf(renewed), ExpectFingerprint: want})
	expect(t, r, probe.StageFingerprint, probe.Fail, "not reloaded?")

	if err := l.srv.Reload(smtpdConfig(t, config.ModeAvailable, renewed, l.spool)); err != nil {
		t.Fatalf("reload: %v", err)
	}
	r = run(t, probe.Options{Target: l.addr, Hostname: host, Roots: rootsOf(renewed), ExpectFingerprint: want})
	expect(t, r, probe.StageFingerprint, probe.Pass, "expected certificate")
	expect(t, r, probe.StageTrust, probe.Pass, "trusted")
}
