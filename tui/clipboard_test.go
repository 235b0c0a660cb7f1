package tui

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
)

func TestClipboardOverSSHUsesOSC52(t *testing.T) {
	text := "_25._tcp.mail.example.test. IN TLSA 3 1 1 abcd"
	enc := base64.StdEncoding.EncodeToString([]byte(text))
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"ssh", map[string]string{"SSH_TTY": "/dev/pts/1", "TERM": "xterm-256color"}, "\x1b]52;c;" + enc + "\x07"},
		{"ssh inside tmux", map[string]string{"SSH_CONNECTION": "x", "TMUX": "/tmp/tmux-0/default,1,0"}, "\x1bPtmux;\x1b\x1b]52;c;" + enc},
		{"ssh inside screen", map[string]string{"SSH_TTY": "/dev/pts/1", "TERM": "screen"}, "\x1bP\x1b]52;c;" + enc},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			how, err := Clipboard(&out, func(k string) string { return tc.env[k] })(text)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), tc.want) || !strings.Contains(how, "OSC 52") {
				t.Fatalf("wrote %q (%s), want it to contain %q", out.String(), how, tc.want)
			}
		})
	}
}
