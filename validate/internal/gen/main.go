// Command gen writes the validate package's fixtures: one directory per
// case under ../testdata/cases (the repository's top-level testdata), with cert.pem, key.pem, ca.pem as an admin
// would paste them and case.json saying the clock, host name, pass phrase
// and the exact set of codes the check must report.
//
// Every key here is a throwaway made on the spot. Certificates that must
// stay valid live until 2125; the tests run at the fixed time in case.json,
// so time-dependent cases never rot.
//
// Run with: go generate ./validate
package main

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"log"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/youmark/pkcs8"

	"github.com/smtptls/smtptls/internal/testpki"
)

// Now is the clock every case is checked at.
var Now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

var (
	longStart = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	longEnd   = time.Date(2125, 1, 1, 0, 0, 0, 0, time.UTC)
)

const host = "mail.example.test"

// Case is one fixture's case.json.
type Case struct {
	Now        time.Time `json:"now"`
	Hostname   string    `json:"hostname,omitempty"`
	Passphrase string    `json:"passphrase,omitempty"`
	// PadCertificate appends this many bytes of text to the certificate
	// field at test time, so the 1 MiB limit is tested without a 1 MiB file.
	PadCertificate int      `json:"pad_certificate,omitempty"`
	Codes          []string `json:"codes"` // exactly these codes, any order, repeats allowed
	Note           string   `json:"note"`
}

type fixture struct {
	name          string
	cert, key, ca string
	c             Case
}

func main() {
	out := flag.String("out", "../testdata/cases", "directory to write the cases into")
	benchOut := flag.String("bench", "testdata/bench", "directory to write the benchmark inputs into")
	flag.Parse()
	g := &gen{}
	fs := g.cases()
	if err := os.RemoveAll(*out); err != nil {
		log.Fatal(err)
	}
	for _, f := range fs {
		dir := filepath.Join(*out, f.name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			log.Fatal(err)
		}
		f.c.Now = Now
		if f.c.Codes == nil {
			f.c.Codes = []string{}
		}
		cj, err := json.MarshalIndent(f.c, "", "  ")
		if err != nil {
			log.Fatal(err)
		}
		for name, data := range map[string]string{"cert.pem": f.cert, "key.pem": f.key, "ca.pem": f.ca, "case.json": string(cj) + "\n"} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
				log.Fatal(err)
			}
		}
	}
	// The benchmark inputs, also timed with openssl verify.
	bench := *benchOut
	if err := os.MkdirAll(bench, 0o755); err != nil {
		log.Fatal(err)
	}
	p := newPKI(testpki.Template{})
	for name, data := range map[string]string{
		"cert.pem": s(p.leaf.PEM()), "key.pem": s(p.leaf.KeyPEM()), "ca.pem": p.bundle(), "ca150.pem": g.bundle150(p),
	} {
		if err := os.WriteFile(filepath.Join(bench, name), []byte(data), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Printf("wrote %d cases\n", len(fs))
}

type gen struct{}

func must[T any](v T, err error) T {
	if err != nil {
		log.Fatal(err)
	}
	return v
}

func long(t testpki.Template) testpki.Template {
	t.Now = Now
	if t.NotBefore.IsZero() {
		t.NotBefore = longStart
	}
	if t.NotAfter.IsZero() {
		t.NotAfter = longEnd
	}
	return t
}

// pki is root → intermediate with a leaf issued by tmpl.
type pki struct {
	root, inter, leaf *testpki.Cert
}

func newPKI(leaf testpki.Template) pki {
	root := must(testpki.NewRoot(long(testpki.Template{CommonName: "Fixture Root CA"})))
	inter := must(root.Issue(long(testpki.Template{CommonName: "Fixture Intermediate CA", IsCA: true})))
	if leaf.CommonName == "" {
		leaf.CommonName = host
		leaf.DNSNames = []string{host}
	}
	l := must(inter.Issue(long(leaf)))
	return pki{root, inter, l}
}

func (p pki) bundle() string { return s(p.inter.PEM()) + s(p.root.PEM()) }

func s(b []byte) string { return string(b) }

func keyPEM(label string, der []byte) string {
	return s(pem.EncodeToMemory(&pem.Block{Type: label, Bytes: der}))
}

func pkcs1(k crypto.Signer) string {
	return keyPEM("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(k.(*rsa.PrivateKey)))
}

func sec1(k crypto.Signer) string {
	return keyPEM("EC PRIVATE KEY", must(x509.MarshalECPrivateKey(k.(*ecdsa.PrivateKey))))
}

// crlfIndented turns text into what a Windows editor and an indenting mail
// client make of it.
func crlfIndented(t string) string {
	lines := strings.Split(strings.TrimRight(t, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "    " + l
	}
	return strings.Join(lines, "\r\n") // and no final newline
}

// oneLine is what a web form or chat client makes of a PEM block.
func oneLine(t string, sep string) string {
	return strings.ReplaceAll(strings.TrimRight(t, "\n"), "\n", sep)
}

func selfSignedLeaf() *testpki.Cert {
	k := must(testpki.NewKey(testpki.ECDSAP256))
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(42), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: longStart, NotAfter: longEnd, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der := must(x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k))
	return &testpki.Cert{Cert: must(x509.ParseCertificate(der)), Key: k}
}

func csr(k crypto.Signer) string {
	der := must(x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: host}, DNSNames: []string{host}}, k))
	return keyPEM("CERTIFICATE REQUEST", der)
}

const bagAttributes = `Bag Attributes
    friendlyName: mail.example.test
    localKeyID: 01 02 03 04
subject=CN = mail.example.test
issuer=CN = Fixture Intermediate CA
`

const textDump = `Certificate:
    Data:
        Version: 3 (0x2)
        Serial Number: 1234 (0x4d2)
        Signature Algorithm: ecdsa-with-SHA256
        Issuer: CN = Fixture Root CA
        Subject: CN = Fixture Intermediate CA
`

func (g *gen) cases() []fixture {
	var fs []fixture
	add := func(name string, cert, key, ca string, c Case) {
		fs = append(fs, fixture{name, cert, key, ca, c})
	}
	codes := func(cs ...string) []string { return cs }

	// Good inputs in every key encoding and paste style.
	p := newPKI(testpki.Template{})
	add("ok_ecdsa_pkcs8", s(p.leaf.PEM()), s(p.leaf.KeyPEM()), p.bundle(), Case{Hostname: host, Note: "the plain good case"})

	p = newPKI(testpki.Template{KeyType: testpki.RSA2048})
	add("ok_rsa_pkcs1", s(p.leaf.PEM()), pkcs1(p.leaf.Key), p.bundle(), Case{Hostname: host, Note: "RSA key as PKCS#1"})

	p = newPKI(testpki.Template{KeyType: testpki.ECDSAP384})
	params := keyPEM("EC PARAMETERS", []byte{0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22}) // OID secp384r1
	add("ok_ec_sec1_params", s(p.leaf.PEM()), params+sec1(p.leaf.Key), p.bundle(), Case{Hostname: host, Note: "openssl ecparam -genkey output: EC PARAMETERS then SEC1"})

	p = newPKI(testpki.Template{})
	add("ok_crlf_indent_text", bagAttributes+crlfIndented(s(p.leaf.PEM())),
		"\n\n"+strings.ReplaceAll(s(p.leaf.KeyPEM()), "\n", "\r"),
		textDump+s(p.inter.PEM())+"\n\n"+textDump+s(p.root.PEM())+"\nsome trailing words",
		Case{Hostname: host, Note: "CRLF, indentation, no final newline, Bag Attributes; lone CR in the key; openssl -text dumps in the bundle"})

	p = newPKI(testpki.Template{CommonName: "*.example.test", DNSNames: []string{"*.example.test"}})
	add("ok_wildcard", s(p.leaf.PEM()), s(p.leaf.KeyPEM()), p.bundle(), Case{Hostname: host, Note: "a wildcard covers one label"})
	add("cert_hostname_mismatch_wildcard", s(p.leaf.PEM()), s(p.leaf.KeyPEM()), p.bundle(), Case{Hostname: "a.mail.example.test", Codes: codes("cert_hostname_mismatch"), Note: "a wildcard does not cover two labels"})

	p = newPKI(testpki.Template{})
	add("pem_line_breaks_repaired", oneLine(s(p.leaf.PEM()), ""), oneLine(s(p.leaf.KeyPEM()), " "), p.bundle(),
		Case{Hostname: host, Codes: codes("pem_line_breaks_repaired", "pem_line_breaks_repaired"), Note: "certificate glued into one line, key with spaces for line breaks"})

	add("field_too_large", s(p.leaf.PEM()), s(p.leaf.KeyPEM()), p.bundle(), Case{PadCertificate: 1<<20 + 1, Codes: codes("field_too_large"), Note: "the test appends text past 1 MiB"})
	add("pem_none", "mail.example.test.crt\n", s(p.leaf.KeyPEM()), p.bundle(), Case{Codes: codes("pem_none"), Note: "a file name instead of its contents"})

	lines := strings.Split(s(p.leaf.PEM()), "\n")
	add("pem_no_end", strings.Join(lines[:len(lines)-4], "\n")+"\n", s(p.leaf.KeyPEM()), p.bundle(), Case{Codes: codes("pem_no_end"), Note: "paste cut off before the END line"})

	bad := append([]string(nil), lines...)
	bad[4] = bad[4][:10] + "!" + bad[4][11:]
	add("pem_bad_base64", strings.Join(bad, "\n"), s(p.leaf.KeyPEM()), p.bundle(), Case{Codes: codes("pem_bad_base64"), Note: "one character damaged on line 5"})

	add("der_invalid", keyPEM("CERTIFICATE", []byte("\x30\x03\x02\x01\x01 this is not a certificate")), s(p.leaf.KeyPEM()), p.bundle(), Case{Codes: codes("der_invalid"), Note: "base64 fine, DER not a certificate"})

	add("der_not_pem", s(p.leaf.Cert.Raw), s(p.leaf.KeyPEM()), p.bundle(), Case{Codes: codes("der_not_pem"), Note: "a binary .cer/.der file given as the certificate"})
	add("pkcs12_not_pem", s(p.leaf.PEM()), pfxLike(), p.bundle(), Case{Codes: codes("pkcs12_not_pem"), Note: "a .pfx file given as the key"})
	add("wrong_block_private_key", s(p.leaf.KeyPEM()), s(p.leaf.KeyPEM()), p.bundle(), Case{Codes: codes("wrong_block_private_key"), Note: "the key pasted into the certificate field"})
	add("wrong_block_certificate", s(p.leaf.PEM()), s(p.leaf.PEM()), p.bundle(), Case{Codes: codes("wrong_block_certificate"), Note: "the certificate pasted into the key field"})
	pub := keyPEM("PUBLIC KEY", must(x509.MarshalPKIXPublicKey(p.leaf.Key.Public())))
	add("wrong_block_public_key", s(p.leaf.PEM()), pub, p.bundle(), Case{Codes: codes("wrong_block_public_key"), Note: "the public key instead of the private key"})
	add("wrong_block_csr", csr(p.leaf.Key), s(p.leaf.KeyPEM()), p.bundle(), Case{Codes: codes("wrong_block_csr"), Note: "the CSR instead of the issued certificate"})
	add("wrong_block_pkcs7", s(p.leaf.PEM()), s(p.leaf.KeyPEM()), keyPEM("PKCS7", p.inter.Cert.Raw), Case{Codes: codes("wrong_block_pkcs7", "chain_missing_intermediate"), Note: "a .p7b pasted as the bundle"})
	add("wrong_block_unknown", s(p.leaf.PEM()), s(p.leaf.KeyPEM()), p.bundle()+keyPEM("X509 CRL", []byte{0x30, 0}), Case{Codes: codes("wrong_block_unknown"), Note: "a CRL in the bundle"})
	add("wrong_block_key_in_bundle", s(p.leaf.PEM()), s(p.leaf.KeyPEM()), p.bundle()+s(p.leaf.KeyPEM()), Case{Codes: codes("wrong_block_private_key"), Note: "the key appended to the bundle"})

	add("cert_empty", "", s(p.leaf.KeyPEM()), p.bundle(), Case{Codes: codes("cert_empty")})
	add("cert_full_chain", s(p.leaf.PEM())+s(p.inter.PEM())+s(p.root.PEM()), s(p.leaf.KeyPEM()), "", Case{Hostname: host, Codes: codes("cert_full_chain"), Note: "fullchain.pem in the certificate field, no bundle"})
	add("cert_full_chain_ca_first", s(p.inter.PEM())+s(p.leaf.PEM()), s(p.leaf.KeyPEM()), s(p.root.PEM()), Case{Hostname: host, Codes: codes("cert_full_chain"), Note: "CA certificate pasted first: not a key mismatch"})

	for _, tc := range []struct {
		name   string
		t      testpki.Template
		codes  []string
		hostOK bool
		note   string
	}{
		{"cert_expired", testpki.Template{NotBefore: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}, codes("cert_expired"), true, ""},
		{"cert_not_yet_valid", testpki.Template{NotBefore: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}, codes("cert_not_yet_valid"), true, ""},
		{"cert_expiring_soon", testpki.Template{NotAfter: Now.AddDate(0, 0, 12)}, codes("cert_expiring_soon"), true, ""},
		{"cert_no_server_auth", testpki.Template{ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, codes("cert_no_server_auth"), true, "a client certificate"},
		{"ok_no_eku", testpki.Template{NoExtKeyUsage: true}, nil, true, "no extended key usage at all means any use"},
		{"cert_weak_rsa", testpki.Template{KeyType: testpki.RSA1024}, codes("cert_weak_rsa"), true, ""},
		{"key_ed25519", testpki.Template{KeyType: testpki.Ed25519}, codes("key_ed25519"), true, ""},
		{"cert_hostname_mismatch", testpki.Template{CommonName: "other.example.test", DNSNames: []string{"other.example.test", "www.example.test"}}, codes("cert_hostname_mismatch"), false, ""},
		{"cert_hostname_cn_only", testpki.Template{CommonName: host}, codes("cert_hostname_mismatch"), false, "CN but no SANs: peers ignore the CN"},
	} {
		p := newPKI(tc.t)
		add(tc.name, s(p.leaf.PEM()), s(p.leaf.KeyPEM()), p.bundle(), Case{Hostname: host, Codes: tc.codes, Note: tc.note})
	}

	p = newPKI(testpki.Template{})
	add("cert_is_ca", s(p.inter.PEM()), s(p.inter.KeyPEM()), s(p.root.PEM()), Case{Codes: codes("cert_is_ca"), Note: "the intermediate and its key where the server's belong"})

	// SHA-1: an RSA CA signing with SHA-1.
	{
		root := must(testpki.NewRoot(long(testpki.Template{CommonName: "Fixture RSA Root", KeyType: testpki.RSA2048})))
		leaf := must(root.Issue(long(testpki.Template{CommonName: host, DNSNames: []string{host}, SignatureAlgorithm: x509.SHA1WithRSA})))
		add("cert_sha1_signature", s(leaf.PEM()), s(leaf.KeyPEM()), s(root.PEM()), Case{Hostname: host, Codes: codes("cert_sha1_signature")})
	}

	ss := selfSignedLeaf()
	add("cert_self_signed", s(ss.PEM()), s(ss.KeyPEM()), "", Case{Hostname: host, Codes: codes("cert_self_signed")})

	// P-224: parses, but no TLS peer takes it.
	{
		k := must(ecdsa.GenerateKey(elliptic.P224(), rand.Reader))
		p := newPKI(testpki.Template{Key: k})
		add("cert_unsupported_key", s(p.leaf.PEM()), s(p.leaf.KeyPEM()), p.bundle(), Case{Hostname: host, Codes: codes("cert_unsupported_key", "key_unsupported"), Note: "ECDSA P-224"})
		x := must(ecdh.X25519().GenerateKey(rand.Reader))
		p = newPKI(testpki.Template{})
		add("key_unsupported", s(p.leaf.PEM()), keyPEM("PRIVATE KEY", must(x509.MarshalPKCS8PrivateKey(x))), p.bundle(), Case{Hostname: host, Codes: codes("key_unsupported"), Note: "an X25519 key-agreement key"})
	}

	p = newPKI(testpki.Template{})
	add("key_empty", s(p.leaf.PEM()), "  \n", p.bundle(), Case{Hostname: host, Codes: codes("key_empty")})

	const pass = "correct horse battery staple"
	enc8 := keyPEM("ENCRYPTED PRIVATE KEY", must(pkcs8.MarshalPrivateKey(p.leaf.Key, []byte(pass), nil)))
	add("key_encrypted_pkcs8", s(p.leaf.PEM()), enc8, p.bundle(), Case{Hostname: host, Codes: codes("key_encrypted")})
	add("ok_key_encrypted_pkcs8_passphrase", s(p.leaf.PEM()), enc8, p.bundle(), Case{Hostname: host, Passphrase: pass, Note: "decrypted in memory"})
	add("key_passphrase_wrong_pkcs8", s(p.leaf.PEM()), enc8, p.bundle(), Case{Hostname: host, Passphrase: "wrong", Codes: codes("key_passphrase_wrong")})

	pr := newPKI(testpki.Template{KeyType: testpki.RSA2048})
	// EncryptPEMBlock is deprecated (weak legacy encryption), but such keys
	// are what admins paste, so the fixtures need them.
	//lint:ignore SA1019 writing the legacy format is the purpose (see above)
	legacy := s(pem.EncodeToMemory(must(x509.EncryptPEMBlock(rand.Reader, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(pr.leaf.Key.(*rsa.PrivateKey)), []byte(pass), x509.PEMCipherAES256)))) //nolint:staticcheck // see above
	add("key_encrypted_legacy", s(pr.leaf.PEM()), legacy, pr.bundle(), Case{Hostname: host, Codes: codes("key_encrypted"), Note: "Proc-Type: 4,ENCRYPTED"})
	add("ok_key_encrypted_legacy_passphrase", s(pr.leaf.PEM()), legacy, pr.bundle(), Case{Hostname: host, Passphrase: pass})
	add("key_passphrase_wrong_legacy", s(pr.leaf.PEM()), legacy, pr.bundle(), Case{Hostname: host, Passphrase: "wrong", Codes: codes("key_passphrase_wrong")})

	other := must(testpki.NewKey(testpki.ECDSAP256))
	otherPEM := keyPEM("PRIVATE KEY", must(x509.MarshalPKCS8PrivateKey(other)))
	add("key_multiple", s(p.leaf.PEM()), s(p.leaf.KeyPEM())+otherPEM, p.bundle(), Case{Hostname: host, Codes: codes("key_multiple")})
	add("key_mismatch", s(p.leaf.PEM()), otherPEM, p.bundle(), Case{Hostname: host, Codes: codes("key_mismatch"), Note: "a key from another CSR"})
	add("key_mismatch_type", s(pr.leaf.PEM()), otherPEM, pr.bundle(), Case{Hostname: host, Codes: codes("key_mismatch"), Note: "an ECDSA key for an RSA certificate"})

	// Renewal mix-up: the old certificate in the certificate field, the new
	// one (matching the key) pasted into the bundle.
	renewed := must(p.inter.Issue(long(testpki.Template{CommonName: host, DNSNames: []string{host}})))
	add("key_matches_other_cert", s(p.leaf.PEM()), s(renewed.KeyPEM()), p.bundle()+s(renewed.PEM()),
		Case{Hostname: host, Codes: codes("key_matches_other_cert"), Note: "the key belongs to the other server certificate in the bundle: the certificate field is wrong"})
	add("key_matches_ca", s(p.leaf.PEM()), s(p.inter.KeyPEM()), p.bundle(),
		Case{Hostname: host, Codes: codes("key_matches_other_cert"), Note: "the intermediate's key: the key field is wrong"})

	add("bundle_leaf_removed", s(p.leaf.PEM()), s(p.leaf.KeyPEM()), s(p.leaf.PEM())+p.bundle(), Case{Hostname: host, Codes: codes("bundle_leaf_removed"), Note: "fullchain.pem pasted as the bundle"})
	add("bundle_duplicate", s(p.leaf.PEM()), s(p.leaf.KeyPEM()), s(p.inter.PEM())+s(p.inter.PEM())+s(p.root.PEM()), Case{Hostname: host, Codes: codes("bundle_duplicate")})
	add("bundle_reordered", s(p.leaf.PEM()), s(p.leaf.KeyPEM()), s(p.root.PEM())+s(p.inter.PEM()), Case{Hostname: host, Codes: codes("bundle_reordered")})
	stranger := must(testpki.NewRoot(long(testpki.Template{CommonName: "Some Other Root CA"})))
	add("bundle_unrelated", s(p.leaf.PEM()), s(p.leaf.KeyPEM()), p.bundle()+s(stranger.PEM()), Case{Hostname: host, Codes: codes("bundle_unrelated")})
	oldCA := must(testpki.NewRoot(testpki.Template{CommonName: "Retired Root CA", Now: Now, NotBefore: time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}))
	add("bundle_cert_expired", s(p.leaf.PEM()), s(p.leaf.KeyPEM()), p.bundle()+s(oldCA.PEM()), Case{Hostname: host, Codes: codes("bundle_cert_expired"), Note: "an expired CA not on the chain"})

	add("chain_missing_intermediate", s(p.leaf.PEM()), s(p.leaf.KeyPEM()), s(p.root.PEM()), Case{Hostname: host, Codes: codes("chain_missing_intermediate")})
	add("chain_missing_intermediate_no_bundle", s(p.leaf.PEM()), s(p.leaf.KeyPEM()), "", Case{Hostname: host, Codes: codes("chain_missing_intermediate"), Note: "--ca left out"})
	add("chain_no_root", s(p.leaf.PEM()), s(p.leaf.KeyPEM()), s(p.inter.PEM()), Case{Hostname: host, Codes: codes("chain_no_root"), Note: "intermediate only, root in no trust store: a warning"})

	{
		root := must(testpki.NewRoot(long(testpki.Template{CommonName: "Fixture Root CA"})))
		inter := must(root.Issue(testpki.Template{CommonName: "Expired Intermediate CA", IsCA: true, Now: Now, NotBefore: longStart, NotAfter: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}))
		leaf := must(inter.Issue(long(testpki.Template{CommonName: host, DNSNames: []string{host}})))
		soon := must(root.Issue(testpki.Template{CommonName: "Retiring Intermediate CA", IsCA: true, Now: Now, NotBefore: longStart, NotAfter: Now.AddDate(0, 0, 20)}))
		leaf3 := must(soon.Issue(long(testpki.Template{CommonName: host, DNSNames: []string{host}})))
		add("chain_expiring_soon", s(leaf3.PEM()), s(leaf3.KeyPEM()), s(soon.PEM())+s(root.PEM()), Case{Hostname: host, Codes: codes("chain_expiring_soon"), Note: "the intermediate expires in 20 days, the leaf much later"})
		add("chain_expired_intermediate", s(leaf.PEM()), s(leaf.KeyPEM()), s(inter.PEM())+s(root.PEM()), Case{Hostname: host, Codes: codes("chain_expired_intermediate")})

		notCA := must(root.Issue(long(testpki.Template{CommonName: "Not A CA"})))
		leaf2 := must(notCA.Issue(long(testpki.Template{CommonName: host, DNSNames: []string{host}})))
		add("chain_issuer_not_ca", s(leaf2.PEM()), s(leaf2.KeyPEM()), s(notCA.PEM())+s(root.PEM()), Case{Hostname: host, Codes: codes("chain_issuer_not_ca"), Note: "signed by a certificate that is not a CA"})
	}
	return fs
}

// bundle150 is p's intermediate followed by a whole system CA store's
// worth of roots (150 certificates in all, p's root among them): mostly
// RSA, as real stores are, with some ECDSA ones.
func (g *gen) bundle150(p pki) string {
	var b strings.Builder
	b.Write(p.inter.PEM())
	for i := 0; i < 148; i++ {
		if i == 100 {
			b.WriteString("# Fixture Root CA\n")
			b.Write(p.root.PEM())
		}
		kt := testpki.RSA2048
		if i%4 == 0 {
			kt = testpki.ECDSAP384
		}
		r := must(testpki.NewRoot(long(testpki.Template{CommonName: fmt.Sprintf("Bench Root CA %03d", i), KeyType: kt})))
		fmt.Fprintf(&b, "# Bench Root CA %03d\n", i)
		b.Write(r.PEM())
	}
	return b.String()
}

// pfxLike is the outer structure of a PKCS#12 file (version 3, authSafe of
// type data) around junk: enough to be recognised, nothing to extract.
func pfxLike() string {
	type contentInfo struct {
		Type    asn1.ObjectIdentifier
		Content asn1.RawValue `asn1:"tag:0,explicit,optional"`
	}
	type pfx struct {
		Version  int
		AuthSafe contentInfo
	}
	der := must(asn1.Marshal(pfx{3, contentInfo{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}, asn1.RawValue{Tag: 4, Bytes: make([]byte, 64)}}}))
	return s(der)
}
