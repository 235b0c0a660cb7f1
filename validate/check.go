package validate

import (
	"crypto/x509"
	"fmt"
	"sort"
	"strings"
	"time"
)

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
	// The broken thing first: a damaged certificate makes every finding
	// that reads it (key pairing, chain, names, dates) a wrong lead.
	all := append(append([]*certInfo(nil), cp.certs...), bp.certs...)
	var bad map[*certInfo]bool
	if leaf != nil {
		bad = damagedCerts(leaf, all)
	}
	for _, c := range all {
		if bad[c] {
			ds = append(ds, damagedCertDiag(c))
		}
	}
	if leaf != nil && bad[leaf] {
		ds = append(ds, kp.diags...)
		ds = append(ds, bp.diags...)
		return Report{Diagnostics: withFiles(sortDiags(ds), in.CertFile, in.KeyFile)}
	}
	if leaf != nil {
		ds = append(ds, certFieldChecks(cp, leaf, in.Hostname, now)...)
	}
	ds = append(ds, kp.diags...)
	ds = append(ds, bp.diags...)
	bundleBroken := len(bad) > 0 || hasCode(bp.diags, CodeDERInvalid) || hasCode(bp.diags, CodePEMBadBase64) || hasCode(bp.diags, CodePEMNoEnd)
	if leaf == nil {
		bd, _ := bundleAloneChecks(bp, now)
		return Report{Diagnostics: withFiles(sortDiags(append(ds, bd...)), in.CertFile, in.KeyFile)}
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
		for _, d := range ch.diags {
			if !(bundleBroken && dependsOnBundle(d)) {
				ds = append(ds, d)
			}
		}
		ds = append(ds, poolChecks(leaf, keyOwner, ch, cp, bp, now)...)
	}

	rep := Report{Diagnostics: withFiles(sortDiags(ds), in.CertFile, in.KeyFile), Summary: summarize(leaf, ch, in.Hostname, now)}
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
