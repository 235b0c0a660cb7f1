package validate

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"time"
)

// certInfo is one parsed certificate and where it was pasted.
type certInfo struct {
	Cert   *x509.Certificate
	Field  Field
	Line   int
	SHA256 string // of the DER, lowercase hex
	Name   string // what people call it: CN, else first SAN, else the DN
	// EndLine is the line of its END marker (0 when not pasted).
	EndLine int

	selfOnce sync.Once
	self     bool
	// sigBy caches signedBy: issuer SHA-256 → whether its key signed this.
	sigMu sync.Mutex
	sigBy map[string]bool
}

func newCertInfo(c *x509.Certificate, f Field, line int) *certInfo {
	sum := sha256.Sum256(c.Raw)
	return &certInfo{Cert: c, Field: f, Line: line, SHA256: hex.EncodeToString(sum[:]), Name: certName(c)}
}

func certName(c *x509.Certificate) string {
	if c.Subject.CommonName != "" {
		return c.Subject.CommonName
	}
	if len(c.DNSNames) > 0 {
		return c.DNSNames[0]
	}
	if s := c.Subject.String(); s != "" {
		return s
	}
	return "(no subject)"
}

func issuerName(c *x509.Certificate) string {
	if c.Issuer.CommonName != "" {
		return c.Issuer.CommonName
	}
	if s := c.Issuer.String(); s != "" {
		return s
	}
	return "(no issuer name)"
}

// where says where a certificate was pasted, for messages.
func (ci *certInfo) where() string {
	switch ci.Field {
	case FieldCertificate:
		return fmt.Sprintf("certificate field, line %d", ci.Line)
	case FieldCABundle:
		return fmt.Sprintf("CA bundle, line %d", ci.Line)
	}
	return "system trust store"
}

func (ci *certInfo) isCA() bool {
	return ci.Cert.BasicConstraintsValid && ci.Cert.IsCA
}

// selfSigned reports whether the certificate is its own issuer; checking
// the signature keeps a leaf that merely repeats its CA's name out.
// It is computed once: parsed certificates are cached and shared.
func (ci *certInfo) selfSigned() bool {
	ci.selfOnce.Do(func() {
		c := ci.Cert
		ci.self = string(c.RawIssuer) == string(c.RawSubject) &&
			c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
	})
	return ci.self
}

// namedSelf is the cheap test for display: issuer and subject names equal.
func (ci *certInfo) namedSelf() bool {
	return string(ci.Cert.RawIssuer) == string(ci.Cert.RawSubject)
}

// keyDesc describes a public key: "ECDSA P-256", "RSA 2048-bit".
func keyDesc(pub any) (typ string, bits int) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return "RSA", k.N.BitLen()
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name, k.Curve.Params().BitSize
	case ed25519.PublicKey:
		return "Ed25519", 256
	}
	return fmt.Sprintf("%T", pub), 0
}

func keyDescString(pub any) string {
	t, bits := keyDesc(pub)
	if t == "RSA" {
		return fmt.Sprintf("RSA %d-bit", bits)
	}
	return t
}

// leafChecks are the time-independent checks of the server certificate.
func leafChecks(ci *certInfo) []Diagnostic {
	c := ci.Cert
	var ds []Diagnostic
	f, l, n := FieldCertificate, ci.Line, ci.Name
	if ci.isCA() {
		ds = append(ds, diag(f, CodeCertIsCA, l, fmt.Sprintf("%q is a CA certificate (it issues other certificates), not a server certificate.", n)))
	}
	if len(c.ExtKeyUsage) > 0 || len(c.UnknownExtKeyUsage) > 0 {
		ok := false
		for _, u := range c.ExtKeyUsage {
			if u == x509.ExtKeyUsageServerAuth || u == x509.ExtKeyUsageAny {
				ok = true
			}
		}
		if !ok && !ci.isCA() {
			ds = append(ds, diag(f, CodeCertNoServerAuth, l, fmt.Sprintf("%q is not allowed for TLS servers: its extended key usage lacks serverAuth.", n)))
		}
	}
	switch k := c.PublicKey.(type) {
	case *rsa.PublicKey:
		if bits := k.N.BitLen(); bits < 2048 {
			ds = append(ds, diag(f, CodeCertWeakRSA, l, fmt.Sprintf("%q has a %d-bit RSA key; peers require at least 2048 bits.", n, bits)))
		}
	case *ecdsa.PublicKey:
		switch k.Curve.Params().Name {
		case "P-256", "P-384", "P-521":
		default:
			ds = append(ds, diag(f, CodeCertUnsupportedKey, l, fmt.Sprintf("%q has an ECDSA key on curve %s, which TLS peers do not support.", n, k.Curve.Params().Name)))
		}
	case ed25519.PublicKey:
	default:
		ds = append(ds, diag(f, CodeCertUnsupportedKey, l, fmt.Sprintf("%q has a %s key, which this listener cannot serve.", n, c.PublicKeyAlgorithm)))
	}
	switch c.SignatureAlgorithm {
	case x509.SHA1WithRSA, x509.ECDSAWithSHA1, x509.DSAWithSHA1, x509.MD5WithRSA, x509.MD2WithRSA:
		ds = append(ds, diag(f, CodeCertSHA1, l, fmt.Sprintf("%q is signed with %s, which peers no longer accept.", n, c.SignatureAlgorithm)))
	}
	if ci.selfSigned() && !ci.isCA() {
		ds = append(ds, diag(f, CodeCertSelfSigned, l, fmt.Sprintf("%q is self-signed: no CA vouches for it.", n)))
	}
	return ds
}

// daysLeft counts whole days until notAfter, negative once expired.
func daysLeft(notAfter, now time.Time) int {
	d := notAfter.Sub(now)
	days := int(d / (24 * time.Hour))
	if d < 0 && d%(24*time.Hour) != 0 {
		days--
	}
	return days
}

const expiringSoonDays = 30

func date(t time.Time) string { return t.UTC().Format("2006-01-02") }

// leafTimeChecks are the clock-dependent checks of the server certificate.
func leafTimeChecks(ci *certInfo, now time.Time) []Diagnostic {
	c, f, l, n := ci.Cert, FieldCertificate, ci.Line, ci.Name
	switch {
	case now.After(c.NotAfter):
		return []Diagnostic{diag(f, CodeCertExpired, l, fmt.Sprintf("%q expired on %s (%d days ago).", n, date(c.NotAfter), -daysLeft(c.NotAfter, now)))}
	case now.Before(c.NotBefore):
		return []Diagnostic{diag(f, CodeCertNotYetValid, l, fmt.Sprintf("%q is not valid until %s %s UTC; this machine's clock says %s.", n, date(c.NotBefore), c.NotBefore.UTC().Format("15:04"), now.UTC().Format("2006-01-02 15:04")))}
	case daysLeft(c.NotAfter, now) < expiringSoonDays:
		return []Diagnostic{diag(f, CodeCertExpiringSoon, l, fmt.Sprintf("%q expires on %s, in %d days.", n, date(c.NotAfter), daysLeft(c.NotAfter, now)))}
	}
	return nil
}

// hostnameCheck warns when the gateway's name is not among the SANs.
func hostnameCheck(ci *certInfo, hostname string) (bool, []Diagnostic) {
	h := strings.TrimSuffix(strings.TrimSpace(hostname), ".")
	if h == "" {
		return false, nil
	}
	if ci.Cert.VerifyHostname(h) == nil {
		return true, nil
	}
	names := ci.Cert.DNSNames
	var msg string
	if len(names) == 0 {
		msg = fmt.Sprintf("%q lists no DNS names (subject alternative names), so it does not cover %s.", ci.Name, h)
	} else {
		msg = fmt.Sprintf("%q does not cover %s; it is valid for %s.", ci.Name, h, strings.Join(limitList(names, 5), ", "))
	}
	return false, []Diagnostic{diag(FieldCertificate, CodeCertHostname, ci.Line, msg, "{hostname}", h)}
}

func limitList(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	out := append([]string(nil), s[:n]...)
	return append(out, fmt.Sprintf("and %d more", len(s)-n))
}

// recognisedCert is the green line under the certificate field.
func recognisedCert(ci *certInfo, now time.Time) string {
	c := ci.Cert
	d := daysLeft(c.NotAfter, now)
	state := fmt.Sprintf("expires %s (%d days)", date(c.NotAfter), d)
	if d < 0 {
		state = fmt.Sprintf("expired %s", date(c.NotAfter))
	}
	return fmt.Sprintf("%s, issued by %s, %s", ci.Name, issuerName(c), state)
}

// recognisedCA is one line per certificate of the bundle.
func recognisedCA(ci *certInfo, now time.Time) string {
	role := "intermediate"
	switch {
	case !ci.isCA():
		role = "server certificate"
	case ci.namedSelf():
		role = "root"
	}
	s := fmt.Sprintf("%s (%s, line %d), issued by %s, expires %s", ci.Name, role, ci.Line, issuerName(ci.Cert), date(ci.Cert.NotAfter))
	if now.After(ci.Cert.NotAfter) {
		s = fmt.Sprintf("%s (%s, line %d), issued by %s, EXPIRED %s", ci.Name, role, ci.Line, issuerName(ci.Cert), date(ci.Cert.NotAfter))
	}
	return s
}
