package smtpd

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smtptls/smtptls/config"
	"github.com/smtptls/smtptls/smtpd/spool"
)

// Operating the listener (issue 9, finding 6).

func TestMailRefusedWhileSpoolBelowMinFree(t *testing.T) {
	f := newFixture(t)
	s := testSettings(config.ModeAvailable)
	s.Limits.MinFreeBytes = 1 << 62 // more than any disk
	f.writeGen(s, nil)
	srv, _ := startServer(t, f)
	c := dial(t, srv.Addr().String())
	c.reply()
	c.expect("EHLO full.example", "250-")
	c.expect("MAIL FROM:<a@example.org>", "452 4.3.1 Insufficient system storage")
	if n := len(newMessages(t, f)); n != 0 {
		t.Fatalf("%d messages spooled", n)
	}
	// Space back (here: the limit lowered) and MAIL works again.
	free, err := spool.FreeBytes(filepath.Join(f.dir, "spool"))
	must(t, err)
	s.Limits.MinFreeBytes = int64(free / 2)
	f.writeGen(s, nil)
	must(t, srv.Reload(f.config()))
	c2 := dial(t, srv.Addr().String())
	c2.reply()
	c2.expect("EHLO full.example", "250-")
	queuedID(t, c2.deliver("a@example.org", "b@example.test", "Subject: x\r\n\r\nx\r\n.\r\n"))
}

func TestSpoolLeftoversOlderThanAnHourRemovedAtStart(t *testing.T) {
	f := newFixture(t)
	f.writeGen(testSettings(config.ModeAvailable), nil)
	tmp := filepath.Join(f.dir, "spool", "tmp")
	must(t, os.MkdirAll(tmp, 0o700))
	old, young := filepath.Join(tmp, "crash-old"), filepath.Join(tmp, "crash-young")
	for _, p := range []string{old, young} {
		must(t, os.WriteFile(p, []byte("partial"), 0o600))
	}
	two := time.Now().Add(-2 * time.Hour)
	must(t, os.Chtimes(old, two, two))
	startServer(t, f)
	if _, err := os.Stat(old); err == nil {
		t.Fatal("a 2-hour-old leftover in spool/tmp survived the start")
	}
	if _, err := os.Stat(young); err != nil {
		t.Fatalf("a fresh file in spool/tmp was removed: %v", err)
	}
}

// startDetachedTestListener runs this test binary as a detached listener
// (TestMain serves when envServeDir is set) through StartDetached.
func startDetachedTestListener(t *testing.T, f *fixture) int {
	t.Helper()
	t.Setenv(envServeDir, f.dir)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pid, err := StartDetached(ctx, os.Args[0], f.dir)
	must(t, err)
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := StopDetached(sctx, f.dir); err != nil {
			if p, ferr := os.FindProcess(pid); ferr == nil {
				_ = p.Kill()
			}
		}
	})
	return pid
}

func oneSession(t *testing.T, f *fixture, helo string) {
	t.Helper()
	st, err := QueryState(context.Background(), f.dir)
	must(t, err)
	c := dial(t, st.Listen)
	c.reply()
	c.expect("EHLO "+helo, "250-")
	c.expect("QUIT", "221 ")
}

func fileContains(path, s string) bool {
	b, err := os.ReadFile(path)
	return err == nil && bytes.Contains(b, []byte(s))
}

// The shipped logrotate snippet, run with `logrotate -f` on a config of
// its own: the log is renamed, the listener told, and what it logs next
// lands in a new smtpd.log (no copytruncate, nothing lost).
func TestLogrotateSnippetRotatesAndTheListenerReopens(t *testing.T) {
	lr, err := exec.LookPath("logrotate")
	if err != nil {
		t.Skip("logrotate not installed (apt-get install logrotate)")
	}
	snippet, err := os.ReadFile("smtptls.logrotate")
	must(t, err)
	f := newFixture(t)
	f.writeGen(testSettings(config.ModeAvailable), nil)
	startDetachedTestListener(t, f)
	logPath := filepath.Join(f.dir, config.LogFile)
	oneSession(t, f, "before.example")
	waitFor(t, func() bool { return fileContains(logPath, "helo=before.example") })

	conf := strings.ReplaceAll(string(snippet), "/etc/smtptls", f.dir)
	if os.Geteuid() != 0 {
		conf = strings.ReplaceAll(conf, "create 0600 root root", "create 0600")
	}
	confPath := filepath.Join(f.dir, "logrotate.conf")
	must(t, os.WriteFile(confPath, []byte(conf), 0o600))
	out, err := exec.Command(lr, "-s", filepath.Join(f.dir, "logrotate.state"), "-f", confPath).CombinedOutput()
	if err != nil {
		t.Fatalf("logrotate -f: %v\n%s", err, out)
	}
	rotated := logPath + ".1"
	if !fileContains(rotated, "helo=before.example") {
		t.Fatalf("logrotate did not move the log to %s:\n%s", rotated, out)
	}
	waitFor(t, func() bool { return fileContains(logPath, "log reopened") })
	oneSession(t, f, "after.example")
	waitFor(t, func() bool { return fileContains(logPath, "helo=after.example") })
	if fileContains(rotated, "helo=after.example") {
		t.Fatal("the listener kept writing to the rotated file")
	}
	// A reload reopens too (the unit's ExecReload path).
	must(t, os.Rename(logPath, rotated))
	res, err := RequestReload(context.Background(), f.dir)
	must(t, err)
	if !res.OK {
		t.Fatal(res.Message)
	}
	waitFor(t, func() bool { return fileContains(logPath, "log reopened") })
}

// Under systemd (JOURNAL_STREAM set) the journal is the log: even a
// detached listener writes to stderr, and no smtpd.log appears.
func TestUnderSystemdTheListenerLogsToStderrOnly(t *testing.T) {
	f := newFixture(t)
	f.writeGen(testSettings(config.ModeAvailable), nil)
	r, w, err := os.Pipe()
	must(t, err)
	saved := os.Stderr
	os.Stderr = w
	t.Cleanup(func() { os.Stderr = saved })
	t.Setenv("JOURNAL_STREAM", "8:4242")
	startDetachedTestListener(t, f)
	os.Stderr = saved
	w.Close()
	oneSession(t, f, "journal.example")
	got := make(chan string, 1)
	go func() {
		var b bytes.Buffer
		buf := make([]byte, 4096)
		for !strings.Contains(b.String(), "helo=journal.example") {
			n, err := r.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		got <- b.String()
		_, _ = io.Copy(io.Discard, r)
	}()
	select {
	case s := <-got:
		if !strings.Contains(s, "helo=journal.example") {
			t.Fatalf("the session line did not reach stderr:\n%s", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("nothing logged to stderr")
	}
	if fi, err := os.Stat(filepath.Join(f.dir, config.LogFile)); err == nil && fi.Size() > 0 {
		t.Fatalf("%s written under systemd", config.LogFile)
	}
}
