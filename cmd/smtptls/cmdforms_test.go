package main

import (
	"strings"
	"testing"
)

// Advice such as `smtptls serve --detach`, run as printed by root, acts on
// /etc/smtptls and port 25: status names the directory it looked at.
func TestStatusPrintsCommandsWithTheConfigDir(t *testing.T) {
	a := newApplyEnv(t)
	one := writePKI(t, "one")
	if o, e, code := a.run(a.applyArgs("available", one)...); code != exitOK {
		t.Fatalf("apply: %s%s", o, e)
	}
	if o, e, code := a.run("stop", "--config-dir", a.dir); code != exitOK {
		t.Fatalf("stop: %s%s", o, e)
	}
	out, errOut, _ := a.run("status", "--config-dir", a.dir)
	if want := "`smtptls serve --config-dir " + a.dir + " --detach`"; !strings.Contains(out, want) {
		t.Fatalf("status does not advise %s:\n%s%s", want, out, errOut)
	}
}
