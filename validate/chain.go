package validate

import (
	"crypto/x509"
	"errors"
	"fmt"
	"sort"
	"time"
)

// chain is the path from the leaf up, as far as it could be built.
type chain struct {
	path     []*certInfo // leaf first
	anchored bool        // ends at a self-signed root (pasted or system)
	diags    []Diagnostic
}

// issuedBy reports whether parent signed child. A SHA-1 signature counts
// as signed here: that weakness is reported on its own.
func issuedBy(child, parent *x509.Certificate) (ok, notCA bool) {
	err := child.CheckSignatureFrom(parent)
	if err == nil {
		return true, false
	}
	var insecure x509.InsecureAlgorithmError
	if errors.As(err, &insecure) {
		return true, false
	}
	var cv x509.ConstraintViolationError
	if errors.As(err, &cv) {
		if parent.CheckSignature(child.SignatureAlgorithm, child.RawTBSCertificate, child.Signature) == nil {
			return true, true
		}
	}
	return false, false
}

func clampTime(t, lo, hi time.Time) time.Time {
	if t.Before(lo) {
		return lo
	}
	if t.After(hi) {
		return hi
	}
	return t
}

// buildChain walks from the leaf through pool (the bundle plus extra
// certificates from the certificate field), order and duplicates not
// mattering, then the system roots.
func buildChain(leaf *certInfo, pool []*certInfo, rootsFn func() *x509.CertPool, now time.Time) chain {
	bySubject := make(map[string][]*certInfo, len(pool))
	for _, c := range pool {
		k := string(c.Cert.RawSubject)
		bySubject[k] = append(bySubject[k], c)
	}
	ch := chain{path: []*certInfo{leaf}}
	on := map[string]bool{leaf.SHA256: true}
	cur := leaf
	for len(ch.path) < 12 {
		if cur.selfSigned() {
			ch.anchored = true
			return ch
		}
		cands := append([]*certInfo(nil), bySubject[string(cur.Cert.RawIssuer)]...)
		// Prefer a valid issuer over an expired one with the same name.
		sort.SliceStable(cands, func(i, j int) bool {
			return !now.After(cands[i].Cert.NotAfter) && now.After(cands[j].Cert.NotAfter)
		})
		var next *certInfo
		var sameName []*certInfo
		for _, cand := range cands {
			if on[cand.SHA256] {
				continue
			}
			ok, notCA := issuedBy(cur.Cert, cand.Cert)
			if !ok {
				sameName = append(sameName, cand)
				continue
			}
			if notCA {
				ch.diags = append(ch.diags, diag(FieldChain, CodeChainIssuerNotCA, cand.Line, fmt.Sprintf("%q (%s) signed %q but is not a CA certificate.", cand.Name, cand.where(), cur.Name)))
			}
			next = cand
			break
		}
		if next == nil {
			if roots := rootsFn(); roots != nil {
				opts := x509.VerifyOptions{Roots: roots, CurrentTime: clampTime(now, cur.Cert.NotBefore, cur.Cert.NotAfter), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
				if chains, err := cur.Cert.Verify(opts); err == nil && len(chains) > 0 {
					for _, c := range chains[0][1:] {
						ci := newCertInfo(c, "", 0)
						ch.path = append(ch.path, ci)
					}
					ch.anchored = true
					return ch
				}
			}
			ch.diags = append(ch.diags, missingIssuer(leaf, cur, sameName))
			return ch
		}
		ch.path = append(ch.path, next)
		on[next.SHA256] = true
		if now.After(next.Cert.NotAfter) {
			if next.selfSigned() {
				ch.diags = append(ch.diags, diag(FieldCABundle, CodeBundleExpired, next.Line, fmt.Sprintf("The root %q (line %d) expired on %s; peers use their own copy of the root, so this matters only if they lack a current one.", next.Name, next.Line, date(next.Cert.NotAfter))))
			} else {
				ch.diags = append(ch.diags, diag(FieldChain, CodeChainExpiredIntermediate, next.Line, fmt.Sprintf("The intermediate %q (%s) on the chain of %q expired on %s.", next.Name, next.where(), leaf.Name, date(next.Cert.NotAfter))))
			}
		} else if d := daysLeft(next.Cert.NotAfter, now); d < expiringSoonDays && !next.selfSigned() && next.Cert.NotAfter.Before(leaf.Cert.NotAfter) {
			// The chain breaks when the intermediate expires, even though
			// the server certificate itself is still valid.
			ch.diags = append(ch.diags, diag(FieldChain, CodeChainExpiringSoon, next.Line, fmt.Sprintf("The intermediate %q (%s) expires on %s, in %d days, before %q does.", next.Name, next.where(), date(next.Cert.NotAfter), d, leaf.Name)))
		}
		cur = next
	}
	return ch
}

func missingIssuer(leaf, cur *certInfo, sameName []*certInfo) Diagnostic {
	issuer := issuerName(cur.Cert)
	var note string
	if len(sameName) > 0 {
		note = fmt.Sprintf(" The bundle has a certificate named %q (%s), but it did not sign %q: it is another version of that CA certificate.", sameName[0].Name, sameName[0].where(), cur.Name)
	}
	if cur == leaf {
		return diag(FieldChain, CodeChainMissingIntermediate, 0, fmt.Sprintf("The intermediate certificate %q that issued %q is missing from the CA bundle.%s", issuer, leaf.Name, note), "{issuer}", issuer)
	}
	return diag(FieldChain, CodeChainNoRoot, cur.Line, fmt.Sprintf("The chain ends at %q (%s): its issuer %q is neither in the CA bundle nor in this system's trust store.%s", cur.Name, cur.where(), issuer, note), "{issuer}", issuer)
}
