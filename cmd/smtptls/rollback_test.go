package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/smtptls/smtptls/apply"
	"github.com/smtptls/smtptls/config"
)

func TestRollbackServesThePreviousCertificate(t *testing.T) {
	a := newApplyEnv(t)
	one, two := writePKI(t, "one"), writePKI(t, "two")
	if o, e, code := a.run(a.applyArgs("available", one)...); code != exitOK {
		t.Fatalf("apply one: %s%s", o, e)
	}
	first, _ := config.CurrentGeneration(a.dir)
	if o, e, code := a.run(a.applyArgs("required", two)...); code != exitOK {
		t.Fatalf("apply two: %s%s", o, e)
	}
	second, _ := config.CurrentGeneration(a.dir)
	out, _, _ := a.run("status", "--config-dir", a.dir)
	if !strings.Contains(out, second+"  (live)") || !strings.Contains(out, "rollback to   "+first) || strings.Index(out, second) > strings.Index(out, first+"\n") {
		t.Errorf("status does not list the generations newest first with the live one marked:\n%s", out)
	}

	out, errOut, code := a.run("rollback", "--config-dir", a.dir)
	if code != exitOK || !strings.Contains(out, "ok   verify") {
		t.Fatalf("rollback: exit %d\n%s%s", code, out, errOut)
	}
	if cur, _ := config.CurrentGeneration(a.dir); cur != first {
		t.Errorf("current %s after rollback, want %s", cur, first)
	}
	if got := opensslServed(t, a.listen(), one.ca, one.name); got != one.fp {
		t.Errorf("after rollback openssl sees %s, want %s", got, one.fp)
	}

	// Forward again by name, as JSON.
	out, errOut, code = a.run("rollback", "--config-dir", a.dir, "--to", second, "--json")
	var r apply.Result
	if err := json.Unmarshal([]byte(out), &r); err != nil || code != exitOK || !r.Applied || r.Generation != second || r.Previous != first {
		t.Fatalf("rollback --to %s: exit %d %+v (%v)\n%s", second, code, r, err, errOut)
	}
	if got := opensslServed(t, a.listen(), two.ca, two.name); got != two.fp {
		t.Errorf("after rollback --to openssl sees %s, want %s", got, two.fp)
	}
}

func TestRollbackRefusals(t *testing.T) {
	a := newApplyEnv(t)
	one := writePKI(t, "one")
	out, errOut, code := a.run("rollback", "--config-dir", a.dir)
	if code != exitFail || !strings.Contains(out, "no earlier generation") {
		t.Errorf("rollback with nothing applied: exit %d\n%s%s", code, out, errOut)
	}
	a.mustApply("available", one)
	cur, _ := config.CurrentGeneration(a.dir)
	for to, want := range map[string]string{
		"../../etc":             "not a generation name",
		cur:                     "already the live one",
		"20200101T000000Z-0099": "cannot be loaded",
	} {
		out, errOut, code := a.run("rollback", "--config-dir", a.dir, "--to", to)
		if code != exitFail || !strings.Contains(out, want) {
			t.Errorf("rollback --to %s: exit %d, want 1 and %q\n%s%s", to, code, want, out, errOut)
		}
	}
	if got := opensslServed(t, a.listen(), one.ca, one.name); got != one.fp {
		t.Errorf("refused rollbacks changed what is served")
	}
}
