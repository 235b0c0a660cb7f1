package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// LockHolder says who holds the apply lock, so the admin who is refused
// knows whom to ask.
type LockHolder struct {
	Pid     int       `json:"pid"`
	User    string    `json:"user"`
	Command string    `json:"command"`
	Since   time.Time `json:"since"`
}

func (h LockHolder) String() string {
	if h.Pid == 0 {
		return "another process (it has not written its name yet)"
	}
	s := fmt.Sprintf("pid %d", h.Pid)
	if h.User != "" {
		s += " (user " + h.User + ")"
	}
	if h.Command != "" {
		s += fmt.Sprintf(", running %q", h.Command)
	}
	if !h.Since.IsZero() {
		s += ", since " + h.Since.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	return s
}

// LockedError is returned by Lock when another apply holds the lock.
type LockedError struct {
	Path   string
	Holder LockHolder
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("another apply is in progress: the lock %s is held by %s; wait for it to finish and try again", e.Path, e.Holder)
}

// Lock is a held apply lock. flock releases it when the process dies, so a
// crashed apply never leaves the directory locked.
type Lock struct {
	f *os.File
}

// Lock takes the apply lock without waiting: a second admin is told at once
// who is applying rather than left hanging. command is recorded for them.
func (s *Store) Lock(command string) (*Lock, error) {
	path := filepath.Join(s.dir, LockFile)
	// O_NOFOLLOW: a link planted as apply.lock must not make root
	// truncate the file it points to.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if errors.Is(err, syscall.ELOOP) {
		return nil, &LinkError{Path: path}
	}
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	if err := s.own(path); err != nil {
		f.Close()
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &LockedError{Path: path, Holder: readHolder(path)}
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	h := LockHolder{Pid: os.Getpid(), User: currentUser(), Command: command, Since: s.Now().UTC()}
	b, _ := json.Marshal(h)
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt(append(b, '\n'), 0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("write lock holder to %s: %w", path, err)
	}
	return &Lock{f: f}, nil
}

// readHolder reads the holder's note. The holder writes it just after taking
// the lock, so an empty file is retried briefly before giving up on a name.
func readHolder(path string) LockHolder {
	var h LockHolder
	for i := 0; i < 10; i++ {
		b, err := os.ReadFile(path)
		if err == nil && len(b) > 0 && json.Unmarshal(b, &h) == nil {
			return h
		}
		time.Sleep(10 * time.Millisecond)
	}
	return LockHolder{}
}

func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "uid " + strconv.Itoa(os.Getuid())
}

// Unlock releases the lock. The holder note stays: it is read only by
// someone refused the lock, and one refused just before this release must
// still learn who held it (the next holder overwrites it).
func (l *Lock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// Busy reports whether an apply holds the lock of dir, without taking it
// or writing anything: a shared lock cannot be had while one holds it
// exclusively.
func Busy(dir string) bool {
	f, err := os.Open(filepath.Join(dir, LockFile))
	if err != nil {
		return false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		return true
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false
}
