package smtpd

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/smtptls/smtptls/config"
)

// SocketLostError is a listener that runs for a config directory but no
// longer answers on its control socket (the socket file was deleted): it
// still serves mail, so nothing may start a second one or take its pid
// file.
type SocketLostError struct {
	Pid int
	Dir string
}

func (e *SocketLostError) Error() string {
	return fmt.Sprintf("listener running (pid %d), control socket missing: `smtptls stop --config-dir %s` then start it", e.Pid, e.Dir)
}

// FindListener finds the listener of configDir without its control socket:
// the pid file names a live process, and that process is `smtptls serve`
// on this config directory (its /proc/PID/cmdline says so). 0 when none.
func FindListener(configDir string) int {
	b, err := os.ReadFile(filepath.Join(configDir, config.PidFile))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 || !processAlive(pid) {
		return 0
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !servesDir(cmdline, configDir) {
		return 0
	}
	return pid
}

// servesDir reports whether a NUL-separated command line is `... serve`
// for dir: a pid file left behind must not make an unrelated process that
// reused the pid look like our listener.
func servesDir(cmdline []byte, dir string) bool {
	args := strings.Split(string(bytes.TrimRight(cmdline, "\x00")), "\x00")
	if len(args) < 2 || !strings.Contains(filepath.Base(args[0]), "smtptls") || args[1] != "serve" {
		return false
	}
	want, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	for i, a := range args {
		v, ok := strings.CutPrefix(a, "--config-dir=")
		if !ok && a == "--config-dir" && i+1 < len(args) {
			v, ok = args[i+1], true
		}
		if ok {
			got, err := filepath.Abs(v)
			return err == nil && got == want
		}
	}
	// No --config-dir: the pid file in dir is all that ties it to dir.
	return true
}
