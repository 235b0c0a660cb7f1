package validate

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
)

// An encrypted PKCS#8 key names its own key-derivation cost. A pasted key
// asking for billions of PBKDF2 rounds (or gigabytes of scrypt memory)
// would freeze the wizard, so the cost is read first and refused when it
// is far beyond what any tool writes (OpenSSL 3: 2,048 rounds; the
// heaviest common defaults: about 600,000 rounds, scrypt N=2^20).
const (
	maxPBKDF2Rounds  = 2_000_000
	maxScryptMemory  = 256 << 20 // bytes: 128 * N * r
	maxScryptWorkNRP = 1 << 24   // N * r * p
)

var (
	oidPBES2  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidScrypt = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11591, 4, 11}
)

type encryptedKeyInfo struct {
	Algo pkix.AlgorithmIdentifier
	Data []byte
}

type pbes2Params struct {
	KDF pkix.AlgorithmIdentifier
	Enc pkix.AlgorithmIdentifier
}

type pbkdf2Params struct {
	Salt   []byte
	Rounds int64
}

type scryptParams struct {
	Salt      []byte
	N, R, P   int64
	KeyLength int `asn1:"optional"`
}

// kdfTooExpensive reports a description of the cost when the encrypted
// key's derivation would take unreasonably long; "" when it is fine or
// when the structure is not one we can read (the decryptor then explains).
func kdfTooExpensive(der []byte) string {
	var info encryptedKeyInfo
	if _, err := asn1.Unmarshal(der, &info); err != nil || !info.Algo.Algorithm.Equal(oidPBES2) {
		return ""
	}
	var p pbes2Params
	if _, err := asn1.Unmarshal(info.Algo.Parameters.FullBytes, &p); err != nil {
		return ""
	}
	switch {
	case p.KDF.Algorithm.Equal(oidPBKDF2):
		var k pbkdf2Params
		if _, err := asn1.Unmarshal(p.KDF.Parameters.FullBytes, &k); err != nil {
			return ""
		}
		if k.Rounds > maxPBKDF2Rounds || k.Rounds < 1 {
			return fmt.Sprintf("PBKDF2 with %d rounds", k.Rounds)
		}
	case p.KDF.Algorithm.Equal(oidScrypt):
		var k scryptParams
		if _, err := asn1.Unmarshal(p.KDF.Parameters.FullBytes, &k); err != nil {
			return ""
		}
		if k.N < 1 || k.R < 1 || k.P < 1 || k.N > maxScryptWorkNRP || k.R > maxScryptWorkNRP || k.P > maxScryptWorkNRP ||
			128*k.N*k.R > maxScryptMemory || k.N*k.R*k.P > maxScryptWorkNRP {
			return fmt.Sprintf("scrypt with N=%d, r=%d, p=%d", k.N, k.R, k.P)
		}
	}
	return ""
}
