package validate

import (
	"crypto/x509"
	"slices"
	"strings"
	"testing"

	"github.com/smtptls/smtptls/internal/testpki"
)

// TestSystemRootsAnchorTheChain: a bundle with only the intermediate is
// complete when the root is in the system store; LoadRoots is called only
// when the pasted certificates do not reach a root.
func TestSystemRootsAnchorTheChain(t *testing.T) {
	ch := testpki.MustChain(testNow, testpki.ECDSAP256, "mail.example.test")
	pool := x509.NewCertPool()
	pool.AddCert(ch.Root.Cert)
	loads := 0
	load := func() *x509.CertPool { loads++; return pool }
	in := Input{Certificate: string(ch.Leaf.PEM()), Key: string(ch.Leaf.KeyPEM()), CABundle: string(ch.Intermediate.PEM()), Now: testNow, LoadRoots: load}

	r := Check(in)
	if len(r.Diagnostics) != 0 || loads != 1 {
		t.Fatalf("diagnostics %v, loads %d", codesOf(r.Diagnostics), loads)
	}
	var roles, sources []string
	for _, e := range r.Summary.Chain {
		roles = append(roles, e.Role)
		sources = append(sources, e.Source)
	}
	if !slices.Equal(roles, []string{"leaf", "intermediate", "root"}) || !slices.Equal(sources, []string{"certificate", "ca_bundle", "system"}) {
		t.Errorf("chain roles %v sources %v", roles, sources)
	}
	// The served chain is the intermediate only; the system root is kept as
	// the anchor so the probe can verify without the system store.
	if n := len(pemCerts(t, r.Material.ChainPEM)); n != 1 {
		t.Errorf("chain PEM holds %d certificates", n)
	}
	if cas := pemCerts(t, r.Material.CAPEM); len(cas) != 1 || !cas[0].Equal(ch.Root.Cert) {
		t.Errorf("anchors %v", cas)
	}

	// With the root pasted, the system store is never loaded.
	in.CABundle = string(ch.Bundle())
	loads = 0
	if r := Check(in); !r.OK() || loads != 0 {
		t.Errorf("root pasted: ok %v, loads %d", r.OK(), loads)
	}

	// Without the system root it is the chain_no_root warning, and the
	// intermediate becomes the anchor.
	in.CABundle = string(ch.Intermediate.PEM())
	in.LoadRoots = nil
	r = NewChecker(x509.NewCertPool()).Check(in)
	if got := codesOf(r.Diagnostics); !slices.Equal(got, []string{CodeChainNoRoot}) || !r.OK() {
		t.Errorf("codes %v", got)
	}
	if cas := pemCerts(t, r.Material.CAPEM); len(cas) != 1 || !cas[0].Equal(ch.Intermediate.Cert) {
		t.Errorf("anchor should be the intermediate")
	}
	// The checker's pool is used when the input brings none.
	r = NewChecker(pool).Check(in)
	if len(r.Diagnostics) != 0 {
		t.Errorf("checker pool ignored: %v", codesOf(r.Diagnostics))
	}
}

// TestCrossSignedSameNameIsNotTheIssuer: a CA certificate with the right
// name but another key does not complete the chain, and the message says
// so instead of only "missing".
func TestCrossSignedSameNameIsNotTheIssuer(t *testing.T) {
	ch := testpki.MustChain(testNow, testpki.ECDSAP256, "mail.example.test")
	impostor, err := ch.Root.Issue(testpki.Template{CommonName: "smtptls Test Intermediate CA", IsCA: true, Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	r := Check(Input{Certificate: string(ch.Leaf.PEM()), Key: string(ch.Leaf.KeyPEM()), CABundle: string(impostor.PEM()) + string(ch.Root.PEM()), Now: testNow})
	if got := codesOf(r.Diagnostics); !slices.Equal(got, []string{CodeChainMissingIntermediate}) {
		t.Fatalf("codes %v", got)
	}
	if m := r.Diagnostics[0].Message; !containsAll(m, "smtptls Test Intermediate CA", "did not sign", "line 1") {
		t.Errorf("message %q", m)
	}
	// And with both versions pasted, the right one is chosen.
	r = Check(Input{Certificate: string(ch.Leaf.PEM()), Key: string(ch.Leaf.KeyPEM()), CABundle: string(impostor.PEM()) + string(ch.Bundle()), Now: testNow})
	if got := codesOf(r.Diagnostics); !slices.Equal(got, []string{CodeBundleUnrelated}) {
		t.Errorf("codes %v", got)
	}
}

func containsAll(s string, subs ...string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}
