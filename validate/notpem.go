package validate

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"strings"
)

// oidPKCS7Data in DER, as it sits near the start of every PKCS#12 file.
var oidPKCS7DataDER = []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01}

// explainNotPEM says what a field without any PEM block holds when it is
// something recognisable: a binary DER certificate or key (a .cer/.der
// file given to --cert), a PKCS#12 bundle (.pfx/.p12), or bare base64 with
// the BEGIN/END lines lost.
func explainNotPEM(f Field, text string) (Diagnostic, bool) {
	t := fieldTitle[f]
	raw := []byte(text)
	if isPKCS12(raw) {
		return diag(f, CodePKCS12, 0, fmt.Sprintf("The %s holds a PKCS#12 (.pfx/.p12) file, which bundles certificate, key and CA certificates in binary form.", t)), true
	}
	if len(raw) > 0 && raw[0] == 0x30 {
		if what := derKind(raw); what != "" {
			return diag(f, CodeDERNotPEM, 0, fmt.Sprintf("The %s holds a binary (DER) %s, not PEM text.", t, what)), true
		}
	}
	// Bare base64: a portal that shows only the body, or BEGIN/END lines
	// lost while copying.
	b64 := strings.Join(strings.Fields(text), "")
	if len(b64) >= 64 && strings.Trim(b64, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") == "" {
		if der, err := base64.StdEncoding.DecodeString(b64); err == nil {
			if what := derKind(der); what != "" {
				return diag(f, CodePEMNone, 1, fmt.Sprintf("The %s holds base64 that decodes to a %s, but without its -----BEGIN/-----END lines.", t, what), "{expect}", expectIn[f]), true
			}
		}
	}
	return Diagnostic{}, false
}

// derKind names what DER bytes are, without ever returning their content.
func derKind(der []byte) string {
	if _, err := x509.ParseCertificate(der); err == nil {
		return "certificate"
	}
	if _, err := parseAnyKey(der); err == nil {
		return "private key"
	}
	return ""
}

func isPKCS12(raw []byte) bool {
	if len(raw) < 24 || raw[0] != 0x30 {
		return false
	}
	head := raw[:min(len(raw), 32)]
	// PFX ::= SEQUENCE { version INTEGER (3), authSafe ContentInfo (data) ... }
	return bytes.Contains(head, []byte{0x02, 0x01, 0x03, 0x30}) && bytes.Contains(head, oidPKCS7DataDER)
}
