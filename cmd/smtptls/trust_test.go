package main

import (
	"bufio"
	"context"
	"encoding/json"
	"github.com/smtptls/smtptls/internal/loopback"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/smtptls/smtptls/apply"
	"github.com/smtptls/smtptls/config"
	"github.com/smtptls/smtptls/internal/testpki"
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

// expiredPKI is a certificate of p's CA that expired yesterday, with its
// key, written to files.
func expiredPKI(t *testing.T, p pki, tag string, notAfter time.Time) pki {
	t.Helper()
	leaf, err := p.ch.Intermediate.Issue(testpki.Template{CommonName: p.name, DNSNames: []string{p.name},
		NotBefore: notAfter.Add(-48 * time.Hour), NotAfter: notAfter})
	if err != nil {
		t.Fatal(err)
	}
	d := t.TempDir()
	e := pki{ch: &testpki.Chain{Root: p.ch.Root, Intermediate: p.ch.Intermediate, Leaf: leaf}, name: p.name,
		cert: filepath.Join(d, tag+"-cert.pem"), key: filepath.Join(d, tag+"-key.pem"), ca: p.ca, fp: leafFP(t, leaf.PEM())}
	os.WriteFile(e.cert, leaf.PEM(), 0o600)
	os.WriteFile(e.key, leaf.KeyPEM(), 0o600)
	return e
}

// Finding 2, first half: an expired certificate copied into current/ made
// status advise `smtptls reload`, and reload served it with exit 0.
func TestTrustReloadRefusesAnExpiredCertificate(t *testing.T) {
	a := newApplyEnv(t)
	one := writePKI(t, "one")
	a.mustApply("available", one)
	old := expiredPKI(t, one, "old", time.Now().Add(-24*time.Hour))
	for src, dst := range map[string]string{old.cert: config.CertFile, old.key: config.KeyFile} {
		b, _ := os.ReadFile(src)
		a.editCurrent(dst, func(string) string { return string(b) })
	}

	out, errOut, code := a.run("status", "--config-dir", a.dir)
	if code != exitFail || !strings.Contains(out, "expired") {
		t.Errorf("status: exit %d, want 1 naming the expiry\n%s%s", code, out, errOut)
	}
	if strings.Contains(out, "run `smtptls reload`") {
		t.Errorf("status suggests a reload that would serve an expired certificate:\n%s", out)
	}
	out, errOut, code = a.run("reload", "--config-dir", a.dir)
	if code != exitFail || !strings.Contains(errOut, "expired") || !strings.Contains(errOut, "reload refused") {
		t.Errorf("reload: exit %d, want 1 and the reason\n%s%s", code, out, errOut)
	}
	if got := opensslServed(t, a.listen(), one.ca, one.name); got != one.fp {
		t.Errorf("after the refused reload the listener serves %s, want %s", got, one.fp)
	}
	// --force is the emergency override: it loads, and says so loudly.
	out, errOut, code = a.run("reload", "--config-dir", a.dir, "--force")
	if code != exitOK || !strings.Contains(errOut, "FORCED") {
		t.Errorf("reload --force: exit %d, want 0 and a loud warning\n%s%s", code, out, errOut)
	}
}

// Finding 2, second half: rollback to a generation whose certificate has
// expired since said "live and verified" and exited 0.
func TestTrustRollbackRefusesAnExpiredGeneration(t *testing.T) {
	a := newApplyEnv(t)
	one, two := writePKI(t, "one"), writePKI(t, "two")
	// A certificate that is valid when applied and expires seconds later,
	// as every certificate does in the end.
	until := time.Now().Add(3 * time.Second).Truncate(time.Second)
	short := expiredPKI(t, one, "short", until)
	if o, e, code := a.run(a.applyArgs("available", short)...); code != exitOK {
		t.Fatalf("apply of the short-lived certificate: exit %d\n%s%s", code, o, e)
	}
	first, _ := config.CurrentGeneration(a.dir)
	if o, e, code := a.run(a.applyArgs("available", two)...); code != exitOK {
		t.Fatalf("second apply: exit %d\n%s%s", code, o, e)
	}
	second, _ := config.CurrentGeneration(a.dir)
	time.Sleep(time.Until(until) + time.Second)

	out, errOut, code := a.run("rollback", "--config-dir", a.dir, "--dry-run")
	if code != exitFail || !strings.Contains(out, "expired") {
		t.Errorf("rollback --dry-run: exit %d, want 1 naming the expiry\n%s%s", code, out, errOut)
	}
	out, errOut, code = a.run("rollback", "--config-dir", a.dir)
	if code != exitFail || !strings.Contains(out, "expired") || strings.Contains(out, "live and verified") {
		t.Errorf("rollback onto an expired certificate: exit %d, want 1\n%s%s", code, out, errOut)
	}
	if cur, _ := config.CurrentGeneration(a.dir); cur != second {
		t.Errorf("current is %s after the refused rollback, want %s", cur, second)
	}
	if got := opensslServed(t, a.listen(), two.ca, two.name); got != two.fp {
		t.Errorf("the listener serves %s, want %s", got, two.fp)
	}
	out, errOut, code = a.run("rollback", "--config-dir", a.dir, "--to", first, "--force")
	if code != exitOK || !strings.Contains(out, "FORCED") || strings.Contains(out, "live and verified") {
		t.Errorf("rollback --force: exit %d, want 0 and FORCED, not 'verified'\n%s%s", code, out, errOut)
	}
}

// Finding 4: a link in current/ was followed: apply --mode disabled copied
// its target into the next generation, rollback --to switched to it.
func TestTrustLinksAreNeverFollowed(t *testing.T) {
	a := newApplyEnv(t)
	one, two := writePKI(t, "one"), writePKI(t, "two")
	a.mustApply("available", one)
	linked, _ := config.CurrentGeneration(a.dir)
	a.mustApply("available", two)
	live, _ := config.CurrentGeneration(a.dir)
	secret := filepath.Join(t.TempDir(), "shadow")
	const secretText = "root:$6$notarealhash:19000:0:99999:7:::\n"
	os.WriteFile(secret, []byte(secretText), 0o600)

	// rollback --to a generation holding a link: refused before switching.
	gdir := filepath.Join(a.dir, config.GenerationsDir, linked)
	os.Remove(filepath.Join(gdir, config.KeyFile))
	os.Symlink(secret, filepath.Join(gdir, config.KeyFile))
	out, errOut, code := a.run("rollback", "--config-dir", a.dir, "--to", linked)
	if code != exitFail || !strings.Contains(out+errOut, "symbolic link") {
		t.Errorf("rollback --to a generation with a link: exit %d, want 1\n%s%s", code, out, errOut)
	}
	if cur, _ := config.CurrentGeneration(a.dir); cur != live {
		t.Errorf("current is %s, want %s: the link was switched to", cur, live)
	}

	// A link in the live generation: apply refuses to carry it over.
	os.Remove(a.currentFile(config.CertFile))
	os.Symlink(secret, a.currentFile(config.CertFile))
	out, errOut, code = a.run("apply", "--config-dir", a.dir, "--mode", "disabled")
	if code != exitFail || !strings.Contains(out+errOut, "symbolic link") {
		t.Errorf("apply --mode disabled over a link: exit %d, want 1\n%s%s", code, out, errOut)
	}
	if cur, _ := config.CurrentGeneration(a.dir); cur != live {
		t.Errorf("current is %s, want %s", cur, live)
	}
	filepath.WalkDir(filepath.Join(a.dir, config.GenerationsDir), func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if b, _ := os.ReadFile(p); strings.Contains(string(b), "notarealhash") {
				t.Errorf("%s holds the linked file's content", p)
			}
		}
		return nil
	})
	// `current` pointing outside the config dir is refused too.
	elsewhere := t.TempDir()
	os.Remove(filepath.Join(a.dir, config.CurrentLink))
	os.Symlink(elsewhere, filepath.Join(a.dir, config.CurrentLink))
	out, errOut, code = a.run("apply", "--config-dir", a.dir, "--mode", "disabled", "--dry-run")
	if code != exitFail || !strings.Contains(out+errOut, "outside") {
		t.Errorf("apply with current pointing outside: exit %d, want 1\n%s%s", code, out, errOut)
	}
}

// Finding 6: a hand-edited generation went live through reload with no
// verify, and status and the dry run saw nothing.
func TestTrustHandEditsAreDetected(t *testing.T) {
	a := newApplyEnv(t)
	one := writePKI(t, "one")
	a.mustApply("available", one)
	gen, _ := config.CurrentGeneration(a.dir)
	head, _ := os.ReadFile(a.currentFile(config.SettingsFile))
	if first := strings.SplitN(string(head), "\n", 2)[0]; !strings.Contains(first, "smtptls set") || !strings.Contains(first, "smtptls apply") || !strings.Contains(first, "never by editing") {
		t.Errorf("config.toml still invites editing:\n%s", head)
	}
	a.editCurrent(config.SettingsFile, func(s string) string {
		return strings.Replace(s, `command_timeout = "5m0s"`, `command_timeout = "1ns"`, 1)
	})
	out, errOut, code := a.run("status", "--config-dir", a.dir)
	if code != exitFail || !strings.Contains(out, "generation "+gen+" was edited after it was applied") || strings.Contains(out, "All well") {
		t.Errorf("status after a hand edit: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = a.run("reload", "--config-dir", a.dir)
	if code != exitFail || !strings.Contains(errOut, "was edited after it was applied") {
		t.Errorf("reload of a hand edit: exit %d, want 1\n%s%s", code, out, errOut)
	}
	out, errOut, code = a.run("apply", "--config-dir", a.dir, "--mode", "available", "--dry-run")
	if code != exitFail || !strings.Contains(out, "command_timeout") {
		t.Errorf("dry run after a hand edit: exit %d, want 1 naming command_timeout\n%s%s", code, out, errOut)
	}
	// The listener still serves sessions that complete STARTTLS.
	if got := opensslServed(t, a.listen(), one.ca, one.name); got != one.fp {
		t.Errorf("served %s", got)
	}

	// Values reload refuses are reported by status too.
	a.editCurrent(config.SettingsFile, func(s string) string {
		s = strings.Replace(s, `command_timeout = "1ns"`, `command_timeout = "5m0s"`, 1)
		return strings.Replace(s, "max_recipients = 100", "max_recipients = -1", 1)
	})
	out, errOut, code = a.run("status", "--config-dir", a.dir)
	if code != exitFail || !strings.Contains(out, "max_recipients") {
		t.Errorf("status with a negative limit: exit %d\n%s%s", code, out, errOut)
	}
}

// Finding 3 and the renewal-hook story: a daily hook runs the same apply;
// it must leave one generation, and failed applies must never push the
// good ones out or be what a plain rollback picks.
func TestTrustRenewalHookKeepsTheGoodHistory(t *testing.T) {
	a := newApplyEnv(t)
	one, two, bad := writePKI(t, "one"), writePKI(t, "two"), writePKI(t, "bad")
	for i := 0; i < 10; i++ {
		out, errOut, code := a.run(a.applyArgs("available", one)...)
		if code != exitOK {
			t.Fatalf("hook run %d: exit %d\n%s%s", i, code, out, errOut)
		}
		if i > 0 && !strings.Contains(out, "already serving this configuration") {
			t.Errorf("hook run %d does not say it changed nothing:\n%s", i, out)
		}
	}
	if gens, _ := config.ListGenerations(a.dir); len(gens) != 1 {
		t.Fatalf("%d generations after ten identical applies, want 1", len(gens))
	}
	good, _ := config.CurrentGeneration(a.dir)
	if o, e, code := a.run(a.applyArgs("available", two)...); code != exitOK {
		t.Fatalf("apply two: exit %d\n%s%s", code, o, e)
	}
	live, _ := config.CurrentGeneration(a.dir)

	// Five applies that fail: the listener cannot bind the new address.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for i := 0; i < 5; i++ {
		args := a.applyArgs("available", bad)
		for j, v := range args {
			if v == "--listen" {
				args[j+1] = busy.Addr().String()
			}
		}
		if out, errOut, code := a.run(args...); code != exitFail || !strings.Contains(out, "rolled back") {
			t.Fatalf("failed apply %d: exit %d\n%s%s", i, code, out, errOut)
		}
	}
	out, _, _ := a.run("status", "--config-dir", a.dir)
	if !strings.Contains(out, "failed, rolled back") || !strings.Contains(out, good) || !strings.Contains(out, good+" (smtptls rollback)") {
		t.Errorf("status does not list the failure and the good history:\n%s", out)
	}
	gens, _ := config.ListGenerations(a.dir)
	failed := 0
	for _, g := range gens {
		if g.Status == config.StatusFailed {
			failed++
		}
	}
	if failed != 1 || len(gens) != 3 {
		t.Errorf("generations after five failures: %+v, want the two good ones and the newest failure", gens)
	}
	out, errOut, code := a.run("rollback", "--config-dir", a.dir)
	if code != exitOK {
		t.Fatalf("rollback: exit %d\n%s%s", code, out, errOut)
	}
	if cur, _ := config.CurrentGeneration(a.dir); cur != good {
		t.Errorf("plain rollback from %s went to %s, want the last good one %s", live, cur, good)
	}
	if got := opensslServed(t, a.listen(), one.ca, one.name); got != one.fp {
		t.Errorf("after the rollback the listener serves %s, want %s", got, one.fp)
	}
}

// set changes a setting through the whole transaction; bad values and
// unknown keys are refused with the disk unchanged.
func TestTrustSetChangesSettingsThroughTheTransaction(t *testing.T) {
	a := newApplyEnv(t)
	one := writePKI(t, "one")
	a.mustApply("available", one)
	before, _ := config.CurrentGeneration(a.dir)
	newListen := "127.0.0.1:" + strconv.Itoa(loopback.FreePort(t))

	out, errOut, code := a.run("set", "--config-dir", a.dir, "--dry-run", "listen="+newListen, "limits.max_connections_per_ip=50")
	if code != exitOK || !strings.Contains(out, "limits.max_connections_per_ip") || !strings.Contains(out, newListen) {
		t.Errorf("set --dry-run: exit %d\n%s%s", code, out, errOut)
	}
	if cur, _ := config.CurrentGeneration(a.dir); cur != before {
		t.Fatalf("the dry run switched to %s", cur)
	}

	for _, bad := range []struct{ arg, want string }{
		{"limits.max_conections=5", "known ones are"},
		{"limits.command_timeout=500ms", "no timeout may be under 1s"},
		{"limits.command_timeout=soon", "write it like 30s"},
		{"limits.max_recipients=0", "no limit may be under 1"},
		{"limits.max_recipients=many", "not a whole number"},
		{"hostname=mail_gateway", "not a DNS name"},
		{"listen=nowhere", "listen address"},
		{"mode=requird", "unknown TLS mode"},
	} {
		out, errOut, code := a.run("set", "--config-dir", a.dir, bad.arg)
		if code != exitFail || !strings.Contains(out+errOut, bad.want) {
			t.Errorf("set %s: exit %d, want 1 and %q\n%s%s", bad.arg, code, bad.want, out, errOut)
		}
	}
	if _, errOut, code := a.run("set", "--config-dir", a.dir, "listen"); code != exitUsage || !strings.Contains(errOut, "KEY=VALUE") {
		t.Errorf("set without =: exit %d %s", code, errOut)
	}
	if gens, _ := config.ListGenerations(a.dir); len(gens) != 1 {
		t.Errorf("refused sets left %d generations, want 1", len(gens))
	}

	out, errOut, code = a.run("set", "--config-dir", a.dir, "listen="+newListen, "limits.max_connections_per_ip=50")
	if code != exitOK || !strings.Contains(out, "ok   verify") {
		t.Fatalf("set: exit %d\n%s%s", code, out, errOut)
	}
	l, err := config.Load(a.dir, config.Host{Getenv: func(string) string { return "" }})
	if err != nil || l.Settings.Listen != newListen || l.Settings.Limits.MaxConnectionsPerIP != 50 || l.Settings.Mode != config.ModeAvailable {
		t.Errorf("after set: %+v %v", l.Settings, err)
	}
	if got := opensslServed(t, newListen, one.ca, one.name); got != one.fp {
		t.Errorf("the listener on %s serves %s, want %s", newListen, got, one.fp)
	}
	// The same set again writes nothing.
	out, _, code = a.run("set", "--config-dir", a.dir, "limits.max_connections_per_ip=50")
	if code != exitOK || !strings.Contains(out, "already serving this configuration") {
		t.Errorf("repeated set: exit %d\n%s", code, out)
	}
	// --json is one object.
	out, _, code = a.run("set", "--config-dir", a.dir, "--json", "limits.max_recipients=200")
	var res apply.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != exitOK || !res.Applied {
		t.Errorf("set --json: exit %d, %v\n%s", code, err, out)
	}
}

// No key bytes in any output of the paths this issue adds: set, reload
// (refused, forced), rollback (dry run, refused, forced), status of an
// edited generation, the manifest.
func TestTrustNoKeyInNewOutputs(t *testing.T) {
	a := newApplyEnv(t)
	one, two := writePKI(t, "one"), writePKI(t, "two")
	var outputs []string
	collect := func(args ...string) int {
		o, e, code := a.run(args...)
		outputs = append(outputs, strings.Join(args, " ")+"\n"+o+e)
		return code
	}
	if code := collect(a.applyArgs("available", one)...); code != exitOK {
		t.Fatalf("apply: %s", outputs[len(outputs)-1])
	}
	collect(a.applyArgs("available", two)...)
	collect(a.applyArgs("available", two)...)
	collect("set", "--config-dir", a.dir, "limits.max_recipients=150")
	collect("set", "--config-dir", a.dir, "--json", "limits.max_recipients=160")
	collect("set", "--config-dir", a.dir, "--dry-run", "--json", "limits.max_recipients=170")
	collect("set", "--config-dir", a.dir, "limits.bogus=1")
	collect("rollback", "--config-dir", a.dir, "--dry-run")
	collect("rollback", "--config-dir", a.dir, "--dry-run", "--json")
	// A key that does not match, written into the live generation.
	a.editCurrent(config.KeyFile, func(string) string { return string(one.ch.Leaf.KeyPEM()) })
	collect("status", "--config-dir", a.dir)
	collect("status", "--config-dir", a.dir, "--json")
	collect("reload", "--config-dir", a.dir)
	collect("reload", "--config-dir", a.dir, "--json")
	collect("reload", "--config-dir", a.dir, "--force", "--json")
	collect("apply", "--config-dir", a.dir, "--mode", "available", "--dry-run", "--json")
	collect("rollback", "--config-dir", a.dir, "--json")
	collect("rollback", "--config-dir", a.dir, "--force")

	logs, _ := os.ReadFile(filepath.Join(a.dir, config.LogFile))
	all := strings.Join(outputs, "\n") + string(logs)
	gens, _ := config.ListGenerations(a.dir)
	for _, g := range gens {
		p := filepath.Join(a.dir, config.GenerationsDir, g.Name, config.ManifestFile)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		all += string(b)
		if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s is %v, want 0600", p, fi.Mode().Perm())
		}
	}
	for _, p := range []pki{one, two} {
		assertNoKeyIn(t, "output of set, reload, rollback, status or a manifest", all, p.ch.Leaf.KeyPEM())
	}
}

// Finding 5: root applied into another user's directory and left root-owned
// files there; a group-shared 2770 directory was silently made 0700.
func TestTrustOwnershipIsRespected(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: it writes as root into a directory another user owns")
	}
	a := newApplyEnv(t)
	one := writePKI(t, "one")
	if err := os.MkdirAll(a.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	const nobody = 65534
	os.Chown(a.dir, nobody, nobody)

	out, errOut, code := a.run(a.applyArgs("available", one)...)
	if code != exitUsage || !strings.Contains(errOut, "belongs to") || !strings.Contains(errOut, "--force") {
		t.Errorf("apply into another user's directory: exit %d, want 2 with the reason and the way out\n%s%s", code, out, errOut)
	}
	if ents, _ := os.ReadDir(a.dir); len(ents) != 0 {
		t.Errorf("the refused apply wrote into the directory: %v", ents)
	}

	out, errOut, code = a.run(a.applyArgs("available", one, "--force")...)
	if code != exitOK {
		t.Fatalf("apply --force: exit %d\n%s%s", code, out, errOut)
	}
	// What the store writes belongs to the directory's owner, so their own
	// later applies still work.
	check := []string{filepath.Join(a.dir, config.LockFile), filepath.Join(a.dir, config.CurrentLink)}
	filepath.WalkDir(filepath.Join(a.dir, config.GenerationsDir), func(p string, d os.DirEntry, err error) error {
		check = append(check, p)
		return nil
	})
	for _, p := range check {
		fi, err := os.Lstat(p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != nobody {
			t.Errorf("%s belongs to uid %d, want the directory's owner %d", p, st.Uid, nobody)
		}
	}

	// A group-shared directory keeps its mode.
	shared := newApplyEnv(t)
	os.MkdirAll(shared.dir, 0o770)
	os.Chmod(shared.dir, os.ModeSetgid|0o770)
	if o, e, code := shared.run(shared.applyArgs("available", one)...); code != exitOK {
		t.Fatalf("apply into a 2770 directory: exit %d\n%s%s", code, o, e)
	}
	fi, _ := os.Stat(shared.dir)
	if got := fi.Mode() & (os.ModePerm | os.ModeSetgid); got != os.ModeSetgid|0o770 {
		t.Errorf("the group-shared directory is now %v, want it left at 2770", got)
	}
}

// listenerPid reads the pid file of the env's listener.
func (a *applyEnv) listenerPid() int {
	a.t.Helper()
	b, err := os.ReadFile(filepath.Join(a.dir, config.PidFile))
	if err != nil {
		a.t.Fatalf("pid file: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		a.t.Fatalf("pid file: %v", err)
	}
	return pid
}

func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	return err == nil && !strings.Contains(string(b), ") Z ")
}

// Finding 7, first half: with control.sock deleted, status said "not
// running", stop exited 2, and apply started a second listener, failed,
// and deleted the live one's pid file.
func TestTrustListenerFoundWithoutItsSocket(t *testing.T) {
	a := newApplyEnv(t)
	one, two := writePKI(t, "one"), writePKI(t, "two")
	a.mustApply("available", one)
	pid := a.listenerPid()
	gens, _ := config.ListGenerations(a.dir)
	if err := os.Remove(filepath.Join(a.dir, config.ControlSocket)); err != nil {
		t.Fatal(err)
	}

	out, errOut, code := a.run("status", "--config-dir", a.dir)
	if code != exitFail || !strings.Contains(out, "control socket missing") || strings.Contains(out, "not running") {
		t.Errorf("status with the socket gone: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = a.run(a.applyArgs("available", two)...)
	if code != exitUsage || !strings.Contains(out+errOut, "control socket missing") || strings.Contains(out+errOut, "another MTA") {
		t.Errorf("apply with the socket gone: exit %d, want 2 and the reason\n%s%s", code, out, errOut)
	}
	if got := a.listenerPid(); got != pid || !alive(pid) {
		t.Errorf("after the refused apply the pid file names %d (alive %v), want the live %d", got, alive(pid), pid)
	}
	if after, _ := config.ListGenerations(a.dir); len(after) != len(gens) {
		t.Errorf("the refused apply wrote a generation")
	}
	if got := opensslServed(t, a.listen(), one.ca, one.name); got != one.fp {
		t.Errorf("the live listener serves %s, want %s", got, one.fp)
	}

	out, errOut, code = a.run("stop", "--config-dir", a.dir)
	if code != exitOK {
		t.Errorf("stop with the socket gone: exit %d, want 0\n%s%s", code, out, errOut)
	}
	if alive(pid) {
		t.Errorf("the listener %d still runs after stop", pid)
	}
	if _, errOut, code := a.run("stop", "--config-dir", a.dir); code != exitUsage {
		t.Errorf("stop with none running: exit %d, want 2 (%s)", code, errOut)
	}
	if o, e, code := a.run(a.applyArgs("available", two)...); code != exitOK {
		t.Errorf("apply after stop: exit %d\n%s%s", code, o, e)
	}
}

// Finding 7, second half: a listener that died between reload and verify
// was not started again: apply exited 2 and the gateway had no SMTP.
func TestTrustDeadListenerIsStartedAgainOnThePreviousGeneration(t *testing.T) {
	a := newApplyEnv(t)
	one, two := writePKI(t, "one"), writePKI(t, "two")
	a.mustApply("available", one)
	prev, _ := config.CurrentGeneration(a.dir)
	certPEM, _ := os.ReadFile(two.cert)
	keyPEM, _ := os.ReadFile(two.key)
	caPEM, _ := os.ReadFile(two.ca)
	var killed int
	d := apply.Deps{Host: config.ThisHost(), Exe: a.bin, Hook: func(s apply.StepName) error {
		if s == apply.StepVerify {
			// The listener dies right after taking the new configuration.
			killed = a.listenerPid()
			syscall.Kill(killed, syscall.SIGKILL)
			for alive(killed) {
				time.Sleep(5 * time.Millisecond)
			}
		}
		return nil
	}}
	res := apply.Run(context.Background(), d, apply.Request{ConfigDir: a.dir, Mode: config.ModeAvailable,
		Cert: certPEM, Key: keyPEM, CA: caPEM}, nil)
	if res.Applied || !res.RolledBack || !strings.Contains(res.Message, "started again") {
		t.Errorf("apply whose listener died: applied %v rolled back %v: %s", res.Applied, res.RolledBack, res.Message)
	}
	if cur, _ := config.CurrentGeneration(a.dir); cur != prev {
		t.Errorf("current is %s, want the previous %s", cur, prev)
	}
	if pid := a.listenerPid(); pid == killed || !alive(pid) {
		t.Errorf("no new listener runs (pid file names %d, the killed one was %d)", pid, killed)
	}
	if got := opensslServed(t, a.listen(), one.ca, one.name); got != one.fp {
		t.Errorf("the listener serves %s, want the previous %s", got, one.fp)
	}
}

// --listen 0.0.0.0:PORT binds IPv4 only and [::]:PORT IPv6 only, as the
// admin wrote it (Go's "tcp" made 0.0.0.0 dual-stack).
func TestTrustListenFamilyIsAsWritten(t *testing.T) {
	a := newApplyEnv(t)
	dials := func(network, addr string) bool {
		c, err := net.DialTimeout(network, addr, 2*time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	}
	port := strconv.Itoa(a.port)
	if o, e, code := a.run("apply", "--config-dir", a.dir, "--mode", "disabled", "--hostname", "mail.example.test", "--listen", "0.0.0.0:"+port); code != exitOK {
		t.Fatalf("apply on 0.0.0.0: exit %d\n%s%s", code, o, e)
	}
	if !dials("tcp4", "127.0.0.1:"+port) || dials("tcp6", "[::1]:"+port) {
		t.Errorf("0.0.0.0:%s: IPv4 %v, IPv6 %v; want IPv4 only", port, dials("tcp4", "127.0.0.1:"+port), dials("tcp6", "[::1]:"+port))
	}
	port6 := strconv.Itoa(loopback.FreePort(t))
	if o, e, code := a.run("set", "--config-dir", a.dir, "listen=[::]:"+port6); code != exitOK {
		t.Fatalf("set listen=[::]: exit %d\n%s%s", code, o, e)
	}
	if dials("tcp4", "127.0.0.1:"+port6) || !dials("tcp6", "[::1]:"+port6) {
		t.Errorf("[::]:%s: IPv4 %v, IPv6 %v; want IPv6 only", port6, dials("tcp4", "127.0.0.1:"+port6), dials("tcp6", "[::1]:"+port6))
	}
}

// Usage texts spell flags --flag in the list too, like the usage line.
func TestTrustHelpSpellsFlagsWithTwoDashes(t *testing.T) {
	for name := range commands() {
		var out, errOut strings.Builder
		e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, host: config.ThisHost(), now: time.Now}
		if code := run(context.Background(), e, []string{name, "--help"}); code != exitOK {
			t.Errorf("%s --help: exit %d", name, code)
		}
		for _, line := range strings.Split(out.String(), "\n") {
			if strings.HasPrefix(line, "  -") && !strings.HasPrefix(line, "  --") {
				t.Errorf("%s --help lists %q with one dash", name, strings.TrimSpace(line))
			}
		}
	}
}

// A listener run in the foreground (as systemd runs it) is found without
// its socket too: it writes the pid file itself.
func TestTrustForegroundListenerFoundWithoutItsSocket(t *testing.T) {
	a := newApplyEnv(t)
	one := writePKI(t, "one")
	a.mustApply("available", one)
	if o, e, code := a.run("stop", "--config-dir", a.dir); code != exitOK {
		t.Fatalf("stop: exit %d\n%s%s", code, o, e)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	fg := a.cmd(ctx, "serve", "--config-dir", a.dir)
	if err := fg.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fg.Process.Kill(); fg.Wait() })
	sock := filepath.Join(a.dir, config.ControlSocket)
	for i := 0; ; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if i > 1000 {
			t.Fatal("the foreground listener never made its control socket")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if pid := a.listenerPid(); pid != fg.Process.Pid {
		t.Errorf("pid file names %d, want the foreground listener %d", pid, fg.Process.Pid)
	}
	os.Remove(sock)
	out, errOut, code := a.run("status", "--config-dir", a.dir)
	if code != exitFail || !strings.Contains(out, "control socket missing") {
		t.Errorf("status: exit %d\n%s%s", code, out, errOut)
	}
	// A second listener is refused, not started beside it.
	_, errOut, code = a.run("serve", "--detach", "--config-dir", a.dir)
	if code == exitOK || !strings.Contains(errOut, "control socket missing") {
		t.Errorf("serve --detach beside it: exit %d %s", code, errOut)
	}
	if _, errOut, code := a.run("stop", "--config-dir", a.dir); code != exitOK {
		t.Errorf("stop: exit %d %s", code, errOut)
	}
	if err := fg.Wait(); err != nil {
		t.Errorf("the foreground listener did not exit cleanly on stop: %v", err)
	}
}

// stop exits 1 when the listener does not stop in time (a session holds
// the drain open), 2 only when none runs.
func TestTrustStopThatTimesOutExitsOne(t *testing.T) {
	a := newApplyEnv(t)
	if o, e, code := a.run("apply", "--config-dir", a.dir, "--mode", "disabled", "--hostname", "mail.example.test", "--listen", a.listen()); code != exitOK {
		t.Fatalf("apply: exit %d\n%s%s", code, o, e)
	}
	pid := a.listenerPid()
	idle, err := net.Dial("tcp", a.listen())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	// A message half sent: the drain waits for it to end.
	r := bufio.NewReader(idle)
	for _, cmd := range []string{"", "EHLO client.example\r\n", "MAIL FROM:<a@example.org>\r\n", "RCPT TO:<b@mail.example.test>\r\n", "DATA\r\n"} {
		if cmd != "" {
			idle.Write([]byte(cmd))
		}
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("session: %v", err)
			}
			if len(line) < 4 || line[3] != '-' {
				break
			}
		}
	}
	idle.Write([]byte("Subject: half\r\n\r\nthe rest is still to come"))
	var out, errOut strings.Builder
	e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, host: config.ThisHost(), now: time.Now}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	code := run(ctx, e, []string{"stop", "--config-dir", a.dir})
	cancel()
	if code != exitFail || !strings.Contains(errOut.String(), "did not stop in time") {
		t.Errorf("stop while a session holds the drain: exit %d, want 1\n%s%s", code, out.String(), errOut.String())
	}
	idle.Close()
	for i := 0; alive(pid); i++ {
		if i > 1000 {
			t.Fatalf("the listener %d never exited after the session closed", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
