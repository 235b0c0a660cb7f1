package validate

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
)

func pemCerts(t *testing.T, b []byte) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return out
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
}

// checkMaterial proves the material is what a server needs: the key
// pairs with the leaf, the chain has no root, and leaf + chain verify up
// to the anchors at the check's time.
func checkMaterial(t *testing.T, in Input, r Report) {
	t.Helper()
	m := r.Material
	if _, err := tls.X509KeyPair(append(append([]byte{}, m.LeafPEM...), m.ChainPEM...), m.KeyPEM); err != nil {
		t.Fatalf("material does not form a key pair: %v", err)
	}
	if !strings.HasPrefix(string(m.KeyPEM), "-----BEGIN PRIVATE KEY-----") {
		t.Errorf("key is not PKCS#8 PEM")
	}
	if n := len(pemCerts(t, m.LeafPEM)); n != 1 {
		t.Errorf("leaf PEM holds %d certificates, want 1", n)
	}
	inter := x509.NewCertPool()
	for _, c := range pemCerts(t, m.ChainPEM) {
		if string(c.RawIssuer) == string(c.RawSubject) {
			t.Errorf("served chain contains the root %q", c.Subject.CommonName)
		}
		inter.AddCert(c)
	}
	if len(m.CAPEM) == 0 {
		return // self-signed leaf: nothing to verify against
	}
	roots := x509.NewCertPool()
	for _, c := range pemCerts(t, m.CAPEM) {
		roots.AddCert(c)
	}
	leaf := pemCerts(t, m.LeafPEM)[0]
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: in.Now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Errorf("leaf + chain do not verify against the anchors: %v", err)
	}
	// Chain order: each certificate is issued by the next one.
	all := append([]*x509.Certificate{leaf}, pemCerts(t, m.ChainPEM)...)
	for i := 0; i+1 < len(all); i++ {
		if all[i].CheckSignatureFrom(all[i+1]) != nil {
			t.Errorf("chain out of order at %d: %q not signed by %q", i, all[i].Subject.CommonName, all[i+1].Subject.CommonName)
		}
	}
}
