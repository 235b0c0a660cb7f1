package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smtptls/smtptls/config"
)

// currentFile is the path of a file in the live generation.
func (a *applyEnv) currentFile(name string) string {
	return filepath.Join(a.dir, config.CurrentLink, name)
}

// editCurrent rewrites a file of the live generation the way an admin with
// an editor would.
func (a *applyEnv) editCurrent(name string, edit func(string) string) {
	a.t.Helper()
	p := a.currentFile(name)
	b, err := os.ReadFile(p)
	if err != nil {
		a.t.Fatal(err)
	}
	if err := os.Chmod(p, 0o600); err != nil {
		a.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(edit(string(b))), 0o600); err != nil {
		a.t.Fatal(err)
	}
}

// Finding 1: an installed config.toml that cannot be read made apply build
// from defaults (listen (none) -> :25 as root) and exit 0.
func TestTrustUnreadableInstalledConfigIsRefused(t *testing.T) {
	a := newApplyEnv(t)
	one, two := writePKI(t, "one"), writePKI(t, "two")
	if o, e, code := a.run(a.applyArgs("available", one)...); code != exitOK {
		t.Fatalf("first apply: exit %d\n%s%s", code, o, e)
	}
	a.editCurrent(config.SettingsFile, func(s string) string { return strings.Replace(s, "spool_dir", "spool_dirr", 1) })
	before, _ := os.ReadFile(a.currentFile(config.SettingsFile))
	gensBefore, _ := config.ListGenerations(a.dir)

	for _, dry := range []bool{true, false} {
		args := []string{"apply", "--config-dir", a.dir, "--mode", "available", "--cert", two.cert, "--key", two.key, "--ca", two.ca}
		if dry {
			args = append(args, "--dry-run")
		}
		out, errOut, code := a.run(args...)
		all := out + errOut
		if code != exitFail {
			t.Errorf("apply (dry run %v) over an unreadable config: exit %d, want 1\n%s", dry, code, all)
		}
		for _, want := range []string{filepath.Join(config.GenerationsDir), "config.toml line ", "spool_dirr", "smtptls rollback"} {
			if !strings.Contains(all, want) {
				t.Errorf("apply (dry run %v) output lacks %q:\n%s", dry, want, all)
			}
		}
		if strings.Contains(all, "-> :25") || strings.Contains(all, "(none) ->") {
			t.Errorf("apply (dry run %v) still builds from defaults:\n%s", dry, all)
		}
	}
	after, _ := os.ReadFile(a.currentFile(config.SettingsFile))
	gensAfter, _ := config.ListGenerations(a.dir)
	if string(after) != string(before) || len(gensAfter) != len(gensBefore) {
		t.Errorf("the refused apply changed the disk: %d -> %d generations", len(gensBefore), len(gensAfter))
	}
	if got := opensslServed(t, a.listen(), one.ca, one.name); got != one.fp {
		t.Errorf("the listener serves %s, want the old %s", got, one.fp)
	}
}
