package validate

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
)

// What each field expects, for messages and hints.
var expectIn = map[Field]string{
	FieldCertificate: "CERTIFICATE",
	FieldKey:         "PRIVATE KEY",
	FieldCABundle:    "CERTIFICATE",
}

var fieldTitle = map[Field]string{
	FieldCertificate: "certificate field",
	FieldKey:         "key field",
	FieldCABundle:    "CA bundle",
}

// fieldPrecheck handles what every field shares: size, emptiness, no PEM,
// broken blocks and repaired line breaks. It returns the usable blocks.
func fieldPrecheck(f Field, text string, emptyCode Code) (blocks []block, ds []Diagnostic, stop bool) {
	if len(text) > MaxFieldBytes {
		return nil, []Diagnostic{diag(f, CodeFieldTooLarge, 0,
			fmt.Sprintf("The %s holds %d KiB; the limit is 1024 KiB, so it was not read.", fieldTitle[f], len(text)/1024))}, true
	}
	sc := scanPEM(text)
	if !sc.Text {
		if emptyCode != "" {
			return nil, []Diagnostic{diag(f, emptyCode, 0, fmt.Sprintf("The %s is empty.", fieldTitle[f]))}, true
		}
		return nil, nil, true
	}
	if len(sc.Blocks) == 0 {
		if d, ok := explainNotPEM(f, text); ok {
			return nil, []Diagnostic{d}, true
		}
		return nil, []Diagnostic{diag(f, CodePEMNone, 1, fmt.Sprintf("The %s has text but no PEM block (no -----BEGIN ...----- line).", fieldTitle[f]), "{expect}", expectIn[f])}, true
	}
	for _, b := range sc.Blocks {
		switch b.Broken {
		case CodePEMNoEnd:
			ds = append(ds, diag(f, CodePEMNoEnd, b.Line, fmt.Sprintf("The %s block starting on line %d has no END line: it was cut off.", b.Label, b.Line), "{label}", b.Label))
			continue
		case CodePEMBadBase64:
			ds = append(ds, diag(f, CodePEMBadBase64, b.BadLine, fmt.Sprintf("The %s block starting on line %d has damaged base64 near line %d.", b.Label, b.Line, b.BadLine)))
			continue
		}
		if b.Repaired {
			ds = append(ds, diag(f, CodePEMLineBreaks, b.Line, fmt.Sprintf("The %s block on line %d had lost its line breaks (as web forms and chat do); it was read anyway.", b.Label, b.Line)))
		}
		blocks = append(blocks, b)
	}
	return blocks, ds, false
}

// wrongBlock explains a block that does not belong in field f, or returns
// false when the label is not one we know to be wrong.
func wrongBlock(f Field, b block) (Diagnostic, bool) {
	l := b.Label
	at := fmt.Sprintf("on line %d", b.Line)
	switch {
	case strings.Contains(l, "PRIVATE KEY"):
		return diag(f, CodeWrongBlockPrivateKey, b.Line, fmt.Sprintf("The %s holds a private key (%s block %s); it belongs in the key field.", fieldTitle[f], l, at)), true
	case l == "CERTIFICATE REQUEST" || l == "NEW CERTIFICATE REQUEST":
		return diag(f, CodeWrongBlockCSR, b.Line, fmt.Sprintf("The %s holds a certificate request (CSR) %s, not an issued certificate.", fieldTitle[f], at)), true
	case l == "PKCS7" || l == "CMS":
		return diag(f, CodeWrongBlockPKCS7, b.Line, fmt.Sprintf("The %s holds a PKCS#7 bundle (%s block %s); certificates are expected as separate CERTIFICATE blocks.", fieldTitle[f], l, at)), true
	case strings.Contains(l, "PUBLIC KEY"):
		return diag(f, CodeWrongBlockPublicKey, b.Line, fmt.Sprintf("The %s holds a public key (%s block %s).", fieldTitle[f], l, at)), true
	case f == FieldKey && (l == "CERTIFICATE" || l == "TRUSTED CERTIFICATE" || l == "X509 CERTIFICATE"):
		return diag(f, CodeWrongBlockCert, b.Line, fmt.Sprintf("The key field holds a certificate %s; it belongs in the certificate or CA bundle field.", at)), true
	}
	return diag(f, CodeWrongBlockUnknown, b.Line, fmt.Sprintf("The %s holds a %q block %s, which does not belong here.", fieldTitle[f], l, at), "{expect}", expectIn[f]), true
}

func isCertLabel(l string) bool {
	return l == "CERTIFICATE" || l == "TRUSTED CERTIFICATE" || l == "X509 CERTIFICATE"
}

// parseCertBlocks parses the certificate blocks of a certificate or bundle
// field, explaining everything else.
func parseCertBlocks(f Field, blocks []block) ([]*certInfo, []Diagnostic) {
	var certs []*certInfo
	var ds []Diagnostic
	for _, b := range blocks {
		if !isCertLabel(b.Label) {
			d, _ := wrongBlock(f, b)
			ds = append(ds, d)
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil && b.Label == "TRUSTED CERTIFICATE" {
			// OpenSSL's trusted form appends trust settings after the DER.
			c, err = parseFirstDER(b.Bytes)
		}
		if err != nil {
			msg := fmt.Sprintf("The %s block on line %d is damaged: it is not a valid certificate (%s), so a character of it was changed or lost somewhere in lines %d to %d.", b.Label, b.Line, derReason(err), b.Line, max(b.EndLine, b.Line))
			at := b.damagedDERLine()
			if at != b.Line {
				msg = fmt.Sprintf("The %s block on line %d is damaged at line %d: it is not a valid certificate (%s).", b.Label, b.Line, at, derReason(err))
			}
			ds = append(ds, diag(f, CodeDERInvalid, at, msg, "{label}", "certificate"))
			continue
		}
		ci := newCertInfo(c, f, b.Line)
		ci.EndLine = b.EndLine
		certs = append(certs, ci)
	}
	return certs, ds
}

// parseFirstDER parses the certificate at the start of der, ignoring what
// follows it (OpenSSL's trust settings).
func parseFirstDER(der []byte) (*x509.Certificate, error) {
	if len(der) < 4 || der[0] != 0x30 {
		return nil, errors.New("not a DER sequence")
	}
	n := 0
	switch l := int(der[1]); {
	case l < 0x80:
		n = 2 + l
	case l == 0x81:
		n = 3 + int(der[2])
	case l == 0x82:
		n = 4 + (int(der[2])<<8 | int(der[3]))
	case l == 0x83 && len(der) > 4:
		n = 5 + (int(der[2])<<16 | int(der[3])<<8 | int(der[4]))
	default:
		return nil, errors.New("bad DER length")
	}
	if n > len(der) {
		return nil, errors.New("truncated")
	}
	return x509.ParseCertificate(der[:n])
}

// derReason keeps the parser's reason but never any bytes of the input.
func derReason(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "x509: ")
	if len(s) > 120 {
		s = s[:120] + "..."
	}
	return s
}

// certParse is the cached, clock-independent reading of the certificate field.
type certParse struct {
	diags []Diagnostic // field-level findings (PEM, wrong blocks)
	certs []*certInfo  // every certificate, in order
	stop  bool         // empty or unusable
}

func parseCertField(text string) *certParse {
	blocks, ds, stop := fieldPrecheck(FieldCertificate, text, CodeCertEmpty)
	p := &certParse{diags: ds, stop: stop}
	if stop {
		return p
	}
	certs, ds2 := parseCertBlocks(FieldCertificate, blocks)
	p.diags = append(p.diags, ds2...)
	p.certs = certs
	if len(certs) == 0 && len(ds2) == 0 && len(ds) == 0 {
		p.diags = append(p.diags, diag(FieldCertificate, CodeCertEmpty, 0, "The certificate field has no certificate."))
	}
	return p
}

// pickLeaf chooses the server certificate among those pasted in the
// certificate field: the one the key belongs to, else the first that is
// not a CA, else the first.
func pickLeaf(certs []*certInfo, pub crypto.PublicKey) *certInfo {
	if len(certs) == 0 {
		return nil
	}
	if pub != nil {
		for _, c := range certs {
			if publicKeysEqual(c.Cert.PublicKey, pub) {
				return c
			}
		}
	}
	for _, c := range certs {
		if !c.isCA() {
			return c
		}
	}
	return certs[0]
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	type eq interface{ Equal(crypto.PublicKey) bool }
	if x, ok := a.(eq); ok {
		return x.Equal(b)
	}
	return false
}

// bundleParse is the cached, clock-independent reading of the CA bundle.
type bundleParse struct {
	diags []Diagnostic
	certs []*certInfo // unique, in pasted order
	dups  []*certInfo // later copies of certificates already in certs
}

func parseBundleField(text string) *bundleParse {
	blocks, ds, stop := fieldPrecheck(FieldCABundle, text, "")
	p := &bundleParse{diags: ds}
	if stop {
		return p
	}
	certs, ds2 := parseCertBlocks(FieldCABundle, blocks)
	p.diags = append(p.diags, ds2...)
	seen := map[string]*certInfo{}
	for _, c := range certs {
		if first, ok := seen[c.SHA256]; ok {
			p.dups = append(p.dups, c)
			p.diags = append(p.diags, diag(FieldCABundle, CodeBundleDuplicate, c.Line, fmt.Sprintf("%q on line %d is a copy of the one on line %d.", c.Name, c.Line, first.Line)))
			continue
		}
		seen[c.SHA256] = c
		p.certs = append(p.certs, c)
	}
	return p
}
