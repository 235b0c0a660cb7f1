package probe

import (
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/smtptls/smtptls/internal/testpki"
)

const testHost = "mail.example.test"

func pool(cs ...*testpki.Cert) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range cs {
		p.AddCert(c.Cert)
	}
	return p
}

func certsOf(cs ...*testpki.Cert) []*x509.Certificate {
	var out []*x509.Certificate
	for _, c := range cs {
		out = append(out, c.Cert)
	}
	return out
}

func want(t *testing.T, what string, st Status, detail string, wantSt Status, has string) {
	t.Helper()
	if st != wantSt || !strings.Contains(detail, has) {
		t.Errorf("%s = %s %q; want %s containing %q", what, st, detail, wantSt, has)
	}
}

func TestSelfSignedLeaf(t *testing.T) {
	self, err := testpki.NewRoot(testpki.Template{CommonName: testHost, DNSNames: []string{testHost}})
	if err != nil {
		t.Fatal(err)
	}
	st, d := checkChain(certsOf(self))
	want(t, "chain", st, d, Pass, "self-signed")
	st, d = checkTrust(certsOf(self), trustSet{custom: x509.NewCertPool()}, time.Now())
	want(t, "trust without --ca", st, d, Fail, "pass its root with --ca")
	st, d = checkTrust(certsOf(self), trustSet{custom: pool(self)}, time.Now())
	want(t, "trust with it in --ca", st, d, Pass, "trusted")
}

func TestNotYetValid(t *testing.T) {
	now := time.Now()
	ch := testpki.MustChain(now, testpki.ECDSAP256, testHost)
	leaf, err := ch.Intermediate.Issue(testpki.Template{CommonName: testHost, DNSNames: []string{testHost},
		NotBefore: now.Add(48 * time.Hour), NotAfter: now.AddDate(1, 0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	st, d := checkExpiry(certsOf(leaf, ch.Intermediate), now)
	want(t, "expiry", st, d, Fail, "is not valid until")
}

func TestIntermediateExpiresFirst(t *testing.T) {
	now := time.Now()
	root, _ := testpki.NewRoot(testpki.Template{CommonName: "Root"})
	inter, err := root.Issue(testpki.Template{CommonName: "Short Intermediate", IsCA: true, NotAfter: now.Add(5 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := inter.Issue(testpki.Template{CommonName: testHost, DNSNames: []string{testHost}})
	if err != nil {
		t.Fatal(err)
	}
	st, d := checkExpiry(certsOf(leaf, inter), now)
	want(t, "expiry", st, d, Warn, `the intermediate "Short Intermediate" expires in 4 days`)
	// A root sent along is ignored by peers, and so is its date.
	st, _ = checkExpiry(certsOf(leaf), now)
	if st != Pass {
		t.Errorf("leaf alone: %s", st)
	}
}

func TestLeafWithoutServerAuth(t *testing.T) {
	ch := testpki.MustChain(time.Now(), testpki.ECDSAP256, testHost)
	leaf, err := ch.Intermediate.Issue(testpki.Template{CommonName: testHost, DNSNames: []string{testHost},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err != nil {
		t.Fatal(err)
	}
	st, d := checkTrust(certsOf(leaf, ch.Intermediate), trustSet{custom: pool(ch.Root)}, time.Now())
	want(t, "trust", st, d, Fail, "lacks serverAuth")
}

func TestHostnameCases(t *testing.T) {
	ch := testpki.MustChain(time.Now(), testpki.ECDSAP256, "*.example.test")
	st, d := checkHostname(ch.Leaf.Cert, "mx1.example.test", false)
	want(t, "wildcard", st, d, Pass, "valid for mx1.example.test")
	st, d = checkHostname(ch.Leaf.Cert, "a.b.example.test", false)
	want(t, "wildcard one level only", st, d, Fail, "is for *.example.test, not for a.b.example.test")

	cnOnly, err := ch.Intermediate.Issue(testpki.Template{CommonName: testHost})
	if err != nil {
		t.Fatal(err)
	}
	st, d = checkHostname(cnOnly.Cert, testHost, false)
	want(t, "CN only", st, d, Fail, "CN \"mail.example.test\" alone does not count")
}

func TestTrustWithSystemPoolFallback(t *testing.T) {
	ch := testpki.MustChain(time.Now(), testpki.ECDSAP256, testHost)
	loads := 0
	ts := trustSet{
		custom: x509.NewCertPool(), // --ca of an unrelated root
		withSystem: func() *x509.CertPool {
			loads++
			return pool(ch.Root)
		},
	}
	st, d := checkTrust(certsOf(ch.Leaf, ch.Intermediate), ts, time.Now())
	want(t, "trust via the second pool", st, d, Pass, "smtptls Test Root CA")
	if loads != 1 {
		t.Errorf("system pool loaded %d times, want 1", loads)
	}
	ts.custom = pool(ch.Root)
	loads = 0
	checkTrust(certsOf(ch.Leaf, ch.Intermediate), ts, time.Now())
	if loads != 0 {
		t.Errorf("system pool loaded although --ca alone verified")
	}
}

func TestScoreWeights(t *testing.T) {
	stages := func(st ...Stage) []Stage { return st }
	for _, tc := range []struct {
		in   []Stage
		want int
	}{
		{stages(Stage{Name: StageTrust, Status: Pass}), 100},
		{stages(Stage{Name: StageConnect, Status: Fail}), 0},
		{stages(Stage{Name: StageHostname, Status: Fail}, Stage{Name: StageChain, Status: Warn}), 65},
		{stages(Stage{Name: StageExpiry, Status: Warn}, Stage{Name: StageMail, Status: Skip}), 90},
		{stages(Stage{Name: StageTrust, Status: Fail}, Stage{Name: StageExpiry, Status: Fail}, Stage{Name: StageHostname, Status: Fail}), 0},
	} {
		if got := score(tc.in); got != tc.want {
			t.Errorf("score(%+v) = %d, want %d", tc.in, got, tc.want)
		}
	}
}
