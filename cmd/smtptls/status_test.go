package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/smtptls/smtptls/apply"
	"github.com/smtptls/smtptls/config"
)

// TestStatusCatchesRenewalNeverReloaded installs a renewed certificate the
// way a careless deploy hook does (files switched, listener not told):
// status must say the listener serves something else, and exit 1.
func TestStatusCatchesRenewalNeverReloaded(t *testing.T) {
	a := newApplyEnv(t)
	one, two := writePKI(t, "one"), writePKI(t, "two")
	a.mustApply("available", one)
	out, errOut, code := a.run("status", "--config-dir", a.dir)
	if code != exitOK || !strings.Contains(out, "the installed configuration") || !strings.Contains(out, "All well.") {
		t.Fatalf("status after a good apply: exit %d\n%s%s", code, out, errOut)
	}

	st, err := config.OpenStore(a.dir, config.ThisHost())
	if err != nil {
		t.Fatal(err)
	}
	l, err := config.Load(a.dir, config.ThisHost())
	if err != nil {
		t.Fatal(err)
	}
	gen, err := st.Stage(l.Settings, config.Material{CertPEM: two.ch.Leaf.PEM(), KeyPEM: two.ch.Leaf.KeyPEM(), ChainPEM: two.ch.Intermediate.PEM(), CAPEM: two.ch.Root.PEM()})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Activate(gen); err != nil {
		t.Fatal(err)
	}

	out, errOut, code = a.run("status", "--config-dir", a.dir)
	if code != exitFail {
		t.Errorf("status with a stale listener: exit %d, want 1", code)
	}
	for _, want := range []string{"NOT the installed configuration", "smtptls reload", one.fp[:16], two.fp[:16]} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q:\n%s%s", want, out, errOut)
		}
	}
	out, _, code = a.run("status", "--config-dir", a.dir, "--json")
	var s apply.Status
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	if code != exitFail || s.ServesInstalled || !s.Running || len(s.NeedsAttention) == 0 || s.Fingerprint != two.fp || s.Listener.Fingerprint != one.fp {
		t.Errorf("status --json (exit %d): %+v", code, s)
	}

	if o, e, code := a.run("reload", "--config-dir", a.dir); code != exitOK {
		t.Fatalf("reload: %s%s", o, e)
	}
	if out, errOut, code := a.run("status", "--config-dir", a.dir); code != exitOK {
		t.Errorf("status after the reload: exit %d\n%s%s", code, out, errOut)
	}

	if o, e, code := a.run("stop", "--config-dir", a.dir); code != exitOK {
		t.Fatalf("stop: %s%s", o, e)
	}
	out, errOut, code = a.run("status", "--config-dir", a.dir)
	if code != exitFail || !strings.Contains(out, "listener is not running") {
		t.Errorf("status with the listener stopped: exit %d\n%s%s", code, out, errOut)
	}
}

func TestStatusOfAnEmptyDirectory(t *testing.T) {
	a := newApplyEnv(t)
	out, errOut, code := a.run("status", "--config-dir", a.dir)
	if code != exitFail || !strings.Contains(out, "nothing applied yet") || !strings.Contains(out, "not running") {
		t.Errorf("exit %d\n%s%s", code, out, errOut)
	}
	if _, err := os.Stat(a.dir); !os.IsNotExist(err) {
		t.Errorf("status created the config dir")
	}
}
