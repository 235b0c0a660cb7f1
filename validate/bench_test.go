package validate

import (
	"os"
	"strings"
	"testing"
)

func benchInput(b *testing.B, bundleFile string) Input {
	b.Helper()
	read := func(n string) string {
		data, err := os.ReadFile("testdata/bench/" + n)
		if err != nil {
			b.Fatalf("%v (run go generate ./validate)", err)
		}
		return string(data)
	}
	return Input{Certificate: read("cert.pem"), Key: read("key.pem"), CABundle: read(bundleFile), Hostname: "mail.example.test", Now: testNow}
}

// benchCheck times a full check from scratch (a new Checker each time, so
// nothing is cached): what `smtptls validate` and the first paste cost.
func benchCheck(b *testing.B, in Input, wantCerts int) {
	if r := Check(in); !r.OK() || len(r.Summary.Chain) != 3 {
		b.Fatalf("bench input does not validate: %+v", r.Diagnostics)
	}
	if n := strings.Count(in.CABundle, "BEGIN CERTIFICATE"); n != wantCerts {
		b.Fatalf("bundle holds %d certificates, want %d", n, wantCerts)
	}
	b.ReportAllocs()
	for b.Loop() {
		Check(in)
	}
}

// Target: under 1 ms.
func BenchmarkCheckTypical(b *testing.B) {
	benchCheck(b, benchInput(b, "ca.pem"), 2)
}

// Target: under 15 ms. The system CA file pasted whole as the bundle.
func BenchmarkCheck150Bundle(b *testing.B) {
	benchCheck(b, benchInput(b, "ca150.pem"), 150)
}

// The wizard's per-keystroke cost: the bundle is unchanged and cached,
// the certificate field was just edited (its text differs every time).
func BenchmarkCheckCached150Bundle(b *testing.B) {
	in := benchInput(b, "ca150.pem")
	c := NewChecker(nil)
	c.Check(in)
	b.ReportAllocs()
	for b.Loop() {
		c.Check(in)
	}
}

// Parsing the 150-certificate bundle alone, uncached, as the bundle field
// sees on paste.
func BenchmarkBundleField150(b *testing.B) {
	in := benchInput(b, "ca150.pem")
	b.ReportAllocs()
	for b.Loop() {
		NewChecker(nil).Bundle(in.CABundle, testNow)
	}
}

// The bundle field re-checked with unchanged text (another field was
// edited): served from the cache.
func BenchmarkBundleField150Cached(b *testing.B) {
	in := benchInput(b, "ca150.pem")
	c := NewChecker(nil)
	c.Bundle(in.CABundle, testNow)
	b.ReportAllocs()
	for b.Loop() {
		c.Bundle(in.CABundle, testNow)
	}
}

// The certificate field as the admin pastes it: uncached.
func BenchmarkCertificateField(b *testing.B) {
	in := benchInput(b, "ca.pem")
	b.ReportAllocs()
	for b.Loop() {
		NewChecker(nil).Certificate(in.Certificate, in.Hostname, testNow)
	}
}

// A 64 MiB paste (a log file, a binary) must be refused at once, not
// hashed or scanned: this stays in the microseconds.
func BenchmarkCheckHugeField(b *testing.B) {
	in := benchInput(b, "ca.pem")
	in.CABundle = strings.Repeat("A", 64<<20)
	c := NewChecker(nil)
	b.ReportAllocs()
	for b.Loop() {
		c.Bundle(in.CABundle, testNow)
	}
}
