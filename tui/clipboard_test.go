package tui

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// A copy is claimed only where it is known to arrive; through tmux that
// depends on set-clipboard, which tmux is asked for.
func TestClipboardClaimsOnlyCopiesThatArrive(t *testing.T) {
	text := "_25._tcp.mail.example.test. IN TLSA 3 1 1 abcd"
	osc := "\x1b]52;c;" + base64.StdEncoding.EncodeToString([]byte(text)) + "\x07"
	tmux := func(v string, err error) func(string) (string, error) {
		return func(name string) (string, error) {
			if name != "set-clipboard" {
				t.Fatalf("asked tmux for %q", name)
			}
			return v, err
		}
	}
	for _, tc := range []struct {
		name   string
		env    map[string]string
		tmux   func(string) (string, error)
		copied bool
		says   string
	}{
		{"ssh", map[string]string{"SSH_TTY": "/dev/pts/1", "TERM": "xterm-256color"}, nil, true, "OSC 52"},
		{"ssh inside tmux, set-clipboard on", map[string]string{"SSH_CONNECTION": "x", "TMUX": "/tmp/tmux-0/default,1,0"}, tmux("on\n", nil), true, "through tmux"},
		{"ssh inside tmux, default set-clipboard", map[string]string{"SSH_CONNECTION": "x", "TMUX": "/tmp/tmux-0/default,1,0"}, tmux("external", nil), false, "set -g set-clipboard on"},
		{"ssh inside tmux, set-clipboard off", map[string]string{"SSH_CONNECTION": "x", "TMUX": "/tmp/tmux-0/default,1,0"}, tmux("off", nil), false, "set-clipboard is off"},
		{"ssh inside tmux that does not answer", map[string]string{"SSH_CONNECTION": "x", "TMUX": "/tmp/tmux-0/default,1,0"}, tmux("", errors.New("no server")), false, "set -g set-clipboard on"},
		{"ssh inside screen", map[string]string{"SSH_TTY": "/dev/pts/1", "TERM": "screen"}, nil, false, "screen"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			how, err := Clipboard(&out, func(k string) string { return tc.env[k] }, tc.tmux)(text)
			if !tc.copied {
				if !errors.Is(err, ErrNotCopied) || !strings.Contains(err.Error(), tc.says) {
					t.Fatalf("claimed %q (err %v), want not copied saying %q", how, err, tc.says)
				}
				return
			}
			if err != nil || !strings.Contains(out.String(), osc) || !strings.Contains(how, tc.says) {
				t.Fatalf("wrote %q (%s, %v), want %q", out.String(), how, err, osc)
			}
		})
	}
}

// On the review, a copy that did not arrive is never called "Copied": the
// screen says why and shows the record whole, to select with the mouse.
func TestReviewSaysCopiedOnlyWhenItWas(t *testing.T) {
	for _, w := range []int{40, 80} {
		h := newHarness(t).start(w, 40)
		h.fillAll()
		rec := h.m.screens[stepReview].(*reviewScreen).tlsaRecord()
		h.m.s.deps.Copy = func(string) (string, error) {
			return "", fmt.Errorf("%w: tmux keeps copies from programs to itself (set-clipboard is external); `tmux set -g set-clipboard on` passes them to your terminal", ErrNotCopied)
		}
		h.press("t")
		h.wantNotView("Copied")
		h.wantView("Not copied")
		v := h.view()
		foot := v[strings.Index(v, "Not copied"):]
		if !strings.Contains(noSpace(joinLines(foot)), noSpace(rec)) || !strings.Contains(noSpace(joinLines(foot)), noSpace("set -g set-clipboard on")) {
			t.Fatalf("at %d columns the note lacks the record or the way to enable copying:\n%s", w, v)
		}
		h.m.s.deps.Copy = func(string) (string, error) { return "terminal clipboard, OSC 52", nil }
		h.press("t")
		if !strings.Contains(noSpace(joinLines(h.view())), noSpace("Copied the TLSA record (terminal clipboard, OSC 52).")) {
			t.Fatalf("at %d columns a copy that arrived is not called one:\n%s", w, h.view())
		}
	}
}
