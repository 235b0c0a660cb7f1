package tui

import (
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
)

func TestPasteFieldEditing(t *testing.T) {
	f := NewPasteField("")
	f.SetSize(40, 6)
	f.Insert("ab\ncd")
	f.Update(tea.KeyMsg{Type: tea.KeyLeft})
	f.Update(tea.KeyMsg{Type: tea.KeyEnter})
	if got := f.Value(); got != "ab\nc\nd" {
		t.Fatalf("enter split: %q", got)
	}
	f.Update(tea.KeyMsg{Type: tea.KeyBackspace}) // joins the lines again
	f.Update(tea.KeyMsg{Type: tea.KeyBackspace})
	if got := f.Value(); got != "ab\nd" {
		t.Fatalf("backspace: %q", got)
	}
	f.Update(tea.KeyMsg{Type: tea.KeyUp})
	f.Update(tea.KeyMsg{Type: tea.KeyEnd})
	f.Update(tea.KeyMsg{Type: tea.KeyDelete})
	if got := f.Value(); got != "abd" {
		t.Fatalf("delete at end of line: %q", got)
	}
	if f.Len() != 3 || f.LineCount() != 1 {
		t.Fatalf("len %d lines %d", f.Len(), f.LineCount())
	}
}

func TestPasteFieldDrawsOnlyItsWindow(t *testing.T) {
	f := NewPasteField("")
	f.SetSize(30, 5) // three lines inside the border
	var b strings.Builder
	for i := range 5000 {
		b.WriteString(strings.Repeat("x", i%50) + "\n")
	}
	f.SetValue(b.String())
	v := f.View(plainStyles())
	if n := strings.Count(v, "\n") + 1; n != 5 {
		t.Fatalf("view has %d lines, want 5:\n%s", n, v)
	}
	if !strings.Contains(v, "5001") || strings.Contains(v, "4998 ") {
		t.Fatalf("window does not follow the cursor at the end:\n%s", v)
	}
	f.GotoLine(10)
	if v := f.View(plainStyles()); !strings.Contains(v, "10 ") {
		t.Fatalf("GotoLine(10) does not show line 10:\n%s", v)
	}
}

func TestPasteFieldMasksKeyBody(t *testing.T) {
	f := NewPasteField("")
	f.MaskBody = true
	f.SetSize(80, 8)
	f.SetValue("-----BEGIN PRIVATE KEY-----\nSECRETSECRET\n-----END PRIVATE KEY-----\n")
	v := f.View(plainStyles())
	if strings.Contains(v, "SECRET") || !strings.Contains(v, "-----BEGIN PRIVATE KEY-----") || !strings.Contains(v, "••••") {
		t.Fatalf("mask wrong:\n%s", v)
	}
}

func TestSanitize(t *testing.T) {
	for in, want := range map[string]string{
		"a\r\nb\rc\n":                   "a\nb\nc\n",
		"x\x1b[31mred\x1b[0m":           "xred",
		"\x1b]52;c;ZXZpbA==\x07ok":      "ok",
		"\x1b]0;title\x1b\\ok":          "ok",
		"\x1bPdcs\x1b\\ok":              "ok",
		"a\x00b\x7fc\x08d":              "abcd",
		"tab\there":                     "tab here",
		"\u009b31mc1":                   "c1",
		"caf\u00e9":                     "caf\u00e9",
		"bad\xffutf8":                   "badutf8",
		"\x1b(Bcharset":                 "charset",
		"-----BEGIN CERTIFICATE-----\n": "-----BEGIN CERTIFICATE-----\n",
	} {
		if got := Sanitize(in); got != want {
			t.Errorf("Sanitize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCompletePath(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"cert.pem", "chain.pem", "key.pem"} {
		if err := writeNew(dir+"/"+n, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if got, c := completePath(dir + "/k"); got != dir+"/key.pem" || c != nil {
		t.Fatalf("unique completion: %q %v", got, c)
	}
	if got, c := completePath(dir + "/c"); got != dir+"/c" || len(c) != 2 {
		t.Fatalf("ambiguous completion: %q %v", got, c)
	}
	if got, _ := completePath(dir + "/ce"); got != dir+"/cert.pem" {
		t.Fatalf("prefix completion: %q", got)
	}
}
