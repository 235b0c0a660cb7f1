package spool

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestInspectAndRemoveLeftovers(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	sp, err := Open(dir, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	write := func(sub, name string, age time.Duration) {
		p := filepath.Join(dir, sub, name)
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		at := now.Add(-age)
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
	}
	write("new", "a", 3*time.Hour)
	write("new", "b", time.Minute)
	write("tmp", "crashed", 2*time.Hour)
	write("tmp", "writing", time.Second)
	r, err := Inspect(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	if r.New != 2 || r.OldestNew == nil || now.Sub(*r.OldestNew) < 3*time.Hour-time.Second || r.TmpLeftovers != 1 || r.FreeBytes == 0 {
		t.Fatalf("report %+v", r)
	}
	n, err := RemoveLeftovers(dir, now)
	if err != nil || n != 1 {
		t.Fatalf("removed %d, %v", n, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "tmp", "writing")); err != nil {
		t.Fatal("a file being written was removed")
	}
}
