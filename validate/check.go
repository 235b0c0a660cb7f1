package validate

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// certFieldChecks are the findings about the certificate field once the
// leaf is chosen; the live field check and the full check share them.
func certFieldChecks(p *certParse, leaf *certInfo, hostname string, now time.Time) []Diagnostic {
	var ds []Diagnostic
	if len(p.certs) > 1 {
		var others []string
		for _, o := range p.certs {
			if o != leaf {
				others = append(others, fmt.Sprintf("%q (line %d)", o.Name, o.Line))
			}
		}
		ds = append(ds, diag(FieldCertificate, CodeCertFullChain, leaf.Line, fmt.Sprintf("The certificate field holds %d certificates: the server certificate %q (line %d) and %s.", len(p.certs), leaf.Name, leaf.Line, strings.Join(limitList(others, 4), ", "))))
	}
	ds = append(ds, leafChecks(leaf)...)
	ds = append(ds, leafTimeChecks(leaf, now)...)
	_, hd := hostnameCheck(leaf, hostname)
	return append(ds, hd...)
}

func hasCode(ds []Diagnostic, code Code) bool {
	for _, d := range ds {
		if d.Code == code {
			return true
		}
	}
	return false
}

func certFixes(p *certParse) []string {
	var f []string
	if hasCode(p.diags, CodePEMLineBreaks) {
		f = append(f, "line breaks restored")
	}
	if len(p.certs) > 1 {
		f = append(f, "CA certificates moved from the certificate field to the chain")
	}
	return f
}

func keyFixes(p *keyParse) []string {
	var f []string
	if hasCode(p.diags, CodePEMLineBreaks) {
		f = append(f, "line breaks restored")
	}
	switch {
	case p.key != nil && p.encrypted:
		f = append(f, "key stored decrypted (PKCS#8, readable by root only)")
	case p.key != nil && p.label != "PRIVATE KEY":
		f = append(f, "key converted to PKCS#8")
	}
	return f
}

func bundleStaticFixes(p *bundleParse) []string {
	var f []string
	if hasCode(p.diags, CodePEMLineBreaks) {
		f = append(f, "line breaks restored")
	}
	if len(p.dups) > 0 {
		f = append(f, "duplicates removed")
	}
	return f
}

// bundleAloneChecks judges the bundle without knowing the leaf.
func bundleAloneChecks(p *bundleParse, now time.Time) ([]Diagnostic, []string) {
	var ds []Diagnostic
	var fixes []string
	bySubject := make(map[string]int, len(p.certs))
	for i, c := range p.certs {
		if _, ok := bySubject[string(c.Cert.RawSubject)]; !ok {
			bySubject[string(c.Cert.RawSubject)] = i
		}
	}
	reordered := false
	for i, c := range p.certs {
		if !c.isCA() {
			ds = append(ds, leafInBundle(c))
			fixes = appendOnce(fixes, "server certificate removed from the bundle")
		}
		if now.After(c.Cert.NotAfter) {
			ds = append(ds, expiredExtra(c, now))
		}
		if j, ok := bySubject[string(c.Cert.RawIssuer)]; ok && j < i && !c.namedSelf() && !reordered {
			reordered = true
			ds = append(ds, diag(FieldCABundle, CodeBundleReordered, c.Line, fmt.Sprintf("%q (line %d) comes after its issuer %q (line %d); the chain goes from the server certificate up to the root.", c.Name, c.Line, p.certs[j].Name, p.certs[j].Line)))
			fixes = append(fixes, "bundle reordered")
		}
	}
	return ds, fixes
}

func appendOnce(s []string, v string) []string {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}

func leafInBundle(c *certInfo) Diagnostic {
	return diag(FieldCABundle, CodeBundleLeafRemoved, c.Line, fmt.Sprintf("The CA bundle holds the server certificate %q (line %d); it belongs only in the certificate field.", c.Name, c.Line))
}

func expiredExtra(c *certInfo, now time.Time) Diagnostic {
	return diag(FieldCABundle, CodeBundleExpired, c.Line, fmt.Sprintf("%q (line %d) expired on %s.", c.Name, c.Line, date(c.Cert.NotAfter)))
}

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

// unrelatedLimit is how many unrelated certificates get a line each; a
// whole system CA file pasted as the bundle gets one summary line instead.
const unrelatedLimit = 5

// Check runs every check on the three fields together.
func (c *Checker) Check(in Input) Report {
	now := in.Now
	if now.IsZero() {
		now = time.Now()
	}
	roots := func() *x509.CertPool {
		switch {
		case in.Roots != nil:
			return in.Roots
		case in.LoadRoots != nil:
			return in.LoadRoots()
		}
		return c.roots
	}
	cp := c.certField(in.Certificate)
	kp := c.keyField(in.Key, in.Passphrase)
	bp := c.bundleField(in.CABundle)

	var pub any
	if kp.key != nil {
		pub = kp.key.Public()
	}
	leaf := pickLeaf(cp.certs, pub)
	var ds []Diagnostic
	ds = append(ds, cp.diags...)
	if leaf != nil {
		ds = append(ds, certFieldChecks(cp, leaf, in.Hostname, now)...)
	}
	ds = append(ds, kp.diags...)
	ds = append(ds, bp.diags...)
	if leaf == nil {
		bd, _ := bundleAloneChecks(bp, now)
		return Report{Diagnostics: sortDiags(append(ds, bd...))}
	}

	var keyOwner *certInfo
	if kp.key != nil && !publicKeysEqual(leaf.Cert.PublicKey, pub) {
		var d Diagnostic
		d, keyOwner = keyMismatch(leaf, pub, kp.line, cp, bp)
		ds = append(ds, d)
	}

	pool := make([]*certInfo, 0, len(bp.certs)+len(cp.certs))
	for _, o := range cp.certs {
		if o != leaf {
			pool = append(pool, o)
		}
	}
	pool = append(pool, bp.certs...)
	ch := buildChain(leaf, pool, roots, now)
	if !hasCode(bp.diags, CodeFieldTooLarge) {
		// A bundle that was refused unread would only add a chain finding
		// that repeats "the bundle is unusable".
		ds = append(ds, ch.diags...)
		ds = append(ds, poolChecks(leaf, keyOwner, ch, cp, bp, now)...)
	}

	rep := Report{Diagnostics: sortDiags(ds), Summary: summarize(leaf, ch, in.Hostname, now)}
	if kp.key != nil {
		m, err := material(leaf, kp, ch)
		if err == nil {
			rep.Material = m
		}
	}
	return rep
}

// keyMismatch says which side is likely wrong: when the key belongs to
// another pasted certificate, that certificate names the mistake. It also
// returns that certificate, so it is not reported again as unrelated.
func keyMismatch(leaf *certInfo, pub any, keyLine int, cp *certParse, bp *bundleParse) (Diagnostic, *certInfo) {
	kd := keyDescString(pub)
	for _, set := range [][]*certInfo{cp.certs, bp.certs} {
		for _, o := range set {
			if o == leaf || o.SHA256 == leaf.SHA256 || !publicKeysEqual(o.Cert.PublicKey, pub) {
				continue
			}
			on, ln := o.Name, leaf.Name
			if on == ln && !o.Cert.NotAfter.Equal(leaf.Cert.NotAfter) {
				// A renewal mix-up: same name, told apart by expiry.
				on = fmt.Sprintf("%s (expires %s)", o.Name, date(o.Cert.NotAfter))
				ln = fmt.Sprintf("%s (expires %s)", leaf.Name, date(leaf.Cert.NotAfter))
			}
			if o.isCA() {
				return diag(FieldKey, CodeKeyMatchesOther, keyLine,
					fmt.Sprintf("The private key belongs to the CA certificate %q (%s), not to the server certificate %q.", on, o.where(), ln),
					"{fix}", "The key field holds the CA's key: paste the server's own key (never a CA key) into the key field."), o
			}
			// Reported on the key field like every key/certificate pairing
			// finding (that is where the wizard checks the pair); the
			// message and hint say it is the certificate that is wrong.
			return diag(FieldKey, CodeKeyMatchesOther, keyLine,
				fmt.Sprintf("The private key belongs to the server certificate %q (%s), not to %q in the certificate field.", on, o.where(), ln),
				"{fix}", fmt.Sprintf("Put the certificate from %s into the certificate field; the one there now belongs to another key.", o.where())), o
		}
	}
	lt, _ := keyDesc(leaf.Cert.PublicKey)
	msg := fmt.Sprintf("The private key (%s) does not belong to the certificate %q (%s key).", kd, leaf.Name, keyDescString(leaf.Cert.PublicKey))
	if t, _ := keyDesc(pub); t == lt {
		msg = fmt.Sprintf("The private key (%s) does not belong to the certificate %q: it is another key of the same type.", kd, leaf.Name)
	}
	return diag(FieldKey, CodeKeyMismatch, keyLine, msg), nil
}

// poolChecks judges every pasted certificate that is not the leaf against
// the chain as built: reorder, leaf copies, unrelated, expired extras.
func poolChecks(leaf, keyOwner *certInfo, ch chain, cp *certParse, bp *bundleParse, now time.Time) []Diagnostic {
	var ds []Diagnostic
	pos := map[string]int{}
	for i, c := range ch.path {
		pos[c.SHA256] = i
	}
	// Bundle order: the path's certificates should appear leaf-upwards.
	last := 0
	for _, c := range bp.certs {
		i, ok := pos[c.SHA256]
		if !ok || i == 0 {
			continue
		}
		if i < last {
			ds = append(ds, diag(FieldCABundle, CodeBundleReordered, c.Line, fmt.Sprintf("The CA bundle lists %q (line %d) after a certificate above it in the chain; the chain goes from the server certificate up to the root.", c.Name, c.Line)))
			break
		}
		last = i
	}
	var unrelated, expired []*certInfo
	for _, set := range [][]*certInfo{cp.certs, bp.certs} {
		for _, c := range set {
			if c == leaf || c == keyOwner {
				continue
			}
			if _, ok := pos[c.SHA256]; ok {
				if c.Field == FieldCABundle && c.SHA256 == leaf.SHA256 {
					ds = append(ds, leafInBundle(c))
				}
				continue
			}
			switch {
			case now.After(c.Cert.NotAfter):
				expired = append(expired, c)
			case !ch.anchored && c.isCA():
				// The chain stops at a missing certificate: a CA pasted
				// here may well sit above the gap, so it is not called
				// unrelated; the chain finding already says what to add.
			default:
				unrelated = append(unrelated, c)
			}
		}
	}
	if len(expired) > unrelatedLimit {
		ds = append(ds, diag(FieldCABundle, CodeBundleExpired, expired[0].Line, fmt.Sprintf("%d expired certificates not on this chain were pasted, among them %s.", len(expired), nameList(expired, 3))))
	} else {
		for _, c := range expired {
			ds = append(ds, expiredExtra(c, now))
		}
	}
	if len(unrelated) > unrelatedLimit {
		ds = append(ds, diag(FieldCABundle, CodeBundleUnrelated, unrelated[0].Line, fmt.Sprintf("%d pasted certificates are not part of the chain of %q, among them %s.", len(unrelated), leaf.Name, nameList(unrelated, 3))))
	} else {
		for _, c := range unrelated {
			kind := "it did not issue any certificate on the chain"
			if !c.isCA() {
				kind = "it is a server certificate, not a CA certificate"
			}
			ds = append(ds, diag(c.Field, CodeBundleUnrelated, c.Line, fmt.Sprintf("%q (%s) is not part of the chain of %q: %s.", c.Name, c.where(), leaf.Name, kind)))
		}
	}
	return ds
}

func nameList(cs []*certInfo, n int) string {
	var s []string
	for i, c := range cs {
		if i == n {
			break
		}
		s = append(s, fmt.Sprintf("%q (line %d)", c.Name, c.Line))
	}
	return strings.Join(s, ", ")
}

var fieldRank = map[Field]int{FieldCertificate: 0, FieldKey: 1, FieldCABundle: 2, FieldChain: 3}

func sortDiags(ds []Diagnostic) []Diagnostic {
	sort.SliceStable(ds, func(i, j int) bool { return fieldRank[ds[i].Field] < fieldRank[ds[j].Field] })
	return ds
}

func pemCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// material is what save writes: leaf alone, PKCS#8 key, the chain to
// serve (intermediates leaf-upwards, no root) and the anchors.
func material(leaf *certInfo, kp *keyParse, ch chain) (*Material, error) {
	der, err := x509.MarshalPKCS8PrivateKey(kp.key)
	if err != nil {
		return nil, fmt.Errorf("encode key as PKCS#8: %w", err)
	}
	m := &Material{
		LeafPEM: pemCert(leaf.Cert),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
	}
	for _, c := range ch.path[1:] {
		if c.selfSigned() {
			m.CAPEM = append(m.CAPEM, pemCert(c.Cert)...)
			continue
		}
		m.ChainPEM = append(m.ChainPEM, pemCert(c.Cert)...)
	}
	if m.CAPEM == nil && len(ch.path) > 1 {
		// No root anywhere: the top intermediate is the best anchor a
		// verifier can be given.
		m.CAPEM = pemCert(ch.path[len(ch.path)-1].Cert)
	}
	return m, nil
}

func summarize(leaf *certInfo, ch chain, hostname string, now time.Time) *Summary {
	c := leaf.Cert
	spki := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	typ, bits := keyDesc(c.PublicKey)
	s := &Summary{
		Subject:    leaf.Name,
		SANs:       append([]string{}, c.DNSNames...),
		Issuer:     issuerName(c),
		NotBefore:  c.NotBefore,
		NotAfter:   c.NotAfter,
		DaysLeft:   daysLeft(c.NotAfter, now),
		KeyType:    typ,
		KeyBits:    bits,
		CertSHA256: leaf.SHA256,
		SPKISHA256: hex.EncodeToString(spki[:]),
		Hostname:   hostname,
	}
	for _, ip := range c.IPAddresses {
		s.SANs = append(s.SANs, ip.String())
	}
	s.TLSA = "3 1 1 " + s.SPKISHA256
	s.HostnameMatch, _ = hostnameCheck(leaf, hostname)
	for i, ci := range ch.path {
		role := "intermediate"
		switch {
		case i == 0:
			role = "leaf"
		case ci.selfSigned():
			role = "root"
		}
		src := string(ci.Field)
		if ci.Field == "" {
			src = "system"
		}
		s.Chain = append(s.Chain, ChainEntry{Role: role, Subject: ci.Name, Issuer: issuerName(ci.Cert), NotAfter: ci.Cert.NotAfter, SHA256: ci.SHA256, Source: src})
	}
	return s
}
