package validate

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smtptls/smtptls/internal/testpki"
)

func TestSummary(t *testing.T) {
	ch := testpki.MustChain(testNow, testpki.RSA2048, "mail.example.test", "mx2.example.test")
	r := Check(Input{Certificate: string(ch.Leaf.PEM()), Key: string(ch.Leaf.KeyPEM()), CABundle: string(ch.Bundle()), Hostname: "MX2.example.test.", Now: testNow.Add(24 * time.Hour)})
	s := r.Summary
	if s == nil || !r.OK() {
		t.Fatalf("%+v", r.Diagnostics)
	}
	spki := sha256.Sum256(ch.Leaf.Cert.RawSubjectPublicKeyInfo)
	der := sha256.Sum256(ch.Leaf.Cert.Raw)
	for _, c := range []struct{ name, got, want string }{
		{"subject", s.Subject, "mail.example.test"},
		{"issuer", s.Issuer, "smtptls Test Intermediate CA"},
		{"sans", strings.Join(s.SANs, ","), "mail.example.test,mx2.example.test"},
		{"key", s.KeyType, "RSA"},
		{"cert sha256", s.CertSHA256, hex.EncodeToString(der[:])},
		{"spki sha256", s.SPKISHA256, hex.EncodeToString(spki[:])},
		{"tlsa", s.TLSA, "3 1 1 " + hex.EncodeToString(spki[:])},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if s.KeyBits != 2048 || !s.HostnameMatch || s.DaysLeft != 3652 || len(s.Chain) != 3 || s.Chain[2].Role != "root" {
		t.Errorf("bits %d match %v days %d chain %+v", s.KeyBits, s.HostnameMatch, s.DaysLeft, s.Chain)
	}
	// Without a key there is a summary for the review screen, but nothing
	// to write.
	r = Check(Input{Certificate: string(ch.Leaf.PEM()), CABundle: string(ch.Bundle()), Now: testNow})
	if r.Summary == nil || r.Material != nil || r.OK() {
		t.Errorf("no key: summary %v material %v ok %v", r.Summary != nil, r.Material != nil, r.OK())
	}
}

// TestTLSAMatchesOpenSSL: the DANE record is what the usual recipe
// computes: openssl x509 -pubkey | openssl pkey -pubin -outform der | sha256.
func TestTLSAMatchesOpenSSL(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed: apt-get install openssl")
	}
	for _, kt := range []testpki.KeyType{testpki.ECDSAP256, testpki.RSA2048, testpki.Ed25519} {
		ch := testpki.MustChain(testNow, kt)
		f := filepath.Join(t.TempDir(), "cert.pem")
		if err := os.WriteFile(f, ch.Leaf.PEM(), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("sh", "-c", `openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform der | openssl dgst -sha256 -r`, "sh", f).Output()
		if err != nil {
			t.Fatalf("openssl: %v", err)
		}
		want := "3 1 1 " + strings.Fields(string(out))[0]
		r := Check(Input{Certificate: string(ch.Leaf.PEM()), Key: string(ch.Leaf.KeyPEM()), CABundle: string(ch.Bundle()), Now: testNow})
		if r.Summary.TLSA != want {
			t.Errorf("%s: TLSA %q, openssl says %q", kt, r.Summary.TLSA, want)
		}
	}
}
