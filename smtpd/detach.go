package smtpd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/smtptls/smtptls/config"
)

// StartDetached runs `exe serve --config-dir DIR` in the background, its
// output appended to the log file and its pid in the pid file (both in
// configDir), and returns once the control socket answers. If the process
// exits first, the error quotes the last lines of its log.
func StartDetached(ctx context.Context, exe, configDir string) (int, error) {
	return StartDetachedArgs(ctx, exe, configDir)
}

// StartDetachedArgs is StartDetached with more arguments for the serve
// command (such as --log-format json).
func StartDetachedArgs(ctx context.Context, exe, configDir string, serveArgs ...string) (int, error) {
	st, err := QueryState(ctx, configDir)
	if err == nil {
		return 0, fmt.Errorf("a listener is already running for %s (pid %d)", configDir, st.Pid)
	}
	var lost *SocketLostError
	if errors.As(err, &lost) {
		// Never a second listener beside one that lost its socket, nor its
		// pid file overwritten: that would orphan the live one.
		return 0, err
	}
	if err := os.MkdirAll(configDir, 0o700); err != nil {
		return 0, fmt.Errorf("start listener: %w", err)
	}
	logPath := filepath.Join(configDir, config.LogFile)
	// O_NOFOLLOW here and for the pid file: a link planted in the config
	// directory must not make root write to the file it points to.
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return 0, fmt.Errorf("start listener: open log: %w", err)
	}
	defer logf.Close()
	startOff, _ := logf.Seek(0, 2)

	cmd := exec.Command(exe, append([]string{"serve", "--config-dir", configDir}, serveArgs...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	journal := os.Getenv("JOURNAL_STREAM") != ""
	if journal {
		// Started by a systemd unit: the journal is the log, and a
		// file beside it would only fill the disk unrotated.
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	}
	// Its own session: the listener must outlive the terminal (and SSH
	// connection) that started it, and not get the terminal's SIGINT.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start listener %s: %w", exe, err)
	}
	pid := cmd.Process.Pid
	pidPath := filepath.Join(configDir, config.PidFile)
	if err := writePidFile(pidPath, pid); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return 0, fmt.Errorf("start listener: write pid file: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		qctx, cancel := context.WithTimeout(ctx, time.Second)
		st, err := QueryState(qctx, configDir)
		cancel()
		if err == nil && st.Pid == pid {
			return pid, nil
		}
		select {
		case werr := <-exited:
			os.Remove(pidPath)
			if journal {
				return 0, fmt.Errorf("the listener exited at start (%v); its log is in the journal (journalctl -e)", werr)
			}
			return 0, fmt.Errorf("the listener exited at start (%v); last lines of %s:\n%s", werr, logPath, tail(logPath, startOff, 10))
		case <-ctx.Done():
			_ = cmd.Process.Signal(syscall.SIGTERM)
			return 0, fmt.Errorf("the listener did not answer on %s in time: %w; see %s", SocketPath(configDir), ctx.Err(), logPath)
		case <-tick.C:
		}
	}
}

// tail returns the last n lines written to path after offset off.
func tail(path string, off int64, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(log unreadable: " + err.Error() + ")"
	}
	if off < int64(len(b)) {
		b = b[off:]
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + strings.Join(lines, "\n  ")
}

// StopDetached asks the listener of configDir to stop, and waits until it
// has drained and exited. ErrNotRunning if none answers.
func StopDetached(ctx context.Context, configDir string) error {
	pid := 0
	rep, err := call(ctx, configDir, opStop)
	var lost *SocketLostError
	switch {
	case errors.As(err, &lost):
		// No socket to ask: SIGTERM drains and exits just the same.
		if err := syscall.Kill(lost.Pid, syscall.SIGTERM); err != nil {
			return fmt.Errorf("stop the listener (pid %d): %w", lost.Pid, err)
		}
		pid = lost.Pid
	case err != nil:
		return err
	case rep.State != nil:
		pid = rep.State.Pid
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		gone := pid > 0 && !processAlive(pid)
		if pid == 0 {
			_, qerr := QueryState(ctx, configDir)
			gone = errors.Is(qerr, ErrNotRunning)
		}
		if gone {
			removePidFile(configDir, pid)
			return nil
		}
		select {
		case <-ctx.Done():
			return &StillRunningError{Pid: pid, Err: ctx.Err()}
		case <-tick.C:
		}
	}
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	if err == nil {
		// A zombie child of ours (tests) counts as gone.
		b, rerr := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if rerr == nil {
			if i := bytes.LastIndexByte(b, ')'); i > 0 && i+2 < len(b) && b[i+2] == 'Z' {
				return false
			}
		}
		return true
	}
	return errors.Is(err, syscall.EPERM)
}

// removePidFile removes the pid file if it still names pid.
func removePidFile(configDir string, pid int) {
	p := filepath.Join(configDir, config.PidFile)
	b, err := os.ReadFile(p)
	if err != nil {
		return
	}
	if strings.TrimSpace(string(b)) == strconv.Itoa(pid) {
		os.Remove(p)
	}
}

// StillRunningError is a listener asked to stop that had not exited when
// the wait ended.
type StillRunningError struct {
	Pid int
	Err error
}

func (e *StillRunningError) Error() string {
	return fmt.Sprintf("the listener (pid %d) did not stop in time, it is still draining: %v; wait and run stop again, or end it with kill %d", e.Pid, e.Err, e.Pid)
}

func (e *StillRunningError) Unwrap() error { return e.Err }

// writePidFile replaces the pid file without following a link at its name.
func writePidFile(path string, pid int) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(strconv.Itoa(pid) + "\n"); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
