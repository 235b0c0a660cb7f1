package tui

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// keyBodyOnScreen names the first line of key's body that view shows.
func keyBodyOnScreen(key, view string) string {
	for _, l := range strings.Split(key, "\n") {
		l = strings.TrimSpace(l)
		if len(l) < 12 || strings.HasPrefix(l, "-----") {
			continue
		}
		// Any 12 characters of a body line: the field cuts long lines.
		for i := 0; i+12 <= len(l); i += 6 {
			if strings.Contains(view, l[i:i+12]) {
				return l
			}
		}
	}
	return ""
}

// A private key pasted where a certificate belongs is a common slip: the
// key file at step 2, or a bundle file that carries the key. Wherever it
// lands, its body is never drawn.
func TestPrivateKeyIsMaskedInEveryField(t *testing.T) {
	key := pki(t, "leaf.key")
	oneLine := strings.ReplaceAll(strings.TrimSpace(key), "\n", "")
	for _, tc := range []struct {
		name, text string
		typed      bool
	}{
		{"key alone", key, false},
		{"certificate then key", pki(t, "leaf.pem") + key, false},
		{"key then certificate", key + pki(t, "leaf.pem"), false},
		{"key typed out by the terminal", pki(t, "leaf.pem") + key, true},
		{"key on one line", oneLine + "\n", false},
		{"key after text on its line", "junk " + oneLine + "\n", false},
		{"encrypted key", pki(t, "leaf-encrypted.key"), false},
	} {
		for _, step := range []string{"Certificate", "CA bundle", "Private key"} {
			for _, size := range [][2]int{{80, 24}, {60, 14}, {200, 50}} {
				t.Run(fmt.Sprintf("%s/%s/%dx%d", tc.name, step, size[0], size[1]), func(t *testing.T) {
					h := newHarness(t).start(size[0], size[1])
					h.toCert()
					for h.screen() != step {
						h.press("tab")
					}
					if tc.typed {
						h.typeOut(tc.text)
					} else {
						h.paste(tc.text)
					}
					body := strings.TrimSpace(tc.text)
					if tc.name != "encrypted key" {
						body = key
					} else if step == "Private key" {
						h.press("esc") // leave the pass phrase prompt
					}
					// Every window onto the text: top, each line, bottom.
					views := []string{h.view()}
					h.press("ctrl+home")
					for range strings.Count(tc.text, "\n") + 1 {
						views = append(views, h.view())
						h.press("down")
					}
					for _, v := range views {
						if l := keyBodyOnScreen(body, v); l != "" {
							t.Fatalf("the private key line %q is on screen:\n%s", l, v)
						}
					}
					if !strings.Contains(strings.Join(views, "\n"), "PRIVATE KEY-----") {
						t.Fatalf("the key's BEGIN/END lines are not shown either:\n%s", views[0])
					}
				})
			}
		}
	}
}

// TestNoKeyInGoldensOrREADME reads what the screen captures wrote: not one
// line of any fixture key may be in a golden file or the README.
func TestNoKeyInGoldensOrREADME(t *testing.T) {
	var keys []string
	for _, k := range []string{"leaf.key", "other.key", "expired.key", "leaf-encrypted.key"} {
		keys = append(keys, pki(t, k))
	}
	files, err := filepath.Glob(filepath.Join("testdata", "*", "*.golden"))
	if err != nil {
		t.Fatal(err)
	}
	more, _ := filepath.Glob(filepath.Join("testdata", "*.golden"))
	files = append(append(files, more...), filepath.Join("..", "README.md"))
	if len(files) < 10 {
		t.Fatalf("only %d files to check: %v", len(files), files)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if l := keyBodyOnScreen(k, string(b)); l != "" {
				t.Errorf("%s holds the private key line %q", f, l)
			}
		}
	}
}
