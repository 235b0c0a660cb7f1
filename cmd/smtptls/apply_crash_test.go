package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/smtptls/smtptls/config"
)

// TestApplyKilledAtManyPoints SIGKILLs the apply process at delays spread
// over a whole apply, so the kill lands before, during and after the write,
// the switch, the reload and the verify. Each time the config directory must
// load and hold either the old or the new configuration, whole; the next
// apply must then clean up and succeed.
func TestApplyKilledAtManyPoints(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a subprocess some 20 times")
	}
	a := newApplyEnv(t)
	one, two := writePKI(t, "one"), writePKI(t, "two")
	// Two configurations that differ in everything: mode, certificate, key.
	argsFor := map[bool][]string{false: a.applyArgs("available", one), true: a.applyArgs("required", two)}
	fpFor := map[config.Mode]string{config.ModeAvailable: one.fp, config.ModeRequired: two.fp}

	if o, e, code := a.run(argsFor[false]...); code != exitOK {
		t.Fatalf("first apply: %s%s", o, e)
	}
	// A reload-only apply is what the kills interrupt; time one.
	start := time.Now()
	if o, e, code := a.run(argsFor[true]...); code != exitOK {
		t.Fatalf("second apply: %s%s", o, e)
	}
	full := time.Since(start)
	t.Logf("one apply process takes %v", full)

	h := config.Host{Getenv: func(string) string { return "" }, UserConfigDir: os.UserConfigDir}
	points := crashPoints(full, 16)
	seen := map[string]int{}
	for i, p := range points {
		before, err := config.Load(a.dir, h)
		if err != nil {
			t.Fatalf("kill %d: config dir does not load before: %v", i, err)
		}
		// Always apply the other configuration, so old and new differ.
		next := before.Settings.Mode != config.ModeRequired
		err = a.killDuring(p, argsFor[next]...)
		outcome := "killed"
		if err == nil {
			outcome = "finished"
		}

		after, err := config.Load(a.dir, h)
		if err != nil {
			t.Fatalf("kill %d (%+v): the config dir does not load: %v", i, p, err)
		}
		if after.Generation != before.Generation {
			outcome += ", new generation live"
		} else {
			outcome += ", old generation live"
		}
		seen[outcome]++
		if got, want := leafFP(t, after.CertPEM), fpFor[after.Settings.Mode]; got != want {
			t.Fatalf("kill %d (%+v): generation %s is a mix: mode %s with certificate %s", i, p, after.Generation, after.Settings.Mode, got)
		}
		if after.Generation != before.Generation && after.Settings.Mode == before.Settings.Mode {
			t.Fatalf("kill %d (%+v): a new generation went live with the old content", i, p)
		}
		switch p.afterStep {
		case "switch", "reload", "verify":
			if after.Generation == before.Generation {
				t.Errorf("killed after the %s step reported done, yet the old generation is live", p.afterStep)
			}
		case "validate":
			if after.Generation != before.Generation {
				t.Errorf("killed right after validate, yet a new generation is live")
			}
		}
		// The listener may now serve the old generation while the new one
		// is installed (killed between switch and reload): a reload is how
		// an admin, told so by status, puts that right. Bring it in line so
		// the next round starts from a consistent state.
		a.run("reload", "--config-dir", a.dir)
	}
	t.Logf("outcomes over %d kills: %v", len(points), seen)

	// Recovery: a normal apply works, leaves no debris, and is served.
	if o, e, code := a.run(a.applyArgs("available", one)...); code != exitOK {
		t.Fatalf("apply after the kills: exit %d\n%s%s", code, o, e)
	}
	ents, _ := os.ReadDir(filepath.Join(a.dir, config.GenerationsDir))
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("debris left in generations/: %s", e.Name())
		}
	}
	top, _ := os.ReadDir(a.dir)
	for _, e := range top {
		if strings.HasPrefix(e.Name(), config.CurrentLink+".") {
			t.Errorf("debris left in the config dir: %s", e.Name())
		}
	}
	if gens, _ := config.ListGenerations(a.dir); len(gens) > config.KeepGenerations+1 {
		t.Errorf("%d generations kept", len(gens))
	}
	if got := opensslServed(t, a.listen(), one.ca, one.name); got != one.fp {
		t.Errorf("after recovery openssl sees %s, want %s", got, one.fp)
	}
	if o, e, code := a.run("status", "--config-dir", a.dir); code != exitOK {
		t.Errorf("status after recovery: exit %d\n%s%s", code, o, e)
	}
}

// killAt is one point to SIGKILL a command at: right after a step reports
// done (read from the progress it prints), or after a delay.
type killAt struct {
	afterStep string
	delay     time.Duration
}

// crashPoints are a kill after each step of the transaction, then timed
// kills spread over 120% of full, a run's whole duration.
func crashPoints(full time.Duration, timed int) []killAt {
	var points []killAt
	for _, s := range []string{"validate", "write", "switch", "reload", "verify"} {
		points = append(points, killAt{afterStep: s})
	}
	for i := 0; i < timed; i++ {
		points = append(points, killAt{delay: full * time.Duration(i) / time.Duration(timed) * 12 / 10})
	}
	return points
}

// killDuring runs the binary with args and SIGKILLs it at p. The error is
// the command's: nil when it finished before the kill.
func (a *applyEnv) killDuring(p killAt, args ...string) error {
	a.t.Helper()
	return killBinDuring(a.t, 60*time.Second, a.bin, a.dir, p, args...)
}

// killBinDuring runs bin on the config dir dir with args, as binCmd does,
// and SIGKILLs it at p, within timeout. The error is the command's: nil
// when it finished before the kill.
func killBinDuring(t testing.TB, timeout time.Duration, bin, dir string, p killAt, args ...string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c := binCmd(ctx, bin, dir, args...)
	out, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if p.afterStep != "" {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "ok   "+p.afterStep) {
				break
			}
		}
	} else {
		time.Sleep(p.delay)
	}
	c.Process.Signal(syscall.SIGKILL)
	go io.Copy(io.Discard, out)
	return c.Wait()
}
