package spool

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"
)

var fixed = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func open(t *testing.T) *Spool {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "spool"), func() time.Time { return fixed })
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDeliverWritesMaildirMessage(t *testing.T) {
	s := open(t)
	env := Envelope{From: "a@example.org", To: []string{"b@example.test"}, PeerIP: "192.0.2.1",
		HELO: "mx.example.org", TLS: "TLSv1.3 TLS_AES_128_GCM_SHA256", Hostname: "mail.example.test"}
	id, err := s.Deliver(env, strings.NewReader("Subject: x\r\n\r\nbody\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(s.Dir(), "new", id))
	if err != nil {
		t.Fatal(err)
	}
	want := "Return-Path: <a@example.org>\r\n" +
		"X-Original-To: <b@example.test>\r\n" +
		"Received: from mx.example.org ([192.0.2.1])\r\n" +
		"\tby mail.example.test (smtptls) with ESMTPS id " + id + "\r\n" +
		"\t(using TLSv1.3 with cipher TLS_AES_128_GCM_SHA256)\r\n" +
		"\tfor <b@example.test>;\r\n" +
		"\tSat, 28 Nov 2026 12:00:00 +0000\r\n" +
		"Subject: x\r\n\r\nbody\r\n"
	if string(b) != want {
		t.Fatalf("stored:\n%q\nwant:\n%q", b, want)
	}
	fi, _ := os.Stat(filepath.Join(s.Dir(), "new", id))
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("message mode %v", fi.Mode().Perm())
	}
	if e, _ := os.ReadDir(filepath.Join(s.Dir(), "tmp")); len(e) != 0 {
		t.Errorf("tmp not empty")
	}
}

func TestDeliverAbortLeavesNothing(t *testing.T) {
	s := open(t)
	boom := errors.New("peer went away")
	_, err := s.Deliver(Envelope{}, io.MultiReader(strings.NewReader("partial"), iotest.ErrReader(boom)))
	if !errors.Is(err, boom) {
		t.Fatalf("err %v, want the reader's error unwrapped", err)
	}
	for _, d := range []string{"tmp", "new"} {
		if e, _ := os.ReadDir(filepath.Join(s.Dir(), d)); len(e) != 0 {
			t.Errorf("%s holds %d files after an aborted delivery", d, len(e))
		}
	}
}

func TestHeaderInjectionIsNeutralised(t *testing.T) {
	s := open(t)
	id, err := s.Deliver(Envelope{HELO: "evil\r\nX-Injected: 1", From: "a\nb@example.org", PeerIP: "192.0.2.1", Hostname: "mx"},
		strings.NewReader("\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(s.Dir(), "new", id))
	if strings.Contains(string(b), "\r\nX-Injected") || strings.Contains(string(b), "a\nb") {
		t.Fatalf("peer text broke out of a header:\n%q", b)
	}
}

func TestIDsAreUniqueAndSortable(t *testing.T) {
	seen := map[string]bool{}
	prev := ""
	for i := 0; i < 1000; i++ {
		id := NewID(fixed.Add(time.Duration(i) * time.Microsecond))
		if seen[id] {
			t.Fatalf("duplicate id %s", id)
		}
		seen[id] = true
		if id[:13] < prev {
			t.Fatalf("id %s sorts before %s", id, prev)
		}
		prev = id[:13]
	}
}

func TestOpenRefusesUnusableSpool(t *testing.T) {
	// A file where the spool directory should be: MkdirAll fails even for
	// root, as a read-only mount or a typo'd path would in production.
	p := filepath.Join(t.TempDir(), "spool")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(p, nil)
	if err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("unusable spool: %v, want an error naming %s", err, p)
	}
}

func TestDirSyncerGroupsConcurrentCallers(t *testing.T) {
	dir, err := os.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	d := newDirSyncer(dir)
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.sync(); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if d.started == 0 || d.started > 50 {
		t.Fatalf("%d syncs for 50 callers", d.started)
	}
	// A failed fsync is an error every caller sees.
	gone, err := os.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	gone.Close()
	bad := newDirSyncer(gone)
	for i := 0; i < 2; i++ {
		if err := bad.sync(); err == nil {
			t.Fatal("a failed directory fsync was reported as success")
		}
	}
}

func TestOpenRemovesStaleTmpFilesOnly(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	if _, err := Open(dir, nil); err != nil {
		t.Fatal(err)
	}
	stale, fresh := filepath.Join(dir, "tmp", "crashed"), filepath.Join(dir, "tmp", "in-flight")
	for _, p := range []string{stale, fresh} {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-37 * time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Error("a 37-hour-old tmp file survived Open")
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Error("a fresh tmp file (maybe still being written) was removed")
	}
}

func TestDeliverAfterCloseFailsAndStoresNothing(t *testing.T) {
	s := open(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if id, err := s.Deliver(Envelope{}, strings.NewReader("Subject: x\r\n\r\n")); err == nil {
		t.Fatalf("delivered %s through a closed spool", id)
	}
	for _, d := range []string{"tmp", "new"} {
		if e, _ := os.ReadDir(filepath.Join(s.Dir(), d)); len(e) != 0 {
			t.Errorf("%s holds %d files after a refused delivery", d, len(e))
		}
	}
}

// The fsync that acknowledges a message is of the directory the message
// was renamed into, even when the spool's path now names another one.
func TestDeliverStaysInTheOpenedSpool(t *testing.T) {
	s := open(t)
	moved := s.Dir() + ".moved"
	if err := os.Rename(s.Dir(), moved); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(s.Dir(), "new"), 0o700); err != nil {
		t.Fatal(err)
	}
	id, err := s.Deliver(Envelope{}, strings.NewReader("Subject: x\r\n\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(moved, "new", id)); err != nil {
		t.Errorf("message not in the spool directory that was opened: %v", err)
	}
	if e, _ := os.ReadDir(filepath.Join(s.Dir(), "new")); len(e) != 0 {
		t.Errorf("message went to the replacement directory")
	}
}
