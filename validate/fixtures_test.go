package validate

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// fixtureCase mirrors internal/gen's case.json.
type fixtureCase struct {
	Name           string
	Now            time.Time `json:"now"`
	Hostname       string    `json:"hostname"`
	Passphrase     string    `json:"passphrase"`
	PadCertificate int       `json:"pad_certificate"`
	Codes          []string  `json:"codes"`
	Note           string    `json:"note"`
	In             Input
}

func loadFixtures(t testing.TB) []fixtureCase {
	t.Helper()
	dirs, err := filepath.Glob("../testdata/cases/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no fixtures under ../testdata/cases (run go generate ./validate): %v", err)
	}
	var out []fixtureCase
	for _, d := range dirs {
		var c fixtureCase
		raw, err := os.ReadFile(filepath.Join(d, "case.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, &c); err != nil {
			t.Fatalf("%s: %v", d, err)
		}
		c.Name = filepath.Base(d)
		read := func(n string) string {
			b, err := os.ReadFile(filepath.Join(d, n))
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
		c.In = Input{Certificate: read("cert.pem"), Key: read("key.pem"), CABundle: read("ca.pem"), Hostname: c.Hostname, Now: c.Now}
		if c.Passphrase != "" {
			c.In.Passphrase = []byte(c.Passphrase)
		}
		if c.PadCertificate > 0 {
			c.In.Certificate += strings.Repeat("x", c.PadCertificate)
		}
		out = append(out, c)
	}
	return out
}

func codesOf(ds []Diagnostic) []string {
	var cs []string
	for _, d := range ds {
		cs = append(cs, d.Code)
	}
	slices.Sort(cs)
	return cs
}

// TestFixtures runs every generated case and demands exactly its codes:
// a missing finding and a spurious one are both failures.
func TestFixtures(t *testing.T) {
	for _, c := range loadFixtures(t) {
		t.Run(c.Name, func(t *testing.T) {
			r := Check(c.In)
			got := codesOf(r.Diagnostics)
			want := slices.Clone(c.Codes)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				for _, d := range r.Diagnostics {
					t.Logf("%s %s %s line %d: %s", d.Severity, d.Field, d.Code, d.Line, d.Message)
				}
				t.Fatalf("codes = %v, want %v (%s)", got, want, c.Note)
			}
			wantOK := true
			for _, code := range want {
				if CodeSeverity(code) == SevError {
					wantOK = false
				}
			}
			if r.OK() != wantOK {
				t.Errorf("OK() = %v, want %v", r.OK(), wantOK)
			}
			for _, d := range r.Diagnostics {
				if d.Message == "" || d.Hint == "" || strings.Contains(d.Hint, "{") {
					t.Errorf("%s: empty message or unfilled hint: %+v", d.Code, d)
				}
				if d.Severity != CodeSeverity(d.Code) {
					t.Errorf("%s: severity %s, table says %s", d.Code, d.Severity, CodeSeverity(d.Code))
				}
			}
			if wantOK {
				if r.Material == nil || r.Summary == nil {
					t.Fatalf("a passing case must produce material and a summary")
				}
				checkMaterial(t, c.In, r)
			}
		})
	}
}

// TestFixturesCoverEveryCode keeps the generator honest: every code in the
// table is produced by at least one fixture.
func TestFixturesCoverEveryCode(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range loadFixtures(t) {
		for _, code := range c.Codes {
			seen[code] = true
		}
	}
	for _, code := range Codes() {
		if !seen[code] {
			t.Errorf("no fixture produces %s", code)
		}
	}
}
