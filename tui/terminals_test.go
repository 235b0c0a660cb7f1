package tui

import (
	"strings"
	"testing"

	"github.com/charmbracelet/x/exp/golden"
)

// On the Linux console (TERM=linux) and on VT100/VT220 terminals, whose
// fonts lack ✓ ✗ ↻ and the arrows, every symbol falls back to ASCII and
// frames use the line drawing those terminals have; a golden screen per
// terminal type.
func TestScreensPerTerminalType(t *testing.T) {
	for _, term := range []string{"linux", "vt100", "vt220"} {
		t.Run(term, func(t *testing.T) {
			h := newHarness(t)
			h.dir = "/etc/smtptls"
			h.start(80, 24)
			h.m.c.Styles = h.m.c.Styles.ForTerminal(term)
			h.toCert()
			h.paste(pki(t, "leaf.pem"))
			h.press("tab")
			h.paste(pki(t, "other.key"))
			keyView := h.view()
			h.press("ctrl+u")
			h.paste(pki(t, "leaf.key"))
			h.press("tab")
			h.paste(pki(t, "root.pem") + pki(t, "leaf.pem") + pki(t, "intermediate.pem"))
			bundle := h.view()
			h.press("tab")
			review := h.view()
			h.press("enter")
			result := h.view()
			for name, v := range map[string]string{"key-mismatch": keyView, "bundle": bundle, "review": review, "success": result} {
				for _, r := range v {
					ok := r < 0x80 || term == "linux" && (r == '·' || r >= 0x2500 && r <= 0x257f)
					if !ok {
						t.Fatalf("%s on %s draws %q, which its font lacks:\n%s", name, term, r, v)
					}
				}
				if term != "linux" && !strings.Contains(v, "\x1b(0") && name != "success" && name != "review" {
					t.Fatalf("%s on %s draws its frame without the line-drawing set:\n%q", name, term, v)
				}
			}
			golden.RequireEqual(t, []byte(keyView+"\n"+bundle+"\n"+review))
		})
	}
}
