package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSecondLockNamesTheHolder(t *testing.T) {
	s, dir := openTestStore(t)
	l, err := s.Lock("smtptls apply --mode required")
	if err != nil {
		t.Fatal(err)
	}
	// A second open of the lock file, as another process would make.
	other, err := OpenStore(dir, testHost())
	if err != nil {
		t.Fatal(err)
	}
	_, err = other.Lock("smtptls apply --mode available")
	var le *LockedError
	if !errors.As(err, &le) {
		t.Fatalf("second Lock: %v, want a LockedError", err)
	}
	if le.Holder.Pid != os.Getpid() || le.Holder.Command != "smtptls apply --mode required" || le.Holder.User == "" || le.Holder.Since.IsZero() {
		t.Errorf("holder %+v", le.Holder)
	}
	for _, want := range []string{"another apply is in progress", "smtptls apply --mode required", "wait for it"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q lacks %q", err, want)
		}
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	l2, err := other.Lock("smtptls rollback")
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	l2.Unlock()
	if p := perm(t, filepath.Join(dir, LockFile)); p != 0o600 {
		t.Errorf("lock file mode %v", p)
	}
}

func TestLockHolderWithoutNote(t *testing.T) {
	if got := (LockHolder{}).String(); !strings.Contains(got, "another process") {
		t.Errorf("empty holder reads %q", got)
	}
}

func TestLockRefusesALinkAtItsName(t *testing.T) {
	s, dir := openTestStore(t)
	victim := filepath.Join(t.TempDir(), "victim")
	os.WriteFile(victim, []byte("precious"), 0o600)
	os.Remove(filepath.Join(dir, LockFile))
	os.Symlink(victim, filepath.Join(dir, LockFile))
	if _, err := s.Lock("test"); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("lock through a link: %v", err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious" {
		t.Errorf("the link's target was written: %q", b)
	}
}
