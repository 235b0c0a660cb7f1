package validate

import (
	"strings"
	"testing"
)

// Hints suggest openssl commands an admin pastes as they are: they must
// name real files, never the KEYFILE or CERTFILE placeholders of the table.
func TestHintsNameTheAdminsFiles(t *testing.T) {
	c := NewChecker(nil)
	for _, fc := range loadFixtures(t) {
		var all []Diagnostic
		all = append(all, c.Check(fc.In).Diagnostics...)
		all = append(all, c.Certificate(fc.In.Certificate, fc.In.Hostname, fc.In.Now).Diagnostics...)
		all = append(all, c.Key(fc.In.Key, fc.In.Passphrase).Diagnostics...)
		all = append(all, c.Bundle(fc.In.CABundle, fc.In.Now).Diagnostics...)
		for _, d := range all {
			if strings.Contains(d.Hint, "KEYFILE") || strings.Contains(d.Hint, "CERTFILE") {
				t.Errorf("%s: %s hint keeps a placeholder: %s", fc.Name, d.Code, d.Hint)
			}
		}
	}

	fixtures := map[string]fixtureCase{}
	for _, fc := range loadFixtures(t) {
		fixtures[fc.Name] = fc
	}
	hintOf := func(in Input, code Code) string {
		for _, d := range c.Check(in).Diagnostics {
			if d.Code == code {
				return d.Hint
			}
		}
		t.Fatalf("no %s finding", code)
		return ""
	}

	mismatch := fixtures["key_mismatch"].In
	if h := hintOf(mismatch, CodeKeyMismatch); !strings.Contains(h, "-in "+DefaultCertFile) || !strings.Contains(h, "-in "+DefaultKeyFile) {
		t.Errorf("pasted text should get the default names: %s", h)
	}
	mismatch.CertFile, mismatch.KeyFile = "/srv/tls/mx.crt", "'/srv/tls/my key.pem'"
	if h := hintOf(mismatch, CodeKeyMismatch); !strings.Contains(h, "-in /srv/tls/mx.crt") || !strings.Contains(h, "-in '/srv/tls/my key.pem'") {
		t.Errorf("the names given should be used as given: %s", h)
	}

	enc := fixtures["key_encrypted_pkcs8"].In
	enc.KeyFile = "/srv/tls/mx.key"
	if h := hintOf(enc, CodeKeyEncrypted); !strings.Contains(h, "openssl pkey -in /srv/tls/mx.key") {
		t.Errorf("encrypted key hint: %s", h)
	}
}
