package main

import (
	"context"
	"encoding/json"
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
)

func TestApplyServesTheNewCertificate(t *testing.T) {
	a := newApplyEnv(t)
	one, two := writePKI(t, "one"), writePKI(t, "two")

	out, errOut, code := a.run(a.applyArgs("available", one)...)
	if code != exitOK {
		t.Fatalf("first apply exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"ok   validate", "ok   write", "ok   switch", "ok   reload", "ok   verify", "started one", "live and verified"} {
		if !strings.Contains(out, want) {
			t.Errorf("apply output lacks %q:\n%s", want, out)
		}
	}
	if got := opensslServed(t, a.listen(), one.ca, one.name); got != one.fp {
		t.Fatalf("openssl sees %s, want the applied %s", got, one.fp)
	}

	out, errOut, code = a.run(a.applyArgs("available", two)...)
	if code != exitOK {
		t.Fatalf("second apply exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "listener reloaded") {
		t.Errorf("second apply did not reload the running listener:\n%s", out)
	}
	if got := opensslServed(t, a.listen(), two.ca, two.name); got != two.fp {
		t.Errorf("after the second apply openssl sees %s, want %s", got, two.fp)
	}
}

func TestApplyRefusedByListenerRollsBack(t *testing.T) {
	a := newApplyEnv(t)
	one, two := writePKI(t, "one"), writePKI(t, "two")
	if out, errOut, code := a.run(a.applyArgs("available", one)...); code != exitOK {
		t.Fatalf("first apply exit %d\n%s%s", code, out, errOut)
	}
	before, _ := config.CurrentGeneration(a.dir)

	// A port someone else already holds: the listener cannot bind it and
	// must refuse the new configuration.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	args := a.applyArgs("available", two)
	for i, v := range args {
		if v == "--listen" {
			args[i+1] = busy.Addr().String()
		}
	}
	out, errOut, code := a.run(args...)
	if code != exitFail {
		t.Fatalf("apply onto a busy port: exit %d, want 1\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"FAIL reload", "refused", "rolled back", "serves again"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if cur, _ := config.CurrentGeneration(a.dir); cur != before {
		t.Errorf("current is %s after the rollback, want %s", cur, before)
	}
	if got := opensslServed(t, a.listen(), one.ca, one.name); got != one.fp {
		t.Errorf("after the refused apply openssl sees %s, want the old %s", got, one.fp)
	}
}

func TestApplyFileModesAndNoKeyInAnyOutput(t *testing.T) {
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
	collect(a.applyArgs("required", two, "--json")...)
	collect(a.applyArgs("available", one, "--dry-run")...)
	collect(a.applyArgs("available", one, "--dry-run", "--json")...)
	collect("status", "--config-dir", a.dir)
	collect("status", "--config-dir", a.dir, "--json")
	collect("rollback", "--config-dir", a.dir)
	collect("rollback", "--config-dir", a.dir, "--json")
	// A refused apply with a key that does not match: the error path talks
	// about the key, and must still not show it.
	collect("apply", "--config-dir", a.dir, "--mode", "available", "--cert", one.cert, "--key", two.key, "--ca", one.ca, "--json")
	collect("apply", "--config-dir", a.dir, "--mode", "available", "--cert", one.cert, "--key", two.key, "--ca", one.ca)

	logs, _ := os.ReadFile(filepath.Join(a.dir, config.LogFile))
	lock, _ := os.ReadFile(filepath.Join(a.dir, config.LockFile))
	all := strings.Join(outputs, "\n") + string(logs) + string(lock)
	for _, p := range []pki{one, two} {
		assertNoKeyIn(t, "command output, smtpd.log or the lock file", all, p.ch.Leaf.KeyPEM())
	}

	modes := map[string]os.FileMode{a.dir: 0o700, filepath.Join(a.dir, config.GenerationsDir): 0o700}
	gens, _ := config.ListGenerations(a.dir)
	for _, g := range gens {
		gd := filepath.Join(a.dir, config.GenerationsDir, g.Name)
		modes[gd] = 0o700
		modes[filepath.Join(gd, config.KeyFile)] = 0o600
	}
	if len(gens) < 2 {
		t.Fatalf("only %d generations on disk", len(gens))
	}
	for path, want := range modes {
		fi, err := os.Stat(path)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s has mode %v, want %v", path, got, want)
		}
	}
}

func TestApplyJSONIsOneObject(t *testing.T) {
	a := newApplyEnv(t)
	one := writePKI(t, "one")
	out, errOut, code := a.run(a.applyArgs("available", one, "--json")...)
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	var r apply.Result
	dec := json.NewDecoder(strings.NewReader(out))
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, out)
	}
	if dec.More() {
		t.Errorf("more than one JSON value on stdout:\n%s", out)
	}
	if !r.Applied || r.Fingerprint != one.fp || r.Verify == nil || len(r.Steps) != 6 || r.Listen != a.listen() {
		t.Errorf("result %+v", r)
	}
}

func TestApplyUsageAndRefusals(t *testing.T) {
	a := newApplyEnv(t)
	one := writePKI(t, "one")
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no mode", []string{"apply", "--cert", one.cert}, exitUsage, "--mode is required"},
		{"bad mode", []string{"apply", "--mode", "sometimes"}, exitUsage, "unknown TLS mode"},
		{"missing file", []string{"apply", "--mode", "available", "--cert", "/nonexistent/cert.pem"}, exitUsage, "--cert"},
		{"stray argument", []string{"apply", "--mode", "disabled", "cert.pem"}, exitUsage, "unexpected argument"},
		{"required without yes", []string{"apply", "--mode", "required", "--cert", one.cert, "--key", one.key, "--ca", one.ca, "--hostname", one.name, "--listen", a.listen()}, exitFail, "loses mail"},
		{"tls without certificate", []string{"apply", "--mode", "available", "--listen", a.listen()}, exitFail, "--cert"},
		{"help", []string{"apply", "--help"}, exitOK, "Usage: smtptls apply"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, errOut, code := a.run(c.args...)
			if code != c.code || !strings.Contains(out+errOut, c.want) {
				t.Errorf("exit %d (want %d), output lacks %q?\n%s%s", code, c.code, c.want, out, errOut)
			}
		})
	}
	if _, err := os.Stat(a.dir); !os.IsNotExist(err) {
		t.Errorf("refused applies created the config directory: %v", err)
	}
}

func TestApplyRefusalSaysWhyOnceThenWhatItMeans(t *testing.T) {
	a := newApplyEnv(t)
	one, two := writePKI(t, "one"), writePKI(t, "two")
	out, errOut, code := a.run("apply", "--mode", "available", "--cert", one.cert, "--key", two.key, "--ca", one.ca,
		"--hostname", one.name, "--listen", a.listen())
	all := out + errOut
	if code != exitFail {
		t.Fatalf("exit %d, want %d:\n%s", code, exitFail, all)
	}
	if n := strings.Count(all, "does not belong to the certificate"); n != 1 {
		t.Errorf("the reason appears %d times, want once:\n%s", n, all)
	}
	if strings.Contains(all, "KEYFILE") || strings.Contains(all, "CERTFILE") || !strings.Contains(all, "-in "+two.key) {
		t.Errorf("the suggested openssl commands should name the admin's own files (%s):\n%s", two.key, all)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if last := lines[len(lines)-1]; last != "Nothing changed: the installed configuration is as it was." {
		t.Errorf("last line %q should say what the refusal means for the gateway:\n%s", last, all)
	}
}

func TestApplyDryRunShowsChanges(t *testing.T) {
	a := newApplyEnv(t)
	one, two := writePKI(t, "one"), writePKI(t, "two")
	a.mustApply("available", one)
	before, _ := config.CurrentGeneration(a.dir)
	out, errOut, code := a.run(a.applyArgs("required", two, "--dry-run")...)
	if code != exitOK {
		t.Fatalf("dry run exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"Would change:", "mode", "available -> required", "certificate", "sha256:" + one.fp + " -> sha256:" + two.fp, "nothing was written"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out)
		}
	}
	if cur, _ := config.CurrentGeneration(a.dir); cur != before {
		t.Errorf("dry run switched to %s", cur)
	}
	if got := opensslServed(t, a.listen(), one.ca, one.name); got != one.fp {
		t.Errorf("dry run changed what is served")
	}
}

// TestConcurrentApplies freezes one apply while it holds the lock, so the
// second one meets it for certain: it must exit 2 naming the holder, and the
// frozen one must then finish.
func TestConcurrentApplies(t *testing.T) {
	a := newApplyEnv(t)
	one, two := writePKI(t, "one"), writePKI(t, "two")
	a.mustApply("available", one)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	first := a.cmd(ctx, a.applyArgs("available", two)...)
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	pid := first.Process.Pid
	lockPath := filepath.Join(a.dir, config.LockFile)
	deadline := time.Now().Add(20 * time.Second)
	for {
		var h config.LockHolder
		b, _ := os.ReadFile(lockPath)
		if json.Unmarshal(b, &h) == nil && h.Pid == pid {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first apply never took the lock (lock file: %q)", b)
		}
		time.Sleep(time.Millisecond)
	}
	syscall.Kill(pid, syscall.SIGSTOP)
	out, errOut, code := a.run(a.applyArgs("available", one)...)
	syscall.Kill(pid, syscall.SIGCONT)
	if code != exitUsage {
		t.Errorf("second apply exit %d, want 2\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"another apply is in progress", "pid " + strconv.Itoa(pid), "smtptls apply"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("second apply's message on stderr lacks %q:\nstdout: %s\nstderr: %s", want, out, errOut)
		}
	}
	if err := first.Wait(); err != nil {
		t.Errorf("the first apply failed after being resumed: %v", err)
	}
	if got := opensslServed(t, a.listen(), two.ca, two.name); got != two.fp {
		t.Errorf("served %s, want the first apply's %s", got, two.fp)
	}
}

// TestFirstApplyOnATakenPort is the first-time admin whose port is held by
// the MTA being replaced: the listener cannot start, the apply rolls back
// to nothing applied, says why and what to do, and leaves no process.
func TestFirstApplyOnATakenPort(t *testing.T) {
	a := newApplyEnv(t)
	one := writePKI(t, "one")
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	args := a.applyArgs("available", one)
	args[len(args)-1] = busy.Addr().String()
	out, errOut, code := a.run(args...)
	if code != exitFail {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"FAIL reload", "address already in use", "another program already listens on " + busy.Addr().String(), "none runs now"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if cur, _ := config.CurrentGeneration(a.dir); cur != "" {
		t.Errorf("generation %s left live after a failed first apply", cur)
	}
	out, _, code = a.run("status", "--config-dir", a.dir)
	if code != exitFail || !strings.Contains(out, "not running") {
		t.Errorf("status: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(a.dir, config.PidFile)); !os.IsNotExist(err) {
		t.Errorf("pid file left behind: %v", err)
	}
}

func TestApplyJSONWhenLocked(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cfg")
	st, err := config.OpenStore(dir, config.ThisHost())
	if err != nil {
		t.Fatal(err)
	}
	lock, err := st.Lock("smtptls setup")
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Unlock()
	var out, errOut strings.Builder
	e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, host: config.ThisHost(), now: time.Now, exe: "/nonexistent"}
	code := run(context.Background(), e, []string{"apply", "--config-dir", dir, "--mode", "disabled", "--json"})
	var r apply.Result
	if err := json.Unmarshal([]byte(out.String()), &r); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, out.String())
	}
	if code != exitUsage || !r.EnvironmentError || r.LockHolder == nil || r.LockHolder.Command != "smtptls setup" || r.Applied {
		t.Errorf("exit %d, result %+v", code, r)
	}
	code = run(context.Background(), e, []string{"rollback", "--config-dir", dir})
	if code != exitUsage || !strings.Contains(errOut.String(), "smtptls rollback: another apply is in progress") {
		t.Errorf("rollback while locked: exit %d, stderr %q", code, errOut.String())
	}
}

func TestHelpOnceOnStdout(t *testing.T) {
	for _, name := range []string{"apply", "status", "rollback"} {
		var out, errOut strings.Builder
		e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, host: config.ThisHost(), now: time.Now}
		if code := run(context.Background(), e, []string{name, "--help"}); code != exitOK {
			t.Errorf("%s --help: exit %d", name, code)
		}
		if n := strings.Count(out.String(), "Usage: smtptls "+name); n != 1 || errOut.Len() != 0 {
			t.Errorf("%s --help: usage %d times on stdout, stderr %q", name, n, errOut.String())
		}
		out.Reset()
		errOut.Reset()
		if code := run(context.Background(), e, []string{name, "--bogus"}); code != exitUsage {
			t.Errorf("%s --bogus: exit %d", name, code)
		}
		if out.Len() != 0 || !strings.Contains(errOut.String(), "-bogus") || strings.Count(errOut.String(), "Usage:") != 1 {
			t.Errorf("%s --bogus: stdout %q stderr %q", name, out.String(), errOut.String())
		}
	}
}
