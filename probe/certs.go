package probe

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"iter"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/smtptls/smtptls/internal/certpem"
)

// Fingerprint is the SHA-256 of a certificate's DER, lowercase hex without
// colons: the form smtpd and apply use too.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// NormalizeFingerprint accepts a fingerprint as openssl prints it
// (AB:CD:...) or as we print it, and returns our form.
func NormalizeFingerprint(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.TrimPrefix(s, "sha256:")
	s = strings.TrimPrefix(s, "sha256 fingerprint=")
	return strings.NewReplacer(":", "", " ", "", "-", "").Replace(s)
}

// trustSet is what trust is judged against.
type trustSet struct {
	// custom is Options.Roots plus the roots from --ca; nil when neither.
	custom *x509.CertPool
	// withSystem is the system roots plus the roots from --ca, loaded at
	// most once (about 70 ms on a Debian box, more than a local probe);
	// nil when Options.Roots replaces the system roots.
	withSystem func() *x509.CertPool
	// known intermediates from --ca: never used to trust, only to tell a
	// missing intermediate apart from an untrusted root.
	intermediates []*x509.Certificate
	err           error // --ca could not be read: the trust stage says so
}

// pools yields the root pools to try, cheapest first. A chain that
// verifies against a subset of the anchors verifies against all of them, so
// the system roots are loaded only when --ca alone does not do.
func (ts trustSet) pools() iter.Seq[*x509.CertPool] {
	return func(yield func(*x509.CertPool) bool) {
		if ts.custom != nil && !yield(ts.custom) {
			return
		}
		if ts.withSystem != nil {
			yield(ts.withSystem())
		}
	}
}

// LoadCAFile reads a PEM file of CA certificates and splits them into
// self-signed roots and the rest. It fails on a file with no certificate, so
// the CLI can refuse a wrong path before dialling anything.
func LoadCAFile(path string) (roots, intermediates []*x509.Certificate, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read CA file: %w", err)
	}
	certs, err := certpem.Parse(data)
	if err != nil {
		return nil, nil, fmt.Errorf("CA file %s: %w", path, err)
	}
	for _, c := range certs {
		if selfSigned(c) {
			roots = append(roots, c)
		} else {
			intermediates = append(intermediates, c)
		}
	}
	if len(roots)+len(intermediates) == 0 {
		return nil, nil, fmt.Errorf("CA file %s holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)", path)
	}
	return roots, intermediates, nil
}

func buildTrust(o Options) trustSet {
	var ts trustSet
	var caRoots []*x509.Certificate
	if o.CAFile != "" {
		// Intermediates in --ca (a pasted bundle) must not become anchors:
		// that would hide exactly the missing intermediate peers trip on.
		caRoots, ts.intermediates, ts.err = LoadCAFile(o.CAFile)
	}
	if o.Roots != nil {
		ts.custom = o.Roots.Clone()
	} else if len(caRoots) > 0 {
		ts.custom = x509.NewCertPool()
	}
	for _, r := range caRoots {
		ts.custom.AddCert(r)
	}
	if o.Roots == nil {
		ts.withSystem = sync.OnceValue(func() *x509.CertPool {
			pool, err := x509.SystemCertPool()
			if err != nil || pool == nil {
				pool = x509.NewCertPool()
			}
			for _, r := range caRoots {
				pool.AddCert(r)
			}
			return pool
		})
	}
	return ts
}

func selfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil
}

func certName(c *x509.Certificate) string {
	if c.Subject.CommonName != "" {
		return c.Subject.CommonName
	}
	if len(c.DNSNames) > 0 {
		return c.DNSNames[0]
	}
	return c.Subject.String()
}

func issuerName(c *x509.Certificate) string {
	if c.Issuer.CommonName != "" {
		return c.Issuer.CommonName
	}
	return c.Issuer.String()
}

func describeCerts(certs []*x509.Certificate) []Certificate {
	out := make([]Certificate, 0, len(certs))
	for _, c := range certs {
		out = append(out, Certificate{
			Subject:  c.Subject.String(),
			Issuer:   c.Issuer.String(),
			NotAfter: c.NotAfter,
			SHA256:   Fingerprint(c),
			IsCA:     c.IsCA,
		})
	}
	return out
}

// checkChain judges the chain as sent: leaf first, each certificate issued
// by the next, and no root (peers have their own; sending it only costs).
func checkChain(certs []*x509.Certificate) (Status, string) {
	if len(certs) == 0 {
		return Fail, "the server sent no certificate"
	}
	leaf := certs[0]
	if leaf.IsCA && len(certs) > 1 {
		for i, c := range certs[1:] {
			if !c.IsCA {
				return Fail, fmt.Sprintf("the first certificate is the CA %q and the server's own (%q) comes at position %d: put the leaf first, then the intermediates", certName(leaf), certName(c), i+2)
			}
		}
	}
	for i := 0; i+1 < len(certs); i++ {
		child, parent := certs[i], certs[i+1]
		if !bytes.Equal(child.RawIssuer, parent.RawSubject) || child.CheckSignatureFrom(parent) != nil {
			return Fail, fmt.Sprintf("certificate %d (%q) was not issued by certificate %d (%q): the chain is out of order or holds an unrelated certificate", i+1, certName(child), i+2, certName(parent))
		}
	}
	names := make([]string, len(certs))
	for i, c := range certs {
		names[i] = certName(c)
	}
	order := strings.Join(names, " ← ")
	last := certs[len(certs)-1]
	if len(certs) > 1 && selfSigned(last) {
		return Warn, fmt.Sprintf("%s: the root CA %q is sent too; peers ignore it, so leave it out of the served chain", order, certName(last))
	}
	if len(certs) == 1 {
		if selfSigned(leaf) {
			return Pass, fmt.Sprintf("1 certificate, self-signed: %s", order)
		}
		return Pass, fmt.Sprintf("1 certificate (no intermediate sent): %s", order)
	}
	return Pass, fmt.Sprintf("%d certificates in order: %s", len(certs), order)
}

// checkTrust verifies the served chain against the roots. Dates are judged
// by the expiry stage, so an expired chain is verified again inside its
// validity to report trust on its own.
func checkTrust(certs []*x509.Certificate, ts trustSet, now time.Time) (Status, string) {
	if len(certs) == 0 {
		return Skip, "no certificate to verify"
	}
	if ts.err != nil {
		return Fail, oneLine(ts.err.Error(), 200)
	}
	var (
		chains     [][]*x509.Certificate
		err        error
		datesAside string
	)
	for roots := range ts.pools() {
		chains, datesAside, err = verifyChain(certs, roots, now)
		if err == nil {
			break
		}
	}
	if err == nil && len(chains) > 0 {
		anchor := chains[0][len(chains[0])-1]
		return Pass, fmt.Sprintf("trusted: chains to %q%s", certName(anchor), datesAside)
	}
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	switch {
	case err == nil:
		return Fail, "not trusted: no root to verify against"
	case errors.As(err, &unknown):
		last := certs[len(certs)-1]
		if selfSigned(last) {
			return Fail, fmt.Sprintf("not trusted: the chain ends at %q, which is neither a system root nor in --ca (a private CA: pass its root with --ca)", certName(last))
		}
		for _, c := range ts.intermediates {
			if bytes.Equal(c.RawSubject, last.RawIssuer) {
				return Fail, fmt.Sprintf("missing intermediate: the server does not send %q, the issuer of %q; add it to the served chain after the leaf", certName(c), certName(last))
			}
		}
		return Fail, fmt.Sprintf("not trusted: %q, the issuer of %q, was not sent and is not a trusted root: the server probably lacks its intermediate certificate (or pass a private root with --ca)", issuerName(last), certName(last))
	case errors.As(err, &invalid) && invalid.Reason == x509.IncompatibleUsage:
		return Fail, "not valid for a server: the certificate's extended key usage lacks serverAuth"
	}
	return Fail, "not trusted: " + oneLine(err.Error(), 200)
}

// verifyChain verifies the leaf with the rest of certs as intermediates.
// When only dates stand in the way it verifies again at an instant when
// they are valid, and says so.
func verifyChain(certs []*x509.Certificate, roots *x509.CertPool, now time.Time) ([][]*x509.Certificate, string, error) {
	verify := func(c *x509.Certificate, inters []*x509.Certificate, at time.Time, usage x509.ExtKeyUsage) ([][]*x509.Certificate, error) {
		pool := x509.NewCertPool()
		for _, i := range inters {
			pool.AddCert(i)
		}
		return c.Verify(x509.VerifyOptions{Roots: roots, Intermediates: pool, CurrentTime: at,
			KeyUsages: []x509.ExtKeyUsage{usage}})
	}
	chains, err := verify(certs[0], certs[1:], now, x509.ExtKeyUsageServerAuth)
	var invalid x509.CertificateInvalidError
	if !errors.As(err, &invalid) || invalid.Reason != x509.Expired {
		return chains, "", err
	}
	const aside = " (dates aside: see expiry)"
	if at, ok := commonValidity(certs); ok {
		chains, err = verify(certs[0], certs[1:], at, x509.ExtKeyUsageServerAuth)
		return chains, aside, err
	}
	if len(certs) > 1 && certs[0].CheckSignatureFrom(certs[1]) == nil {
		// The leaf expired before its issuer was even issued (a renewed
		// intermediate): judge the issuer now and the leaf's signature.
		chains, err = verify(certs[1], certs[2:], now, x509.ExtKeyUsageAny)
		return chains, aside, err
	}
	return chains, "", err
}

// commonValidity is an instant at which every served certificate is valid,
// if there is one.
func commonValidity(certs []*x509.Certificate) (time.Time, bool) {
	from, until := certs[0].NotBefore, certs[0].NotAfter
	for _, c := range certs[1:] {
		if c.NotBefore.After(from) {
			from = c.NotBefore
		}
		if c.NotAfter.Before(until) {
			until = c.NotAfter
		}
	}
	if until.Before(from) {
		return time.Time{}, false
	}
	return from.Add(until.Sub(from) / 2), true
}

// checkHostname matches the leaf against the name peers will ask for.
// literal says the name came from an IP or localhost target rather than
// from --hostname or DNS, so a mismatch is a hint rather than a failure.
func checkHostname(leaf *x509.Certificate, name string, literal bool) (Status, string) {
	names := leaf.DNSNames
	for _, ip := range leaf.IPAddresses {
		names = append(names, ip.String())
	}
	list := strings.Join(names, ", ")
	if len(names) > 6 {
		list = strings.Join(names[:6], ", ") + fmt.Sprintf(" and %d more", len(names)-6)
	}
	if err := leaf.VerifyHostname(name); err == nil {
		return Pass, fmt.Sprintf("the certificate is valid for %s", name)
	}
	if len(names) == 0 {
		return Fail, fmt.Sprintf("the certificate names no host (no subject alternative names; CN %q alone does not count)", leaf.Subject.CommonName)
	}
	if literal {
		return Warn, fmt.Sprintf("not checked: the target is %s; the certificate is for %s: pass --hostname NAME to check", name, list)
	}
	return Fail, fmt.Sprintf("the certificate is for %s, not for %s", list, name)
}

// checkExpiry reports the soonest end of validity among the leaf and the
// intermediates sent (a root sent is ignored by peers, so its dates too).
func checkExpiry(certs []*x509.Certificate, now time.Time) (Status, string) {
	if len(certs) == 0 {
		return Skip, "no certificate"
	}
	for _, c := range certs {
		if now.Before(c.NotBefore) {
			return Fail, fmt.Sprintf("%q is not valid until %s: check this machine's and the server's clocks", certName(c), c.NotBefore.UTC().Format("2006-01-02 15:04 MST"))
		}
	}
	soonest := certs[0]
	for _, c := range certs[1:] {
		if selfSigned(c) {
			continue
		}
		if c.NotAfter.Before(soonest.NotAfter) {
			soonest = c
		}
	}
	what := "the certificate"
	if soonest != certs[0] {
		what = fmt.Sprintf("the intermediate %q", certName(soonest))
	}
	date := soonest.NotAfter.UTC().Format("2006-01-02")
	left := soonest.NotAfter.Sub(now)
	days := int(left.Hours() / 24)
	switch {
	case left <= 0:
		ago := int(-left.Hours() / 24)
		return Fail, fmt.Sprintf("%s expired on %s (%s ago): renew it and apply the new one", what, date, plural(ago, "day"))
	case days < 14:
		return Warn, fmt.Sprintf("%s expires in %s (%s): renew it now", what, plural(days, "day"), date)
	case days < 30:
		return Warn, fmt.Sprintf("%s expires in %s (%s): renew it soon", what, plural(days, "day"), date)
	}
	return Pass, fmt.Sprintf("%s is valid for %s more, until %s", what, plural(days, "day"), date)
}

func checkFingerprint(leaf *x509.Certificate, want string) (Status, string) {
	got := Fingerprint(leaf)
	w := NormalizeFingerprint(want)
	if got == w {
		return Pass, "the server serves the expected certificate (sha256 " + short(got) + ")"
	}
	return Fail, fmt.Sprintf("the server serves sha256 %s, expected %s: it still serves another certificate (not reloaded?)", short(got), short(w))
}

func short(fp string) string {
	if len(fp) > 16 {
		return fp[:16] + "…"
	}
	return fp
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}
