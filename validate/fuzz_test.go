package validate

import (
	"testing"
	"time"
)

// FuzzCheck feeds arbitrary text into the three fields. Whatever comes in,
// the check must return (no panic, no hang), use only known codes with
// hints, and never pass without producing the material to write.
func FuzzCheck(f *testing.F) {
	for _, fc := range loadFixtures(f) {
		if fc.PadCertificate > 0 {
			continue
		}
		f.Add(fc.In.Certificate, fc.In.Key, fc.In.CABundle)
	}
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	c := NewChecker(nil)
	f.Fuzz(func(t *testing.T, cert, key, bundle string) {
		in := Input{Certificate: cert, Key: key, CABundle: bundle, Hostname: "mail.example.test", Now: now}
		r := c.Check(in)
		for _, d := range r.Diagnostics {
			if _, ok := codes[d.Code]; !ok {
				t.Fatalf("unknown code %q", d.Code)
			}
			if d.Message == "" || d.Hint == "" {
				t.Fatalf("empty message or hint: %+v", d)
			}
		}
		if r.OK() && r.Material == nil {
			t.Fatalf("OK without material: %+v", r.Diagnostics)
		}
		c.Certificate(cert, "mail.example.test", now)
		c.Key(key, []byte("x"))
		c.Bundle(bundle, now)
	})
}
