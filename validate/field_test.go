package validate

import (
	"encoding/base64"
	"encoding/pem"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smtptls/smtptls/internal/testpki"
)

var testNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func TestEveryCodeHasHintAndSeverity(t *testing.T) {
	if len(Codes()) < 40 {
		t.Fatalf("only %d codes", len(Codes()))
	}
	for _, c := range Codes() {
		switch CodeSeverity(c) {
		case SevError, SevWarning, SevInfo:
		default:
			t.Errorf("%s: no severity", c)
		}
		if h := CodeHint(c); len(h) < 10 {
			t.Errorf("%s: hint %q is too short to say what to do", c, h)
		}
	}
}

// TestFieldChecksShareTheFullCheck: what the wizard shows under a field is
// what the full check reports for that field, word for word.
func TestFieldChecksShareTheFullCheck(t *testing.T) {
	c := NewChecker(nil)
	for _, fc := range loadFixtures(t) {
		t.Run(fc.Name, func(t *testing.T) {
			full := c.Check(fc.In)
			in := func(d Diagnostic) bool { return slices.Contains(full.Diagnostics, d) }
			cert := c.Certificate(fc.In.Certificate, fc.In.Hostname, fc.In.Now)
			key := c.Key(fc.In.Key, fc.In.Passphrase)
			multi := strings.HasPrefix(fc.Name, "cert_full_chain")
			for _, d := range cert.Diagnostics {
				if !in(d) && !multi {
					t.Errorf("certificate field says %+v, full check does not", d)
				}
			}
			for _, d := range key.Diagnostics {
				if !in(d) {
					t.Errorf("key field says %+v, full check does not", d)
				}
			}
			b := c.Bundle(fc.In.CABundle, fc.In.Now)
			for _, d := range b.Diagnostics {
				switch d.Code {
				case CodeBundleReordered, CodeBundleExpired, CodeBundleLeafRemoved:
					continue // judged against the chain in the full check
				}
				if !in(d) {
					t.Errorf("bundle field says %+v, full check does not", d)
				}
			}
			// And the other way round: every field finding of the full check
			// that needs no other field shows up live.
			for _, d := range full.Diagnostics {
				if d.Field == FieldKey && d.Code != CodeKeyMismatch && d.Code != CodeKeyMatchesOther && !slices.Contains(key.Diagnostics, d) {
					t.Errorf("full check says %+v about the key, the key field does not", d)
				}
			}
		})
	}
}

func TestCertificateFieldResult(t *testing.T) {
	ch := testpki.MustChain(testNow, testpki.ECDSAP256, "mail.example.test")
	c := NewChecker(nil)
	r := c.Certificate(string(ch.Leaf.PEM()), "mail.example.test", testNow)
	if !r.OK() || len(r.Diagnostics) != 0 {
		t.Fatalf("good certificate: %+v", r.Diagnostics)
	}
	want := "mail.example.test, issued by smtptls Test Intermediate CA, expires " + date(ch.Leaf.Cert.NotAfter) + " (3653 days)"
	if len(r.Recognised) != 1 || r.Recognised[0] != want {
		t.Errorf("Recognised = %q, want %q", r.Recognised, want)
	}
	full := c.Certificate(string(ch.Leaf.PEM())+string(ch.Intermediate.PEM()), "mail.example.test", testNow)
	if len(full.Recognised) != 2 || !slices.Contains(full.Fixes, "CA certificates moved from the certificate field to the chain") {
		t.Errorf("full chain: Recognised %q Fixes %q", full.Recognised, full.Fixes)
	}
	if codesOf(full.Diagnostics)[0] != CodeCertFullChain {
		t.Errorf("full chain codes %v", codesOf(full.Diagnostics))
	}
}

func TestKeyFieldResult(t *testing.T) {
	c := NewChecker(nil)
	for _, fc := range loadFixtures(t) {
		switch fc.Name {
		case "ok_ecdsa_pkcs8":
			r := c.Key(fc.In.Key, nil)
			if !r.OK() || r.Encrypted || !slices.Equal(r.Recognised, []string{"ECDSA P-256 private key"}) || len(r.Fixes) != 0 {
				t.Errorf("plain key: %+v", r)
			}
		case "key_encrypted_pkcs8", "key_encrypted_legacy":
			r := c.Key(fc.In.Key, nil)
			if r.OK() || !r.Encrypted || len(r.Recognised) != 0 {
				t.Errorf("%s without pass phrase: %+v", fc.Name, r)
			}
			r = c.Key(fc.In.Key, []byte("correct horse battery staple"))
			if !r.OK() || !r.Encrypted || len(r.Recognised) != 1 || !strings.Contains(r.Recognised[0], "decrypted") {
				t.Errorf("%s with pass phrase: %+v", fc.Name, r)
			}
			if !slices.Contains(r.Fixes, "key stored decrypted (PKCS#8, readable by root only)") {
				t.Errorf("%s: fixes %q", fc.Name, r.Fixes)
			}
			r = c.Key(fc.In.Key, []byte("Correct horse battery staple"))
			if !slices.Equal(codesOf(r.Diagnostics), []string{CodeKeyWrongPassphrase}) {
				t.Errorf("%s wrong pass phrase: %v", fc.Name, codesOf(r.Diagnostics))
			}
		case "ok_rsa_pkcs1":
			r := c.Key(fc.In.Key, nil)
			if !slices.Equal(r.Recognised, []string{"RSA 2048-bit private key"}) || !slices.Equal(r.Fixes, []string{"key converted to PKCS#8"}) {
				t.Errorf("PKCS#1: %q %q", r.Recognised, r.Fixes)
			}
		case "ok_ec_sec1_params":
			r := c.Key(fc.In.Key, nil)
			if !slices.Equal(r.Recognised, []string{"ECDSA P-384 private key"}) || len(r.Diagnostics) != 0 {
				t.Errorf("SEC1 after EC PARAMETERS: %+v", r)
			}
		}
	}
}

func TestBundleFieldResult(t *testing.T) {
	ch := testpki.MustChain(testNow, testpki.ECDSAP256)
	c := NewChecker(nil)
	r := c.Bundle(string(ch.Root.PEM())+string(ch.Intermediate.PEM())+string(ch.Intermediate.PEM())+string(ch.Leaf.PEM()), testNow)
	if got := codesOf(r.Diagnostics); !slices.Equal(got, []string{CodeBundleDuplicate, CodeBundleLeafRemoved, CodeBundleReordered}) {
		t.Errorf("codes %v", got)
	}
	if len(r.Recognised) != 3 {
		t.Errorf("Recognised %q, want one line per distinct certificate", r.Recognised)
	}
	if !strings.Contains(r.Recognised[0], "smtptls Test Root CA (root, line 1)") {
		t.Errorf("first line %q", r.Recognised[0])
	}
	for _, f := range []string{"duplicates removed", "bundle reordered", "server certificate removed from the bundle"} {
		if !slices.Contains(r.Fixes, f) {
			t.Errorf("Fixes %q lacks %q", r.Fixes, f)
		}
	}
	if !r.OK() {
		t.Errorf("only info findings, yet not OK")
	}
	if e := c.Bundle("", testNow); len(e.Diagnostics) != 0 || !e.OK() {
		t.Errorf("empty bundle alone is fine: %+v", e)
	}
}

// TestPEMLineNumbers: every block is found, with the right line, however
// the text was mangled.
func TestPEMLineNumbers(t *testing.T) {
	ch := testpki.MustChain(testNow, testpki.ECDSAP256)
	leaf := strings.TrimRight(string(ch.Leaf.PEM()), "\n")
	inter := strings.TrimRight(string(ch.Intermediate.PEM()), "\n")
	n := strings.Count(leaf, "\n") + 1
	for _, tc := range []struct {
		name  string
		text  string
		lines []int
		fixed bool
	}{
		{"lf", leaf + "\n" + inter + "\n", []int{1, n + 1}, false},
		{"crlf", strings.ReplaceAll(leaf+"\n"+inter, "\n", "\r\n"), []int{1, n + 1}, false},
		{"lone cr", strings.ReplaceAll(leaf+"\n"+inter, "\n", "\r"), []int{1, n + 1}, false},
		{"text and blank lines", "Bag Attributes\n  localKeyID: 01\n\n" + leaf + "\n\n\nsubject=x\n  " + strings.ReplaceAll(inter, "\n", "\n  "), []int{4, n + 7}, false},
		{"glued", strings.ReplaceAll(leaf, "\n", "") + "\n" + strings.ReplaceAll(inter, "\n", " "), []int{1, 2}, true},
		{"glued together", strings.ReplaceAll(leaf, "\n", "") + strings.ReplaceAll(inter, "\n", ""), []int{1, 1}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := scanPEM(tc.text)
			var lines []int
			for _, b := range sc.Blocks {
				if b.Broken != "" || b.Repaired != tc.fixed {
					t.Errorf("block %+v", b)
				}
				lines = append(lines, b.Line)
			}
			if !slices.Equal(lines, tc.lines) {
				t.Errorf("lines %v, want %v", lines, tc.lines)
			}
			r := NewChecker(nil).Bundle(tc.text, testNow)
			if len(r.Recognised) != 2 {
				t.Errorf("recognised %q", r.Recognised)
			}
		})
	}
}

func TestBrokenPEMSaysWhere(t *testing.T) {
	ch := testpki.MustChain(testNow, testpki.ECDSAP256)
	good := string(ch.Intermediate.PEM())
	n := strings.Count(good, "\n")
	leafLines := strings.Split(string(ch.Leaf.PEM()), "\n")
	truncated := strings.Join(leafLines[:3], "\n") + "\n"
	r := NewChecker(nil).Bundle(good+truncated+good, testNow)
	if len(r.Diagnostics) == 0 || r.Diagnostics[0].Code != CodePEMNoEnd || r.Diagnostics[0].Line != n+1 {
		t.Fatalf("truncated block: %+v", r.Diagnostics)
	}
	if !strings.Contains(r.Diagnostics[0].Message, "line "+strconv.Itoa(n+1)) {
		t.Errorf("message does not name the line: %s", r.Diagnostics[0].Message)
	}
	// The block after the truncated one is still read.
	if len(r.Recognised) != 1 {
		t.Errorf("recognised %q", r.Recognised)
	}
	damaged := strings.Split(good, "\n")
	damaged[7] = "%%%" + damaged[7][3:]
	r = NewChecker(nil).Bundle(strings.Join(damaged, "\n"), testNow)
	if len(r.Diagnostics) != 1 || r.Diagnostics[0].Code != CodePEMBadBase64 || r.Diagnostics[0].Line != 8 {
		t.Fatalf("damaged base64: %+v", r.Diagnostics)
	}
}

func TestFieldTooLargeIsNotParsed(t *testing.T) {
	ch := testpki.MustChain(testNow, testpki.ECDSAP256)
	big := strings.Repeat(string(ch.Intermediate.PEM()), MaxFieldBytes/len(ch.Intermediate.PEM())+1)
	for _, r := range []FieldResult{
		NewChecker(nil).Bundle(big, testNow),
		NewChecker(nil).Certificate(big, "", testNow),
		NewChecker(nil).Key(big, nil),
	} {
		if len(r.Diagnostics) != 1 || r.Diagnostics[0].Code != CodeFieldTooLarge || len(r.Recognised) != 0 {
			t.Errorf("%+v", r.Diagnostics)
		}
	}
}

// TestNoKeyMaterialInMessages scans every diagnostic of every fixture, and
// the text and field outputs, for any 16 characters of any key's base64.
func TestNoKeyMaterialInMessages(t *testing.T) {
	c := NewChecker(nil)
	for _, fc := range loadFixtures(t) {
		var secrets []string
		for _, text := range []string{fc.In.Certificate, fc.In.Key, fc.In.CABundle} {
			for _, b := range scanPEM(text).Blocks {
				if strings.Contains(b.Label, "PRIVATE KEY") && b.Bytes != nil {
					secrets = append(secrets, base64.StdEncoding.EncodeToString(b.Bytes))
				}
			}
		}
		if strings.Contains(fc.In.Key, "PRIVATE KEY") && len(secrets) == 0 && !strings.Contains(fc.Name, "empty") {
			t.Fatalf("%s: no key found to look for", fc.Name)
		}
		r := c.Check(fc.In)
		var out strings.Builder
		if err := WriteText(&out, r, false); err != nil {
			t.Fatal(err)
		}
		for _, f := range []FieldResult{c.Certificate(fc.In.Certificate, fc.In.Hostname, fc.In.Now), c.Key(fc.In.Key, fc.In.Passphrase), c.Bundle(fc.In.CABundle, fc.In.Now)} {
			for _, d := range f.Diagnostics {
				out.WriteString(d.Message + d.Hint)
			}
			out.WriteString(strings.Join(f.Recognised, "") + strings.Join(f.Fixes, ""))
		}
		for _, d := range r.Diagnostics {
			out.WriteString(d.Message + d.Hint)
		}
		all := out.String()
		for _, s := range secrets {
			for i := 0; i+16 <= len(s); i += 8 {
				if strings.Contains(all, s[i:i+16]) {
					t.Fatalf("%s: output contains key material %q", fc.Name, s[i:i+16])
				}
			}
		}
	}
}

// TestCheckerCachesAndIsConcurrent: a repeated field is not parsed again,
// and concurrent use is race-free (run with -race).
func TestCheckerCachesAndIsConcurrent(t *testing.T) {
	ch := testpki.MustChain(testNow, testpki.ECDSAP256)
	c := NewChecker(nil)
	bundle := string(ch.Bundle())
	if c.bundleField(bundle) != c.bundleField(bundle) {
		t.Fatal("second look at the same bundle parsed it again")
	}
	in := Input{Certificate: string(ch.Leaf.PEM()), Key: string(ch.Leaf.KeyPEM()), CABundle: bundle, Now: testNow}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			in := in
			if i%2 == 1 {
				in.CABundle += "\n" // a different text, a different cache entry
			}
			for j := 0; j < 20; j++ {
				if r := c.Check(in); !r.OK() || r.Material == nil {
					t.Errorf("concurrent check failed: %+v", r.Diagnostics)
					return
				}
				c.Bundle(in.CABundle+strings.Repeat(" ", j), testNow) // churn the cache
			}
		}(i)
	}
	wg.Wait()
}

func TestWriteTextColorsOnlyWhenAsked(t *testing.T) {
	fcs := loadFixtures(t)
	for _, fc := range fcs {
		if fc.Name != "chain_no_root" {
			continue
		}
		r := Check(fc.In)
		var plain, color strings.Builder
		if err := WriteText(&plain, r, false); err != nil {
			t.Fatal(err)
		}
		if err := WriteText(&color, r, true); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(plain.String(), "\x1b[") || !strings.Contains(color.String(), "\x1b[33m") {
			t.Errorf("color handling wrong")
		}
		p := plain.String()
		sum, diag := strings.Index(p, "Certificate summary"), strings.Index(p, "[chain_no_root]")
		if sum != 0 || diag < sum || !strings.Contains(p, "3 1 1 ") || !strings.Contains(p, "OK with 1 warning") {
			t.Errorf("report layout:\n%s", p)
		}
	}
}

func TestMismatchedKeyBlockIsNotEchoed(t *testing.T) {
	// A key pasted into the certificate field is refused without echoing it.
	ch := testpki.MustChain(testNow, testpki.ECDSAP256)
	blk, _ := pem.Decode(ch.Leaf.KeyPEM())
	r := NewChecker(nil).Certificate(string(ch.Leaf.KeyPEM()), "", testNow)
	if len(r.Diagnostics) != 1 || r.Diagnostics[0].Code != CodeWrongBlockPrivateKey {
		t.Fatalf("%+v", r.Diagnostics)
	}
	if strings.Contains(r.Diagnostics[0].Message, base64.StdEncoding.EncodeToString(blk.Bytes)[:12]) {
		t.Fatal("key echoed")
	}
}

// TestInvisibleCharactersInBase64: copies out of web pages and office
// programs bring no-break and zero-width spaces; they are whitespace.
func TestInvisibleCharactersInBase64(t *testing.T) {
	ch := testpki.MustChain(testNow, testpki.ECDSAP256)
	lines := strings.Split(string(ch.Leaf.PEM()), "\n")
	lines[2] = "\u00a0\u00a0" + lines[2] + "\u200b"
	lines[3] = "\ufeff" + lines[3]
	r := NewChecker(nil).Certificate(strings.Join(lines, "\r\n"), "", testNow)
	if len(r.Diagnostics) != 0 || len(r.Recognised) != 1 {
		t.Fatalf("%+v", r.Diagnostics)
	}
}

// TestNotPEMExplained: binary DER, PKCS#12 and bare base64 are named, with
// the conversion to run.
func TestNotPEMExplained(t *testing.T) {
	ch := testpki.MustChain(testNow, testpki.ECDSAP256)
	blk, _ := pem.Decode(ch.Leaf.KeyPEM())
	c := NewChecker(nil)
	for _, tc := range []struct {
		name, text, code, msg string
		field                 func(string) FieldResult
	}{
		{"der cert", string(ch.Leaf.Cert.Raw), CodeDERNotPEM, "binary (DER) certificate", func(s string) FieldResult { return c.Certificate(s, "", testNow) }},
		{"der key", string(blk.Bytes), CodeDERNotPEM, "binary (DER) private key", func(s string) FieldResult { return c.Key(s, nil) }},
		{"bare base64", base64.StdEncoding.EncodeToString(ch.Intermediate.Cert.Raw), CodePEMNone, "without its -----BEGIN/-----END lines", func(s string) FieldResult { return c.Bundle(s, testNow) }},
		{"filename", "cert.pem", CodePEMNone, "no PEM block", func(s string) FieldResult { return c.Certificate(s, "", testNow) }},
	} {
		r := tc.field(tc.text)
		if len(r.Diagnostics) != 1 || r.Diagnostics[0].Code != tc.code || !strings.Contains(r.Diagnostics[0].Message, tc.msg) {
			t.Errorf("%s: %+v", tc.name, r.Diagnostics)
		}
	}
}

// TestTrustedCertificateBlock: openssl x509 -trustout writes TRUSTED
// CERTIFICATE blocks, the DER followed by trust settings.
func TestTrustedCertificateBlock(t *testing.T) {
	ch := testpki.MustChain(testNow, testpki.RSA2048)
	der := append(append([]byte{}, ch.Root.Cert.Raw...), 0x30, 0x03, 0x06, 0x01, 0x00)
	text := string(pem.EncodeToMemory(&pem.Block{Type: "TRUSTED CERTIFICATE", Bytes: der}))
	r := NewChecker(nil).Bundle(string(ch.Intermediate.PEM())+text, testNow)
	if len(r.Diagnostics) != 0 || len(r.Recognised) != 2 || !strings.Contains(r.Recognised[1], "smtptls Test Root CA (root") {
		t.Fatalf("%+v %q", r.Diagnostics, r.Recognised)
	}
}

// TestDamagedLegacyKeyLine: the damaged line is found past the
// Proc-Type/DEK-Info headers too.
func TestDamagedLegacyKeyLine(t *testing.T) {
	text := "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00112233445566778899AABBCCDDEEFF\n\n" +
		"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2\n" +
		"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVph*mNkZWZnaGlqa2xtbm9wcXJzdHV2\n" +
		"-----END RSA PRIVATE KEY-----\n"
	r := NewChecker(nil).Key(text, nil)
	if len(r.Diagnostics) != 1 || r.Diagnostics[0].Code != CodePEMBadBase64 || r.Diagnostics[0].Line != 6 {
		t.Fatalf("%+v", r.Diagnostics)
	}
}
