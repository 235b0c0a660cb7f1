package validate

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestOpenSSLEncryptedKeys: keys encrypted by openssl itself (PKCS#8 with
// PBKDF2, and the legacy Proc-Type form) are recognised, decrypt with the
// pass phrase, and the command the hint gives really yields a key we take.
func TestOpenSSLEncryptedKeys(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed: apt-get install openssl")
	}
	dir := t.TempDir()
	sh := func(script string) {
		t.Helper()
		cmd := exec.Command("sh", "-c", script)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", script, err, out)
		}
	}
	sh(`openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -aes-256-cbc -pass pass:secret -out pkcs8.pem 2>/dev/null`)
	sh(`openssl genrsa -traditional -aes256 -passout pass:secret -out legacy.pem 2048 2>/dev/null`)
	c := NewChecker(nil)
	for _, tc := range []struct{ file, kind, desc string }{
		{"pkcs8.pem", "PKCS#8", "ECDSA P-256 private key"},
		{"legacy.pem", "Proc-Type", "RSA 2048-bit private key"},
	} {
		raw, err := os.ReadFile(filepath.Join(dir, tc.file))
		if err != nil {
			t.Fatal(err)
		}
		r := c.Key(string(raw), nil)
		if !r.Encrypted || len(r.Diagnostics) != 1 || r.Diagnostics[0].Code != CodeKeyEncrypted || !strings.Contains(r.Diagnostics[0].Message, tc.kind) {
			t.Fatalf("%s: %+v", tc.file, r)
		}
		hint := r.Diagnostics[0].Hint
		i := strings.Index(hint, "openssl pkey")
		if i < 0 {
			t.Fatalf("hint gives no command: %s", hint)
		}
		cmd := strings.Fields(hint[i:])[:6] // openssl pkey -in KEYFILE -out key-unencrypted.pem
		cmd[3] = tc.file
		sh(strings.Join(cmd, " ") + " -passin pass:secret")
		plain, err := os.ReadFile(filepath.Join(dir, "key-unencrypted.pem"))
		if err != nil {
			t.Fatal(err)
		}
		if r := c.Key(string(plain), nil); !r.OK() || r.Encrypted || strings.Join(r.Recognised, "") != tc.desc {
			t.Errorf("%s: the hint's command gave %+v", tc.file, r)
		}
		if r := c.Key(string(raw), []byte("secret")); !r.OK() || !strings.HasPrefix(strings.Join(r.Recognised, ""), tc.desc) {
			t.Errorf("%s with pass phrase: %+v", tc.file, r)
		}
		if r := c.Key(string(raw), []byte("Secret")); len(r.Diagnostics) != 1 || r.Diagnostics[0].Code != CodeKeyWrongPassphrase {
			t.Errorf("%s wrong pass phrase: %+v", tc.file, r.Diagnostics)
		}
	}
}

// TestMaterialVerifiesWithOpenSSL: for every passing fixture, what save
// writes (leaf, served chain, anchors) verifies with openssl verify at the
// fixture's time, and the key is accepted by openssl as the leaf's key.
func TestMaterialVerifiesWithOpenSSL(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed: apt-get install openssl")
	}
	n := 0
	for _, fc := range loadFixtures(t) {
		r := Check(fc.In)
		if !r.OK() || r.Material == nil || len(r.Material.CAPEM) == 0 {
			continue
		}
		n++
		dir := t.TempDir()
		m := r.Material
		for name, data := range map[string][]byte{"cert.pem": m.LeafPEM, "key.pem": m.KeyPEM, "chain.pem": m.ChainPEM, "ca.pem": m.CAPEM} {
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		args := []string{"verify", "-partial_chain", "-attime", strconv.FormatInt(fc.Now.Unix(), 10), "-CAfile", "ca.pem"}
		if len(m.ChainPEM) > 0 {
			args = append(args, "-untrusted", "chain.pem")
		}
		cmd := exec.Command("openssl", append(args, "cert.pem")...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "cert.pem: OK") {
			t.Errorf("%s: openssl verify: %v\n%s", fc.Name, err, out)
		}
		// The key's public half equals the certificate's.
		pub := exec.Command("sh", "-c", `openssl pkey -in key.pem -pubout | openssl pkey -pubin -outform der | openssl dgst -sha256 -r; openssl x509 -in cert.pem -noout -pubkey | openssl pkey -pubin -outform der | openssl dgst -sha256 -r`)
		pub.Dir = dir
		out, err := pub.Output()
		if f := strings.Fields(string(out)); err != nil || len(f) < 4 || f[0] != f[2] {
			t.Errorf("%s: key and certificate differ per openssl: %v %s", fc.Name, err, out)
		}
	}
	if n < 10 {
		t.Fatalf("only %d passing fixtures checked", n)
	}
}
