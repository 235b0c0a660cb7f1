package main

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/smtptls/smtptls/config"
)

// TestSetKilledAtEachStep SIGKILLs `smtptls set` right after each step
// reports done, and at delays spread over a whole set, with the kill
// points and helper of TestApplyKilledAtManyPoints. Each time the config
// directory must load, hold the old or the new value whole, and its live
// generation must match its manifest; the next set must then succeed.
func TestSetKilledAtEachStep(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a subprocess some 15 times")
	}
	a := newApplyEnv(t)
	one := writePKI(t, "one")
	a.mustApply("available", one)
	h := config.Host{Getenv: func(string) string { return "" }, UserConfigDir: os.UserConfigDir}
	setArgs := func(v int) []string {
		return []string{"set", "--config-dir", a.dir, "limits.max_connections_per_ip=" + strconv.Itoa(v)}
	}
	start := time.Now()
	if o, e, code := a.run(setArgs(50)...); code != exitOK {
		t.Fatalf("set: %s%s", o, e)
	}
	full := time.Since(start)

	points := crashPoints(full, 10)
	seen := map[string]int{}
	for i, p := range points {
		before, err := config.Load(a.dir, h)
		if err != nil {
			t.Fatalf("kill %d: config dir does not load before: %v", i, err)
		}
		old := before.Settings.Limits.MaxConnectionsPerIP
		next := 50 + 10*(i+1)
		a.killDuring(p, setArgs(next)...)

		after, err := config.Load(a.dir, h)
		if err != nil {
			t.Fatalf("kill %d (%+v): the config dir does not load: %v", i, p, err)
		}
		if err := config.CheckGeneration(a.dir, after.Generation); err != nil {
			t.Fatalf("kill %d (%+v): the live generation does not match its manifest: %v", i, p, err)
		}
		got := after.Settings.Limits.MaxConnectionsPerIP
		switch {
		case got == old && after.Generation == before.Generation:
			seen["old"]++
		case got == next && after.Generation != before.Generation:
			seen["new"]++
		default:
			t.Fatalf("kill %d (%+v): generation %s (was %s) holds %d, want the old %d or the new %d", i, p, after.Generation, before.Generation, got, old, next)
		}
		if after.Settings.Mode != config.ModeAvailable || leafFP(t, after.CertPEM) != one.fp {
			t.Fatalf("kill %d (%+v): the material changed: mode %s", i, p, after.Settings.Mode)
		}
		// Killed between switch and verify, the listener may serve the old
		// generation: reload it, as status says.
		a.run("reload", "--config-dir", a.dir)
	}
	t.Logf("outcomes over %d kills: %v", len(points), seen)

	if o, e, code := a.run(setArgs(42)...); code != exitOK {
		t.Fatalf("set after the kills: exit %d\n%s%s", code, o, e)
	}
	if o, e, code := a.run("status", "--config-dir", a.dir); code != exitOK {
		t.Errorf("status after recovery: exit %d\n%s%s", code, o, e)
	}
	if got := opensslServed(t, a.listen(), one.ca, one.name); got != one.fp {
		t.Errorf("after recovery openssl sees %s", got)
	}
}
