package smtpd

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/smtptls/smtptls/config"
)

// logFile reopens the config directory's smtpd.log under the listener's
// stdout and stderr, so that logrotate can rename it and signal us
// (SIGUSR1, or a reload) instead of copying and truncating it under our
// feet (copytruncate loses what is written in between). It acts only when
// stderr was that file at start (serve --detach); in the foreground or
// under systemd stderr is someone else's and is left alone.
type logFile struct {
	path   string
	active bool
}

func openLogFile(dir string) *logFile {
	l := &logFile{path: filepath.Join(dir, config.LogFile)}
	var errSt, fileSt unix.Stat_t
	if unix.Fstat(2, &errSt) != nil || unix.Stat(l.path, &fileSt) != nil {
		return l
	}
	l.active = errSt.Dev == fileSt.Dev && errSt.Ino == fileSt.Ino
	return l
}

// reopen points stdout and stderr at a freshly opened smtpd.log; false
// when there was nothing to do.
func (l *logFile) reopen() (bool, error) {
	if !l.active {
		return false, nil
	}
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return false, fmt.Errorf("reopen log %s: %w", l.path, err)
	}
	defer f.Close()
	for _, fd := range []int{1, 2} {
		// dup3 swaps the file under the descriptor in one step: a write
		// in flight goes to the old file or the new, never nowhere.
		if err := unix.Dup3(int(f.Fd()), fd, 0); err != nil {
			return false, fmt.Errorf("reopen log %s: %w", l.path, os.NewSyscallError("dup3", err))
		}
	}
	return true, nil
}
