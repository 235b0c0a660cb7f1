package validate

import (
	"fmt"
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
