package apply

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smtptls/smtptls/config"
	"github.com/smtptls/smtptls/internal/testpki"
)

func attention(s Status) string { return strings.Join(s.NeedsAttention, " | ") }

func TestCurrentAllWell(t *testing.T) {
	f := newFixture(t)
	r := f.mustApply(f.request(config.ModeAvailable, "a"))
	s, err := Current(context.Background(), f.deps, f.dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.NeedsAttention) != 0 || !s.Running || !s.ServesInstalled || s.Generation != r.Generation || s.Summary == nil || s.Fingerprint != f.fp("a") {
		t.Errorf("status %+v, attention: %s", s, attention(s))
	}
	if len(s.Generations) != 1 || !s.Generations[0].Current {
		t.Errorf("generations %+v", s.Generations)
	}
}

func TestCurrentExpiringSoon(t *testing.T) {
	f := newFixture(t)
	root, _ := testpki.NewRoot(testpki.Template{CommonName: "Root", Now: f.now})
	inter, _ := root.Issue(testpki.Template{CommonName: "Inter", IsCA: true, Now: f.now})
	leaf, _ := inter.Issue(testpki.Template{CommonName: "mail.example.test", DNSNames: []string{"mail.example.test"}, Now: f.now, NotAfter: f.now.Add(9*24*time.Hour + time.Hour)})
	req := f.request(config.ModeAvailable, "unused")
	req.Cert, req.Key, req.CA = leaf.PEM(), leaf.KeyPEM(), append(inter.PEM(), root.PEM()...)
	f.mustApply(req)
	s, _ := Current(context.Background(), f.deps, f.dir)
	if !strings.Contains(attention(s), "expires in 9 day(s)") {
		t.Errorf("attention: %s", attention(s))
	}
	// Once it has expired, validate's own error says so.
	f.now = f.now.AddDate(0, 0, 10)
	s, _ = Current(context.Background(), f.deps, f.dir)
	if !strings.Contains(strings.ToLower(attention(s)), "expired") {
		t.Errorf("attention after expiry: %s", attention(s))
	}
}

func TestCurrentInstalledKeyMismatch(t *testing.T) {
	f := newFixture(t)
	r := f.mustApply(f.request(config.ModeAvailable, "a"))
	other := testpki.MustChain(f.now, testpki.ECDSAP256, "mail.example.test")
	key := filepath.Join(f.dir, config.GenerationsDir, r.Generation, config.KeyFile)
	if err := os.WriteFile(key, other.Leaf.KeyPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	s, _ := Current(context.Background(), f.deps, f.dir)
	if len(s.NeedsAttention) == 0 || !strings.Contains(strings.ToLower(attention(s)), "key") {
		t.Errorf("a key that does not match went unnoticed: %s", attention(s))
	}
	assertNoKey(t, attention(s), other.Leaf.KeyPEM())
}

func TestCurrentUnreadableConfig(t *testing.T) {
	f := newFixture(t)
	r := f.mustApply(f.request(config.ModeAvailable, "a"))
	os.Remove(filepath.Join(f.dir, config.GenerationsDir, r.Generation, config.KeyFile))
	s, err := Current(context.Background(), f.deps, f.dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.LoadError == "" || s.Generation != r.Generation || !strings.Contains(attention(s), "cannot be read") {
		t.Errorf("status %+v", s)
	}
	// ...and apply refuses to build on defaults in its place: it names the
	// ways out and changes nothing.
	res := Run(context.Background(), f.deps, f.request(config.ModeAvailable, "b"), nil)
	if res.Applied || res.FailedStep != StepValidate || !strings.Contains(res.Message, "smtptls rollback") {
		t.Errorf("apply over an unreadable config: %+v", res)
	}
	if cur, _ := config.CurrentGeneration(f.dir); cur != r.Generation {
		t.Errorf("current is %s, want %s untouched", cur, r.Generation)
	}
}

func TestCurrentListenerDownAndStale(t *testing.T) {
	f := newFixture(t)
	f.mustApply(f.request(config.ModeAvailable, "a"))
	// Installed behind the listener's back: served != installed.
	st, _ := config.OpenStore(f.dir, f.deps.Host)
	ch := testpki.MustChain(f.now, testpki.ECDSAP256, "mail.example.test")
	l := f.loaded()
	gen, _ := st.Stage(l.Settings, config.Material{CertPEM: ch.Leaf.PEM(), KeyPEM: ch.Leaf.KeyPEM(), ChainPEM: ch.Intermediate.PEM(), CAPEM: ch.Root.PEM()})
	st.Activate(gen)
	s, _ := Current(context.Background(), f.deps, f.dir)
	if s.ServesInstalled || !strings.Contains(attention(s), "smtptls reload") {
		t.Errorf("stale listener: %+v %s", s.ServesInstalled, attention(s))
	}
	f.l.Stop(context.Background(), f.dir)
	s, _ = Current(context.Background(), f.deps, f.dir)
	if s.Running || !strings.Contains(attention(s), "not running") {
		t.Errorf("stopped listener: %s", attention(s))
	}
}

func TestCurrentNothingApplied(t *testing.T) {
	f := newFixture(t)
	s, err := Current(context.Background(), f.deps, f.dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.Generation != "" || !strings.Contains(attention(s), "nothing has been applied") || s.Settings.Mode != config.ModeDisabled {
		t.Errorf("status %+v", s)
	}
}
