package smtpd

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/smtptls/smtptls/config"
)

// startProcess runs the listener as a separate process on f's config.
func startProcess(t *testing.T, f *fixture) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envServeDir+"="+f.dir)
	logf, err := os.Create(filepath.Join(f.dir, "proc.log"))
	must(t, err)
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	must(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	var st State
	waitFor(t, func() bool {
		var err error
		st, err = QueryState(context.Background(), f.dir)
		return err == nil && st.Pid == cmd.Process.Pid
	})
	return cmd, st.Listen
}

const endMarker = "END-OF-MESSAGE-MARKER"

// checkSpool asserts that every acknowledged id is in new and complete,
// and that nothing in new is partial.
func checkSpool(t *testing.T, f *fixture, acked []string) {
	t.Helper()
	newDir := filepath.Join(f.dir, "spool", "new")
	entries, err := os.ReadDir(newDir)
	must(t, err)
	present := map[string]bool{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(newDir, e.Name()))
		must(t, err)
		if !strings.HasSuffix(string(b), endMarker+"\r\n") || !strings.HasPrefix(string(b), "Return-Path: ") {
			t.Errorf("partial message in new: %s (%d bytes)", e.Name(), len(b))
		}
		present[e.Name()] = true
	}
	for _, id := range acked {
		if !present[id] {
			t.Errorf("acknowledged message %s lost", id)
		}
	}
}

func TestCrashDuringDataLeavesNothingInNew(t *testing.T) {
	f := newFixture(t)
	f.writeGen(testSettings(config.ModeAvailable), nil)
	cmd, addr := startProcess(t, f)
	c := dial(t, addr)
	c.reply()
	c.expect("EHLO crash.example", "250-")
	c.expect("MAIL FROM:<a@example.org>", "250 ")
	c.expect("RCPT TO:<b@example.test>", "250 ")
	c.expect("DATA", "354 ")
	c.send("Subject: half\r\n\r\n" + strings.Repeat("partial body line\r\n", 2000))
	// Make sure the server is inside Data, writing to tmp.
	waitFor(t, func() bool {
		e, _ := os.ReadDir(filepath.Join(f.dir, "spool", "tmp"))
		return len(e) > 0
	})
	must(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
	checkSpool(t, f, nil)
	if e, _ := os.ReadDir(filepath.Join(f.dir, "spool", "new")); len(e) != 0 {
		t.Fatalf("%d files in new after a crash during DATA", len(e))
	}
}

func TestCrashRightAfter250KeepsTheMessage(t *testing.T) {
	f := newFixture(t)
	f.writeGen(testSettings(config.ModeAvailable), nil)
	cmd, addr := startProcess(t, f)
	c := dial(t, addr)
	c.reply()
	c.expect("EHLO crash.example", "250-")
	id := queuedID(t, c.deliver("a@example.org", "b@example.test", "Subject: acked\r\n\r\nbody\r\n"+endMarker+"\r\n.\r\n"))
	must(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
	checkSpool(t, f, []string{id})
}

// Many peers deliver while the process is killed at an arbitrary moment:
// every 250 the peers saw names a complete message, and new holds only
// complete messages.
func TestCrashUnderLoadLosesNoAcknowledgedMessage(t *testing.T) {
	f := newFixture(t)
	f.writeGen(testSettings(config.ModeAvailable), nil)
	for round := 0; round < 3; round++ {
		cmd, addr := startProcess(t, f)
		var mu sync.Mutex
		var acked []string
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					id, err := plainDelivery(addr, fmt.Sprintf("round %d", round))
					if err != nil {
						return // the listener died
					}
					mu.Lock()
					acked = append(acked, id)
					mu.Unlock()
				}
			}()
		}
		waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(acked) >= 20*(round+1) })
		must(t, cmd.Process.Signal(syscall.SIGKILL))
		_ = cmd.Wait()
		close(stop)
		wg.Wait()
		mu.Lock()
		checkSpool(t, f, acked)
		mu.Unlock()
		os.Remove(SocketPath(f.dir)) // what a crash leaves behind
	}
}

func plainDelivery(addr, text string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	p := &peer{c: c}
	for _, s := range []struct{ send, want string }{
		{"", "220 "}, {"EHLO load.example\r\n", "250 "}, {"MAIL FROM:<a@example.org>\r\n", "250 "},
		{"RCPT TO:<b@example.test>\r\n", "250 "}, {"DATA\r\n", "354 "},
	} {
		if err := p.step(s.send, s.want); err != nil {
			return "", err
		}
	}
	if _, err := c.Write([]byte("Subject: " + text + "\r\n\r\n" + strings.Repeat("y", 1000) + "\r\n" + endMarker + "\r\n.\r\n")); err != nil {
		return "", err
	}
	line, err := p.r.ReadString('\n')
	if err != nil {
		return "", err
	}
	const prefix = "250 2.0.0 Ok: queued as "
	if !strings.HasPrefix(line, prefix) {
		return "", fmt.Errorf("got %q", line)
	}
	return strings.TrimSpace(strings.TrimPrefix(line, prefix)), nil
}
