package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// Advice such as `smtptls serve --detach`, run as printed by root, acts on
// /etc/smtptls and port 25: status names the directory it looked at.
func TestStatusPrintsCommandsWithTheConfigDir(t *testing.T) {
	a := newApplyEnv(t)
	one := writePKI(t, "one")
	a.mustApply("available", one)
	if o, e, code := a.run("stop", "--config-dir", a.dir); code != exitOK {
		t.Fatalf("stop: %s%s", o, e)
	}
	out, errOut, _ := a.run("status", "--config-dir", a.dir)
	if want := "`smtptls serve --config-dir " + a.dir + " --detach`"; !strings.Contains(out, want) {
		t.Fatalf("status does not advise %s:\n%s%s", want, out, errOut)
	}
}

// An admin trying mode required with set on a scratch directory is told
// to use apply instead; run as printed, that apply must switch the scratch
// gateway, not the default one.
func TestSetPrintsCommandsWithTheConfigDir(t *testing.T) {
	a := newApplyEnv(t)
	one := writePKI(t, "one")
	a.mustApply("available", one)
	want := "`smtptls apply --config-dir " + a.dir + " --mode required --yes`"
	assertAdvises(t, a, want, "set", "--config-dir", a.dir, "mode=required")
}

// A rollback with nothing to go back to points at status; run as printed,
// status must list the generations of this directory, not the default one.
func TestRollbackPrintsCommandsWithTheConfigDir(t *testing.T) {
	a := newApplyEnv(t)
	one := writePKI(t, "one")
	a.mustApply("available", one)
	want := "`smtptls status --config-dir " + a.dir + "`"
	assertAdvises(t, a, want, "rollback", "--config-dir", a.dir)
}

// assertAdvises runs a refused transaction twice, as steps on stdout and
// as --json, and fails unless each exits 1 and advises the command want.
func assertAdvises(t *testing.T, a *applyEnv, want string, args ...string) {
	t.Helper()
	out, errOut, code := a.run(args...)
	if code != exitFail || !strings.Contains(out, want) {
		t.Errorf("%s: exit %d, want %d and advice %s:\n%s%s", args[0], code, exitFail, want, out, errOut)
	}
	// Flags before KEY=VALUE: set stops parsing flags at the first one.
	out, errOut, code = a.run(append([]string{args[0], "--json"}, args[1:]...)...)
	var res struct {
		Message string `json:"message"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%s --json: %v:\n%s%s", args[0], err, out, errOut)
	}
	if code != exitFail || !strings.Contains(res.Message, want) {
		t.Errorf("%s --json: exit %d, message %q; want %d and advice %s", args[0], code, res.Message, exitFail, want)
	}
}
