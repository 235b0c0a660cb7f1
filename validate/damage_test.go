package validate

import (
	"bytes"
	"crypto/ecdsa"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/smtptls/smtptls/internal/testpki"
)

// damage changes the DER byte at off, as one changed base64 character in
// a paste does, and returns the PEM and the line of the change.
func damage(t *testing.T, label string, der []byte, off int) (string, int) {
	return damageWith(t, label, der, off, 0x10)
}

func damageWith(t *testing.T, label string, der []byte, off int, mask byte) (string, int) {
	t.Helper()
	if off < 0 || off >= len(der) {
		t.Fatalf("offset %d outside %d bytes", off, len(der))
	}
	d := bytes.Clone(der)
	d[off] ^= mask
	// Line 1 is BEGIN; each body line holds 48 bytes (64 base64 chars).
	return string(pem.EncodeToMemory(&pem.Block{Type: label, Bytes: d})), 2 + off/48
}

func findingsOf(r Report) map[Code][]Diagnostic {
	m := map[Code][]Diagnostic{}
	for _, d := range r.Diagnostics {
		if d.Severity != SevInfo {
			m[d.Code] = append(m[d.Code], d)
		}
	}
	return m
}

// wantOnlyDamage checks that the report names the damaged block first and
// nothing that depends on it.
func wantOnlyDamage(t *testing.T, r Report, field Field, line int) {
	t.Helper()
	got := findingsOf(r)
	dm := got[CodeDERInvalid]
	if len(dm) != 1 || dm[0].Field != field || !strings.Contains(dm[0].Message, "damaged") {
		t.Fatalf("want one %s finding on the %s saying it is damaged; got %+v", CodeDERInvalid, field, r.Diagnostics)
	}
	if line > 0 && dm[0].Line != line {
		t.Fatalf("damage reported on line %d, want line %d: %s", dm[0].Line, line, dm[0].Message)
	}
	for c, ds := range got {
		if c != CodeDERInvalid {
			t.Fatalf("a finding that depends on the damaged %s is reported too (%s): %s", field, c, ds[0].Message)
		}
	}
}

func TestDamagedFieldIsDiagnosedFirst(t *testing.T) {
	ch := testpki.MustChain(testNow, testpki.ECDSAP256, "mail.example.test")
	leaf := ch.Leaf.Cert
	in := func(cert, key, bundle string) Input {
		return Input{Certificate: cert, Key: key, CABundle: bundle, Hostname: "mail.example.test", Now: testNow}
	}
	cert, key, bundle := string(ch.Leaf.PEM()), string(ch.Leaf.KeyPEM()), string(ch.Bundle())
	c := NewChecker(nil)
	if r := c.Check(in(cert, key, bundle)); len(findingsOf(r)) != 0 {
		t.Fatalf("the intact chain has findings: %+v", r.Diagnostics)
	}
	spki := bytes.Index(leaf.Raw, leaf.RawSubjectPublicKeyInfo)
	serial := bytes.Index(leaf.Raw, leaf.SerialNumber.Bytes())

	t.Run("certificate key bytes changed", func(t *testing.T) {
		// Before: "the private key does not belong to the certificate".
		bad, _ := damage(t, "CERTIFICATE", leaf.Raw, spki+len(leaf.RawSubjectPublicKeyInfo)-3)
		wantOnlyDamage(t, c.Check(in(bad, key, bundle)), FieldCertificate, 0)
	})
	t.Run("certificate serial changed", func(t *testing.T) {
		// Before: "another version of that CA certificate" on the bundle.
		bad, _ := damage(t, "CERTIFICATE", leaf.Raw, serial+2)
		wantOnlyDamage(t, c.Check(in(bad, key, bundle)), FieldCertificate, 0)
	})
	t.Run("certificate structure broken", func(t *testing.T) {
		// A length byte inside the subject public key: the line is named.
		bad, _ := damage(t, "CERTIFICATE", leaf.Raw, spki+1)
		line := 2 + spki/48 // where the broken element starts
		if line == 2 {
			t.Fatal("the damage must not be on the first body line for this test")
		}
		wantOnlyDamage(t, c.Check(in(bad, key, bundle)), FieldCertificate, line)
	})
	t.Run("key private part changed", func(t *testing.T) {
		blk, _ := pem.Decode([]byte(key))
		d := ch.Leaf.Key.(*ecdsa.PrivateKey).D.Bytes()
		at := bytes.Index(blk.Bytes, d)
		bad, _ := damage(t, "PRIVATE KEY", blk.Bytes, at+len(d)-1)
		wantOnlyDamage(t, c.Check(in(cert, bad, bundle)), FieldKey, 0)
	})
	t.Run("key structure broken", func(t *testing.T) {
		blk, _ := pem.Decode([]byte(key))
		d := ch.Leaf.Key.(*ecdsa.PrivateKey).D.Bytes()
		at := bytes.Index(blk.Bytes, d) - 1                         // the private part's length
		bad, _ := damageWith(t, "PRIVATE KEY", blk.Bytes, at, 0xa0) // 0x20 becomes 0x80, no length at all
		wantOnlyDamage(t, c.Check(in(cert, bad, bundle)), FieldKey, 2+(at-1)/48)
	})
	t.Run("intermediate changed in the bundle", func(t *testing.T) {
		// Before: "the intermediate is missing" from the bundle it is in.
		im := ch.Intermediate.Cert
		bad, _ := damage(t, "CERTIFICATE", im.Raw, bytes.Index(im.Raw, im.SerialNumber.Bytes())+2)
		r := c.Check(in(cert, key, bad+string(ch.Root.PEM())))
		wantOnlyDamage(t, r, FieldCABundle, 0)
		if !strings.Contains(r.Diagnostics[0].Message, "lines 1 to ") {
			t.Fatalf("the damaged block's lines are not named: %s", r.Diagnostics[0].Message)
		}
	})
	t.Run("root changed in the bundle", func(t *testing.T) {
		rt := ch.Root.Cert
		bad, _ := damage(t, "CERTIFICATE", rt.Raw, bytes.Index(rt.Raw, rt.SerialNumber.Bytes())+2)
		wantOnlyDamage(t, c.Check(in(cert, key, string(ch.Intermediate.PEM())+bad)), FieldCABundle, 0)
	})
}
