// Package spool stores accepted mail durably in a Maildir: a message is
// written to tmp, fsynced, renamed into new and the directory fsynced
// before Deliver returns, so the listener's 250 always names a message
// that survives a crash, and new never holds a partial file.
package spool

import (
	"bufio"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Spool is one Maildir. It is safe for concurrent use.
type Spool struct {
	dir string
	now func() time.Time
	// tmp and new stay open for the spool's life: a message is created in
	// and renamed between these very directories, and the fsync that makes
	// the rename durable is of the directory the rename went into, even if
	// someone replaces the paths meanwhile (as Postfix works from its queue
	// directory, not from paths). Opening new per message also cost an
	// open, two fcntls, an epoll_ctl and a close.
	tmp, new   *os.File
	tmpC, newC syscall.RawConn
	newDir     *dirSyncer
	// writers recycles the 32 KB write buffers: clearing a fresh one per
	// message showed up in profiles.
	writers sync.Pool
}

// Open creates the Maildir's tmp, new and cur (0700) when missing.
func Open(dir string, now func() time.Time) (*Spool, error) {
	if now == nil {
		now = time.Now
	}
	for _, sub := range []string{"tmp", "new", "cur"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("spool %s: %w", dir, err)
		}
	}
	// A spool the listener cannot write to would only show up as 451s on
	// the first message; find out now, while a reload can still refuse.
	f, err := os.CreateTemp(filepath.Join(dir, "tmp"), "probe-")
	if err != nil {
		return nil, fmt.Errorf("spool %s is not writable: %w", dir, err)
	}
	f.Close()
	os.Remove(f.Name())
	removeStale(filepath.Join(dir, "tmp"), now())
	s := &Spool{dir: dir, now: now}
	if s.tmp, s.tmpC, err = openDir(filepath.Join(dir, "tmp")); err != nil {
		return nil, err
	}
	if s.new, s.newC, err = openDir(filepath.Join(dir, "new")); err != nil {
		s.tmp.Close()
		return nil, err
	}
	s.newDir = newDirSyncer(s.new)
	return s, nil
}

func openDir(dir string) (*os.File, syscall.RawConn, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("spool: open %s: %w", dir, err)
	}
	c, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("spool: open %s: %w", dir, err)
	}
	return f, c, nil
}

// Close releases the spool's directories; Deliver fails afterwards.
func (s *Spool) Close() error {
	err := s.tmp.Close()
	if err2 := s.new.Close(); err == nil {
		err = err2
	}
	return err
}

// staleAfter is the Maildir rule for tmp: a file this old is left over
// from a crash (no DATA phase lasts that long) and was never acknowledged.
// The listener removes leftovers older than LeftoverAge at start
// (RemoveLeftovers); Open, which a reload runs too, keeps to this.
const staleAfter = 36 * time.Hour

// removeStale deletes what crashed deliveries left in tmp. Younger files
// may belong to a generation still draining, so they stay.
func removeStale(tmp string, now time.Time) {
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return
	}
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() && now.Sub(fi.ModTime()) > staleAfter {
			os.Remove(filepath.Join(tmp, e.Name()))
		}
	}
}

// Dir is the Maildir root.
func (s *Spool) Dir() string { return s.dir }

// Envelope is what the Received: header and the envelope headers record.
type Envelope struct {
	From     string
	To       []string
	PeerIP   string
	HELO     string
	TLS      string // "TLS1.3 TLS_AES_128_GCM_SHA256", "" for plaintext
	Hostname string // our name, the "by" of Received:
}

var idEncoding = base32.NewEncoding("0123456789ABCDEFGHJKLMNPQRSTVWXZ").WithPadding(base32.NoPadding)

// NewID makes a queue id: sortable by time, unique by 60 random bits, and
// made of characters that are safe in a file name and in an SMTP reply.
func NewID(now time.Time) string {
	var b [13]byte
	ts := uint64(now.UnixMicro())
	for i := 0; i < 8; i++ {
		b[i] = byte(ts >> (56 - 8*i))
	}
	_, _ = rand.Read(b[8:])
	return idEncoding.EncodeToString(b[:])
}

// Deliver stores one message and returns its queue id once it is on disk.
// body must yield the message as received (CRLF line endings); a read error
// aborts the delivery, leaves nothing in new, and is returned unwrapped so
// callers can pass SMTP errors through.
func (s *Spool) Deliver(env Envelope, body io.Reader) (string, error) {
	now := s.now()
	id := NewID(now)
	tmp := filepath.Join(s.dir, "tmp", id)
	// The message file is a bare descriptor: os.OpenFile would also try
	// to register it with the network poller (fcntl, fcntl, epoll_ctl)
	// for a file that never blocks that way.
	fd, err := s.createTmp(id)
	if err != nil {
		return "", fmt.Errorf("spool: create %s: %w", tmp, err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = syscall.Close(fd)
			s.unlink(s.tmpC, id)
		}
	}()
	w, _ := s.writers.Get().(*bufio.Writer)
	if w == nil {
		w = bufio.NewWriterSize(nil, 32<<10)
	}
	w.Reset(markWrites{fdWriter(fd)})
	defer func() {
		w.Reset(nil)
		s.writers.Put(w)
	}()
	writeHeaders(w, env, id, now)
	if _, err := io.Copy(w, body); err != nil {
		var we *writeError
		if errors.As(err, &we) {
			return "", fmt.Errorf("spool: write %s: %w", tmp, we.err)
		}
		return "", err
	}
	if err := w.Flush(); err != nil {
		return "", fmt.Errorf("spool: write %s: %w", tmp, err)
	}
	if err := ignoringEINTR(func() error { return syscall.Fsync(fd) }); err != nil {
		return "", fmt.Errorf("spool: fsync %s: %w", tmp, err)
	}
	ok = true
	if err := syscall.Close(fd); err != nil {
		s.unlink(s.tmpC, id)
		return "", fmt.Errorf("spool: close %s: %w", tmp, err)
	}
	if err := s.rename(id); err != nil {
		s.unlink(s.tmpC, id)
		return "", fmt.Errorf("spool: move %s into new: %w", tmp, err)
	}
	if err := s.newDir.sync(); err != nil {
		// The message may or may not survive a crash: do not acknowledge
		// it, and take it back so a retry does not make a duplicate.
		s.unlink(s.newC, id)
		return "", err
	}
	return id, nil
}

func (s *Spool) createTmp(name string) (int, error) {
	fd := -1
	var err error
	cerr := s.tmpC.Control(func(dir uintptr) {
		err = ignoringEINTR(func() error {
			fd, err = unix.Openat(int(dir), name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o600)
			return err
		})
	})
	if cerr != nil {
		return -1, cerr
	}
	return fd, err
}

// rename moves tmp/name to new/name. Control holds each directory open
// for the duration, so a concurrent Close cannot hand its descriptor
// number to another file.
func (s *Spool) rename(name string) error {
	var err error
	cerr := s.tmpC.Control(func(from uintptr) {
		cerr := s.newC.Control(func(to uintptr) {
			err = ignoringEINTR(func() error { return renameat(int(from), name, int(to), name) })
		})
		if err == nil {
			err = cerr
		}
	})
	if cerr != nil {
		return cerr
	}
	return err
}

func (s *Spool) unlink(dir syscall.RawConn, name string) {
	_ = dir.Control(func(fd uintptr) {
		_ = ignoringEINTR(func() error { return unlinkat(int(fd), name) })
	})
}

func ignoringEINTR(f func() error) error {
	for {
		if err := f(); err != syscall.EINTR {
			return err
		}
	}
}

// fdWriter writes to a file descriptor, all of b or an error.
type fdWriter int

func (w fdWriter) Write(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := syscall.Write(int(w), b[n:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return n, err
		}
		if m == 0 {
			return n, io.ErrShortWrite
		}
		n += m
	}
	return n, nil
}

// writeError marks errors of the spool file itself, as opposed to errors
// of the body reader.
type writeError struct{ err error }

func (e *writeError) Error() string { return e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

type markWrites struct{ w io.Writer }

func (m markWrites) Write(b []byte) (int, error) {
	n, err := m.w.Write(b)
	if err != nil {
		err = &writeError{err}
	}
	return n, err
}

func writeHeaders(w *bufio.Writer, env Envelope, id string, now time.Time) {
	fmt.Fprintf(w, "Return-Path: <%s>\r\n", clean(env.From))
	for _, to := range env.To {
		fmt.Fprintf(w, "X-Original-To: <%s>\r\n", clean(to))
	}
	WriteReceived(w, env, id, now)
}

// WriteReceived writes our Received: trace header for env, as the spool
// stores it and the relay passes it on.
func WriteReceived(w io.Writer, env Envelope, id string, now time.Time) {
	proto := "ESMTP"
	if env.TLS != "" {
		proto = "ESMTPS"
	}
	fmt.Fprintf(w, "Received: from %s ([%s])\r\n\tby %s (smtptls) with %s id %s",
		cleanOr(env.HELO, "unknown"), clean(env.PeerIP), clean(env.Hostname), proto, id)
	if env.TLS != "" {
		version, cipher, _ := strings.Cut(env.TLS, " ")
		fmt.Fprintf(w, "\r\n\t(using %s with cipher %s)", clean(version), clean(cipher))
	}
	if len(env.To) == 1 {
		fmt.Fprintf(w, "\r\n\tfor <%s>", clean(env.To[0]))
	}
	fmt.Fprintf(w, ";\r\n\t%s\r\n", now.Format(time.RFC1123Z))
}

// clean keeps peer-supplied text from breaking out of a header: only
// printable ASCII, at most 255 bytes.
func clean(s string) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < 255; i++ {
		if c := s[i]; c > ' ' && c < 0x7f {
			b.WriteByte(c)
		} else {
			b.WriteByte('?')
		}
	}
	return b.String()
}

func cleanOr(s, def string) string {
	if s == "" {
		return def
	}
	return clean(s)
}
