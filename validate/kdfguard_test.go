package validate

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/smtptls/smtptls/internal/testpki"
	"github.com/youmark/pkcs8"
)

// encryptedKeyDER builds an encrypted-key structure with the given KDF
// parameters; the ciphertext is junk, only the cost is read first.
func encryptedKeyDER(t *testing.T, kdfOID asn1.ObjectIdentifier, kdfParams any) []byte {
	t.Helper()
	raw := func(v any) asn1.RawValue {
		b, err := asn1.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return asn1.RawValue{FullBytes: b}
	}
	aesCBC := pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}, Parameters: raw(make([]byte, 16))}
	p := pbes2Params{KDF: pkix.AlgorithmIdentifier{Algorithm: kdfOID, Parameters: raw(kdfParams)}, Enc: aesCBC}
	der, err := asn1.Marshal(encryptedKeyInfo{Algo: pkix.AlgorithmIdentifier{Algorithm: oidPBES2, Parameters: raw(p)}, Data: make([]byte, 48)})
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// TestExpensiveKDFRefused: a key asking for absurd derivation work is not
// decrypted (the wizard would freeze), and says why.
func TestExpensiveKDFRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		der  []byte
		want string
	}{
		{"pbkdf2", encryptedKeyDER(t, oidPBKDF2, pbkdf2Params{Salt: []byte("saltsalt"), Rounds: 1 << 31}), "PBKDF2 with 2147483648 rounds"},
		{"scrypt memory", encryptedKeyDER(t, oidScrypt, scryptParams{Salt: []byte("saltsalt"), N: 1 << 22, R: 8, P: 1}), "scrypt with N=4194304, r=8, p=1"},
		{"scrypt work", encryptedKeyDER(t, oidScrypt, scryptParams{Salt: []byte("saltsalt"), N: 1 << 14, R: 8, P: 1 << 20}), "scrypt with N=16384, r=8, p=1048576"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := string(pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: tc.der}))
			r := NewChecker(nil).Key(text, []byte("pw"))
			if len(r.Diagnostics) != 1 || r.Diagnostics[0].Code != CodeKeyEncrypted || !strings.Contains(r.Diagnostics[0].Message, tc.want) {
				t.Fatalf("%+v", r.Diagnostics)
			}
		})
	}
}

// TestUsualKDFCostsDecrypt: what real tools write passes the guard.
func TestUsualKDFCostsDecrypt(t *testing.T) {
	k, err := testpki.NewKey(testpki.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	for _, opts := range []*pkcs8.Opts{
		{Cipher: pkcs8.AES256CBC, KDFOpts: pkcs8.PBKDF2Opts{SaltSize: 16, IterationCount: 600_000, HMACHash: 5}},
		{Cipher: pkcs8.AES256CBC, KDFOpts: pkcs8.ScryptOpts{SaltSize: 16, CostParameter: 1 << 14, BlockSize: 8, ParallelizationParameter: 1}},
	} {
		der, err := pkcs8.MarshalPrivateKey(k, []byte("pw"), opts)
		if err != nil {
			t.Fatal(err)
		}
		if c := kdfTooExpensive(der); c != "" {
			t.Errorf("usual parameters refused: %s", c)
		}
		text := string(pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: der}))
		if r := NewChecker(nil).Key(text, []byte("pw")); !r.OK() || len(r.Recognised) != 1 {
			t.Errorf("%+v", r.Diagnostics)
		}
	}
}

// TestDamagedEncryptedKeyDoesNotPanic: ciphertext cut to a length that is
// not whole AES blocks made the decryptor panic (found by fuzzing).
func TestDamagedEncryptedKeyDoesNotPanic(t *testing.T) {
	der := encryptedKeyDER(t, oidPBKDF2, pbkdf2Params{Salt: []byte("saltsalt"), Rounds: 1000})
	// Rebuild with 47 bytes of ciphertext.
	var info encryptedKeyInfo
	if _, err := asn1.Unmarshal(der, &info); err != nil {
		t.Fatal(err)
	}
	info.Data = make([]byte, 47)
	der, err := asn1.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	text := string(pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: der}))
	r := NewChecker(nil).Key(text, []byte("pw"))
	if len(r.Diagnostics) != 1 || r.Diagnostics[0].Code != CodeDERInvalid || !strings.Contains(r.Diagnostics[0].Message, "damaged") {
		t.Fatalf("%+v", r.Diagnostics)
	}
}
