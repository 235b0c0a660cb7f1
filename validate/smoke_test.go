package validate

import (
	"testing"
	"time"

	"github.com/smtptls/smtptls/internal/testpki"
)

func TestSmoke(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	ch := testpki.MustChain(now, testpki.ECDSAP256, "mail.example.test")
	r := Check(Input{Certificate: string(ch.Leaf.PEM()), Key: string(ch.Leaf.KeyPEM()), CABundle: string(ch.Bundle()), Hostname: "mail.example.test", Now: now})
	for _, d := range r.Diagnostics {
		t.Logf("%+v", d)
	}
	if !r.OK() || r.Material == nil || r.Summary == nil {
		t.Fatalf("not ok")
	}
	t.Logf("%+v", *r.Summary)
	r = Check(Input{Certificate: string(ch.Intermediate.PEM()), Key: string(ch.Leaf.KeyPEM()), CABundle: string(ch.Leaf.PEM()), Hostname: "mail.example.test", Now: now})
	for _, d := range r.Diagnostics {
		t.Logf("%+v", d)
	}
}
