package spool

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// LeftoverAge is when a file in tmp counts as left over from a crash: no
// delivery in progress goes that long without a write (the data timeout
// is minutes), and nothing in tmp was ever acknowledged.
const LeftoverAge = time.Hour

// Report is what status says about a spool.
type Report struct {
	Dir       string `json:"dir"`
	FreeBytes uint64 `json:"free_bytes"` // for an unprivileged writer
	// New counts the messages waiting in new; OldestNew is when the oldest
	// of them was written (nil when there are none).
	New       int        `json:"messages_in_new"`
	OldestNew *time.Time `json:"oldest_in_new,omitempty"`
	// TmpLeftovers counts files in tmp older than LeftoverAge.
	TmpLeftovers int `json:"tmp_leftovers"`
}

// FreeBytes is the space left to an unprivileged writer on dir's file
// system.
func FreeBytes(dir string) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("free space of %s: %w", dir, err)
	}
	return st.Bavail * uint64(st.Bsize), nil
}

// Inspect reports on the Maildir at dir without changing it.
func Inspect(dir string, now time.Time) (Report, error) {
	r := Report{Dir: dir}
	free, err := FreeBytes(dir)
	if err != nil {
		return r, err
	}
	r.FreeBytes = free
	err = eachFile(filepath.Join(dir, "new"), func(fi fs.FileInfo) {
		r.New++
		if t := fi.ModTime(); r.OldestNew == nil || t.Before(*r.OldestNew) {
			r.OldestNew = &t
		}
	})
	if err != nil {
		return r, err
	}
	err = eachFile(filepath.Join(dir, "tmp"), func(fi fs.FileInfo) {
		if now.Sub(fi.ModTime()) > LeftoverAge {
			r.TmpLeftovers++
		}
	})
	return r, err
}

// RemoveLeftovers deletes the files in tmp older than LeftoverAge; the
// listener calls it at start, when no delivery of its own is in progress.
func RemoveLeftovers(dir string, now time.Time) (int, error) {
	tmp := filepath.Join(dir, "tmp")
	n := 0
	var firstErr error
	err := eachFile(tmp, func(fi fs.FileInfo) {
		if now.Sub(fi.ModTime()) <= LeftoverAge {
			return
		}
		if err := os.Remove(filepath.Join(tmp, fi.Name())); err != nil && firstErr == nil {
			firstErr = err
			return
		}
		n++
	})
	if err != nil {
		return n, err
	}
	return n, firstErr
}

// eachFile calls f for each regular file in dir; a missing dir has none.
func eachFile(dir string, f func(fs.FileInfo)) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil || !fi.Mode().IsRegular() {
			continue // gone meanwhile, or not a message
		}
		f(fi)
	}
	return nil
}
