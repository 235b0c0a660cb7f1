package validate

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
)

// A certificate or key with one character changed in its base64 often
// still decodes, and may even parse: then every later finding (the key
// "does not belong", the CA is "another version") sends the admin to the
// wrong file. These checks find the damage itself, so it is reported
// first and the findings that depend on the damaged block are left out.

// damagedCerts returns the certificates on leaf's way up whose signature
// does not verify under an issuer that is itself intact: same issuer
// name, same key identifier when both carry one. Such a certificate was
// changed after it was signed, which in a paste means damaged. Only the
// way up is walked (a few signature checks), so a pasted 150-certificate
// bundle costs no more than a short one; certificates off that way are
// reported as unrelated anyway.
func damagedCerts(leaf *certInfo, all []*certInfo) map[*certInfo]bool {
	bad := map[*certInfo]bool{}
	seen := map[*certInfo]bool{}
	for c := leaf; c != nil && !seen[c]; {
		seen[c] = true
		p := issuerOf(c, all)
		switch {
		case p == nil:
			return bad
		case p == c:
			// A root: named as its own issuer, with its own key id, yet
			// its signature does not hold.
			if !signedBy(c, c) {
				bad[c] = true
			}
			return bad
		}
		if intact(p, all) && !signedBy(c, p) {
			bad[c] = true
		}
		c = p
	}
	return bad
}

// issuerOf finds the pasted certificate that should have signed c: the
// one with c's issuer as subject (c itself for a root) and, when both
// name key identifiers, the right one. An issuer with another key
// identifier is another CA certificate, not a damaged one.
func issuerOf(c *certInfo, all []*certInfo) *certInfo {
	for _, p := range all {
		if !bytes.Equal(p.Cert.RawSubject, c.Cert.RawIssuer) {
			continue
		}
		if len(c.Cert.AuthorityKeyId) > 0 && len(p.Cert.SubjectKeyId) > 0 && !bytes.Equal(c.Cert.AuthorityKeyId, p.Cert.SubjectKeyId) {
			continue
		}
		if p != c && p.SHA256 == c.SHA256 {
			continue
		}
		return p
	}
	// A changed character in the issuer name: the key identifier still
	// names the issuer.
	for _, p := range all {
		if p != c && len(c.Cert.AuthorityKeyId) > 0 && bytes.Equal(c.Cert.AuthorityKeyId, p.Cert.SubjectKeyId) {
			return p
		}
	}
	return nil
}

// intact reports whether p's own signature holds: a root signed by
// itself, or a CA certificate signed by a pasted issuer.
func intact(p *certInfo, all []*certInfo) bool {
	if p.selfSigned() || signedBy(p, p) {
		return true
	}
	q := issuerOf(p, all)
	if q == nil || q == p {
		return false
	}
	return signedBy(p, q)
}

// signedBy reports whether p's key signed c, whatever the algorithm's
// strength (a SHA-1 signature is reported on its own, not as damage). The
// answer is kept on c: parsed certificates are cached between checks.
func signedBy(c, p *certInfo) bool {
	c.sigMu.Lock()
	defer c.sigMu.Unlock()
	if ok, known := c.sigBy[p.SHA256]; known {
		return ok
	}
	err := p.Cert.CheckSignature(c.Cert.SignatureAlgorithm, c.Cert.RawTBSCertificate, c.Cert.Signature)
	var insecure x509.InsecureAlgorithmError
	ok := err == nil || errors.As(err, &insecure)
	if c.sigBy == nil {
		c.sigBy = map[string]bool{}
	}
	c.sigBy[p.SHA256] = ok
	return ok
}

func damagedCertDiag(c *certInfo) Diagnostic {
	what := "The certificate"
	if c.Field == FieldCABundle {
		what = "The CA certificate"
	}
	label := "certificate"
	if c.Field == FieldCABundle {
		label = "CA certificate"
	}
	return diag(c.Field, CodeDERInvalid, c.Line, fmt.Sprintf("%s %q (%s) is damaged: its signature does not match its contents, so a character of it was changed or lost somewhere in lines %d to %d.", what, c.Name, c.where(), c.Line, max(c.EndLine, c.Line)), "{label}", label)
}

// derDamageOffset walks the DER structure and returns the offset of the
// first element whose header does not fit (bad length, element running
// past its parent), or -1 when the structure is whole and the damage is
// inside a value.
func derDamageOffset(der []byte) int {
	var walk func(from, to int) int
	walk = func(from, to int) int {
		for i := from; i < to; {
			if i+2 > to {
				return i
			}
			tag, l := der[i], int(der[i+1])
			hdr := 2
			if l >= 0x80 {
				n := l & 0x7f
				if n == 0 || n > 3 || i+2+n > to {
					return i
				}
				l = 0
				for _, c := range der[i+2 : i+2+n] {
					l = l<<8 | int(c)
				}
				hdr += n
			}
			if i+hdr+l > to {
				return i
			}
			inner := i + hdr
			if tag == 0x03 { // BIT STRING: its first byte counts unused bits
				inner++
			}
			// OCTET and BIT STRINGs often wrap DER (a key inside PKCS#8,
			// an extension's value); this runs only once parsing failed.
			nested := (tag == 0x04 || tag == 0x03) && inner < i+hdr+l && der[inner] == 0x30
			if tag&0x20 != 0 || nested {
				if off := walk(inner, i+hdr+l); off >= 0 {
					return off
				}
			}
			i += hdr + l
		}
		return -1
	}
	return walk(0, len(der))
}

// ecKeyDamaged reports whether an EC private key disagrees with the public
// key stored beside it (OpenSSL always writes both): a changed character
// in the private part yields another valid key, which would otherwise be
// reported as "does not belong to the certificate".
func ecKeyDamaged(der []byte, k *ecdsa.PrivateKey) bool {
	var p8 struct {
		Version    int
		Algo       pkix.AlgorithmIdentifier
		PrivateKey []byte
	}
	inner := der
	if rest, err := asn1.Unmarshal(der, &p8); err == nil && len(rest) == 0 && len(p8.PrivateKey) > 0 {
		inner = p8.PrivateKey
	}
	var ec struct {
		Version       int
		PrivateKey    []byte
		NamedCurveOID asn1.ObjectIdentifier `asn1:"optional,explicit,tag:0"`
		PublicKey     asn1.BitString        `asn1:"optional,explicit,tag:1"`
	}
	if _, err := asn1.Unmarshal(inner, &ec); err != nil || len(ec.PublicKey.Bytes) == 0 {
		return false
	}
	pub, err := k.PublicKey.ECDH()
	if err != nil {
		return false
	}
	return !bytes.Equal(pub.Bytes(), ec.PublicKey.Bytes)
}

// dependsOnBundle reports whether a chain finding would only repeat that a
// bundle certificate is damaged: with a damaged CA certificate pasted, a
// "missing" intermediate or root is most likely that one.
func dependsOnBundle(d Diagnostic) bool {
	switch d.Code {
	case CodeChainMissingIntermediate, CodeChainNoRoot, CodeChainIssuerNotCA, CodeChainExpiredIntermediate:
		return true
	}
	return false
}

// damagedDERLine is the line of the first broken DER element of a block,
// or its BEGIN line when the structure is whole.
func (b block) damagedDERLine() int {
	off := derDamageOffset(b.Bytes)
	if off < 0 || b.text == "" {
		return b.Line
	}
	body := b.text[b.bodyStart:b.bodyEnd]
	return newLineIndex(b.text).line(b.bodyStart + bodyOffset(body, off*4/3))
}
