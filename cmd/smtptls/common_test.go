package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func TestUseColorOnlyOnATerminal(t *testing.T) {
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	plain := env("TERM", "xterm-256color")
	if useColor(&bytes.Buffer{}, plain) {
		t.Error("color on a buffer")
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if useColor(f, plain) {
		t.Error("color into a regular file")
	}
	tty := openPTY(t)
	if !useColor(tty, plain) {
		t.Error("no color on a terminal")
	}
	if useColor(tty, env("TERM", "xterm", "NO_COLOR", "1")) {
		t.Error("color on a terminal with NO_COLOR set")
	}
	if useColor(tty, env("TERM", "dumb")) {
		t.Error("color on a dumb terminal")
	}
}

func TestReadPassphraseTakesTheFirstLine(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ content, want, err string }{
		{"s3cret\n", "s3cret", ""},
		{"s3cret\r\nsecond line\n", "s3cret", ""},
		{"no newline", "no newline", ""},
		{"\nafter a blank line", "", "empty"},
	} {
		name := filepath.Join(dir, "pass")
		if err := os.WriteFile(name, []byte(tc.content), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := readPassphrase(name, nil)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want one saying %q", tc.content, err, tc.err)
			}
			continue
		}
		if err != nil || string(got) != tc.want {
			t.Errorf("%q: got %q, %v; want %q", tc.content, got, err, tc.want)
		}
	}
	got, err := readPassphrase("-", strings.NewReader("from stdin\n"))
	if err != nil || string(got) != "from stdin" {
		t.Errorf("stdin: got %q, %v", got, err)
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"/etc/smtptls/current/ca.pem": "/etc/smtptls/current/ca.pem",
		"/tmp/my certs/ca.pem":        "'/tmp/my certs/ca.pem'",
		"it's":                        `'it'\''s'`,
		"":                            "''",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

// openPTY opens a pseudo-terminal's follower side, so the color decision
// meets a real terminal even under CI, where no /dev/tty exists.
func openPTY(t *testing.T) *os.File {
	t.Helper()
	ptm, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	t.Cleanup(func() { ptm.Close() })
	if err := unix.IoctlSetPointerInt(int(ptm.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetInt(int(ptm.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pty number: %v", err)
	}
	pts, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_WRONLY|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open pty: %v", err)
	}
	t.Cleanup(func() { pts.Close() })
	return pts
}
