package main

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/smtptls/smtptls/config"
)

// ptyScript runs argv[1:] on a pseudo-terminal, answers the mode required
// question with $ANSWER, and relays the output and exit status.
const ptyScript = `
import os, pty, select, sys
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
out, answered, queried, status = b"", False, False, None
# Read until the child exits: a listener it started detached may keep the
# terminal open, so end of file cannot be waited for.
while status is None:
    done, st = os.waitpid(pid, os.WNOHANG)
    if done:
        status = st
    r, _, _ = select.select([fd], [], [], 0.05)
    if r:
        try:
            data = os.read(fd, 4096)
        except OSError:
            data = b""
        out += data
    # Answer the background-colour and cursor queries bubbletea's init
    # sends, as a real terminal does; unanswered they cost 5 s.
    if not queried and b"\x1b]11;?" in out:
        os.write(fd, b"\x1b]11;rgb:0000/0000/0000\x1b\\\x1b[1;1R")
        queried = True
    if not answered and b'Type "yes"' in out:
        os.write(fd, (os.environ["ANSWER"] + "\n").encode())
        answered = True
while True:
    r, _, _ = select.select([fd], [], [], 0.05)
    if not r:
        break
    try:
        data = os.read(fd, 4096)
    except OSError:
        break
    if not data:
        break
    out += data
sys.stdout.write(out.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(status))
`

// TestRequiredAskedOnATerminal is the interactive form of --yes: on a
// terminal apply asks, and only a typed "yes" goes ahead.
func TestRequiredAskedOnATerminal(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed: apt-get install python3")
	}
	a := newApplyEnv(t)
	one := writePKI(t, "one")
	args := []string{"apply", "--config-dir", a.dir, "--mode", "required", "--cert", one.cert, "--key", one.key, "--ca", one.ca,
		"--hostname", one.name, "--listen", a.listen()}
	for _, c := range []struct {
		answer string
		code   int
		want   string
	}{
		{"no", exitFail, "refused without confirmation"},
		{"yes", exitOK, "live and verified"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		cmd := a.cmd(ctx, args...)
		cmd.Path = python
		cmd.Args = append([]string{python, "-c", ptyScript, a.bin}, args...)
		cmd.Env = append(cmd.Env, "ANSWER="+c.answer)
		out, err := cmd.Output()
		cancel()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != c.code || !strings.Contains(string(out), "loses mail") || !strings.Contains(string(out), c.want) {
			t.Errorf("answering %q: exit %d (want %d), output lacks %q?\n%s", c.answer, code, c.code, c.want, out)
		}
	}
	if l, err := config.Load(a.dir, config.ThisHost()); err != nil || l.Settings.Mode != config.ModeRequired {
		t.Errorf("after yes: mode %s (%v)", l.Settings.Mode, err)
	}
}
