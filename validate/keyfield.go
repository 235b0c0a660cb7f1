package validate

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/youmark/pkcs8"
)

// keyParse is the cached reading of the key field for one pass phrase.
type keyParse struct {
	diags     []Diagnostic
	key       crypto.Signer
	line      int
	encrypted bool
	desc      string
	label     string // of the key's block, to tell what save converts
}

func parseKeyField(text string, passphrase []byte) *keyParse {
	blocks, ds, stop := fieldPrecheck(FieldKey, text, CodeKeyEmpty)
	p := &keyParse{diags: ds}
	if stop {
		return p
	}
	found := 0
	for _, b := range blocks {
		switch b.Label {
		case "EC PARAMETERS":
			continue // openssl ecparam -genkey writes it before the key
		case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY":
		default:
			if b.Label == "OPENSSH PRIVATE KEY" {
				p.diags = append(p.diags, diag(FieldKey, CodeKeyUnsupported, b.Line, fmt.Sprintf("The key field holds an OpenSSH key (line %d), not a TLS private key.", b.Line)))
				continue
			}
			d, _ := wrongBlock(FieldKey, b)
			p.diags = append(p.diags, d)
			continue
		}
		found++
		if found > 1 {
			p.diags = append(p.diags, diag(FieldKey, CodeKeyMultiple, b.Line, fmt.Sprintf("The key field holds more than one private key; the one on line %d is extra.", b.Line)))
			continue
		}
		p.line = b.Line
		key, d := decodeKey(b, passphrase, p)
		if d != nil {
			p.diags = append(p.diags, *d)
			continue
		}
		p.key = key
		p.label = b.Label
		p.desc = keyDescString(key.Public()) + " private key"
		if p.encrypted {
			p.desc += " (decrypted with the pass phrase)"
		}
		if _, ok := key.(ed25519.PrivateKey); ok {
			p.diags = append(p.diags, diag(FieldKey, CodeKeyEd25519, b.Line, fmt.Sprintf("The key on line %d is an Ed25519 key.", b.Line)))
		}
	}
	if found == 0 && len(p.diags) == 0 {
		p.diags = append(p.diags, diag(FieldKey, CodeKeyEmpty, 0, "The key field has no private key."))
	}
	return p
}

// decodeKey turns one key block into a key, decrypting it when it is
// encrypted and a pass phrase was given.
func decodeKey(b block, passphrase []byte, p *keyParse) (crypto.Signer, *Diagnostic) {
	der := b.Bytes
	encMsg := func(kind string) *Diagnostic {
		d := diag(FieldKey, CodeKeyEncrypted, b.Line, fmt.Sprintf("The private key on line %d is encrypted (%s) and needs its pass phrase.", b.Line, kind))
		return &d
	}
	wrongPass := func() *Diagnostic {
		d := diag(FieldKey, CodeKeyWrongPassphrase, b.Line, fmt.Sprintf("The pass phrase does not decrypt the private key on line %d.", b.Line))
		return &d
	}
	switch {
	case b.Label == "ENCRYPTED PRIVATE KEY":
		p.encrypted = true
		if len(passphrase) == 0 {
			return nil, encMsg("PKCS#8")
		}
		if cost := kdfTooExpensive(der); cost != "" {
			d := diag(FieldKey, CodeKeyEncrypted, b.Line, fmt.Sprintf("The private key on line %d is encrypted with %s, far more than any tool writes; it was not decrypted here.", b.Line, cost))
			return nil, &d
		}
		k, err := decryptPKCS8(der, passphrase)
		if err != nil {
			if strings.Contains(err.Error(), "only") || strings.Contains(err.Error(), "unsupported") {
				d := diag(FieldKey, CodeKeyEncrypted, b.Line, fmt.Sprintf("The private key on line %d is encrypted with an old scheme this tool cannot decrypt.", b.Line))
				return nil, &d
			}
			if strings.Contains(err.Error(), "damaged") {
				d := diag(FieldKey, CodeDERInvalid, b.Line, fmt.Sprintf("The %s block on line %d is damaged: its encrypted data is not whole cipher blocks.", b.Label, b.Line), "{label}", "encrypted private key")
				return nil, &d
			}
			return nil, wrongPass()
		}
		return asSigner(k, b)
	case strings.Contains(b.Headers["Proc-Type"], "ENCRYPTED"):
		p.encrypted = true
		if len(passphrase) == 0 {
			return nil, encMsg("legacy OpenSSL, Proc-Type: 4,ENCRYPTED")
		}
		// DecryptPEMBlock is deprecated because legacy PEM encryption is
		// weak by design; admins still have such keys, and decrypting them
		// in memory so they are stored as plain PKCS#8 is the point here.
		//lint:ignore SA1019 reading the legacy format is the purpose (see above)
		plain, err := x509.DecryptPEMBlock(&pem.Block{Type: b.Label, Headers: b.Headers, Bytes: der}, passphrase) //nolint:staticcheck // see above
		if err != nil {
			if errors.Is(err, x509.IncorrectPasswordError) {
				return nil, wrongPass()
			}
			d := diag(FieldKey, CodeKeyEncrypted, b.Line, fmt.Sprintf("The private key on line %d is encrypted in a way this tool cannot decrypt (%s).", b.Line, derReason(err)))
			return nil, &d
		}
		der = plain
	}
	k, err := parseAnyKey(der)
	if err != nil {
		if p.encrypted {
			return nil, wrongPass() // legacy decryption has a weak padding check
		}
		if strings.Contains(err.Error(), "unknown") || strings.Contains(err.Error(), "unsupported") {
			d := diag(FieldKey, CodeKeyUnsupported, b.Line, fmt.Sprintf("The private key on line %d is of a kind this tool cannot use (%s).", b.Line, derReason(err)))
			return nil, &d
		}
		msg := fmt.Sprintf("The %s block on line %d is damaged: it is not a valid private key (%s), so a character of it was changed or lost somewhere in lines %d to %d.", b.Label, b.Line, derReason(err), b.Line, max(b.EndLine, b.Line))
		at := b.damagedDERLine()
		if at != b.Line {
			msg = fmt.Sprintf("The %s block on line %d is damaged at line %d: it is not a valid private key (%s).", b.Label, b.Line, at, derReason(err))
		}
		d := diag(FieldKey, CodeDERInvalid, at, msg, "{label}", "private key")
		return nil, &d
	}
	if ek, ok := k.(*ecdsa.PrivateKey); ok && ecKeyDamaged(der, ek) {
		d := diag(FieldKey, CodeDERInvalid, b.Line, fmt.Sprintf("The private key on line %d is damaged: its private part does not match the public key stored with it, so a character of it was changed or lost somewhere in lines %d to %d.", b.Line, b.Line, max(b.EndLine, b.Line)), "{label}", "private key")
		return nil, &d
	}
	return asSigner(k, b)
}

// parseAnyKey tries every unencrypted encoding: labels are often wrong
// (PKCS#1 content under "PRIVATE KEY" and so on).
func parseAnyKey(der []byte) (any, error) {
	k, err8 := x509.ParsePKCS8PrivateKey(der)
	if err8 == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	return nil, err8
}

func asSigner(k any, b block) (crypto.Signer, *Diagnostic) {
	switch k := k.(type) {
	case *rsa.PrivateKey:
		return k, nil
	case *ecdsa.PrivateKey:
		switch k.Curve.Params().Name {
		case "P-256", "P-384", "P-521":
			return k, nil
		}
		d := diag(FieldKey, CodeKeyUnsupported, b.Line, fmt.Sprintf("The private key on line %d is an ECDSA key on curve %s, which TLS peers do not support.", b.Line, k.Curve.Params().Name))
		return nil, &d
	case ed25519.PrivateKey:
		return k, nil
	}
	d := diag(FieldKey, CodeKeyUnsupported, b.Line, fmt.Sprintf("The private key on line %d is of type %s, which cannot sign TLS handshakes.", b.Line, keyKind(k)))
	return nil, &d
}

func keyKind(k any) string {
	s := fmt.Sprintf("%T", k)
	if strings.Contains(s, "ecdh") {
		return "X25519/ECDH (key agreement only)"
	}
	return strings.TrimPrefix(s, "*")
}

// decryptPKCS8 calls the decryptor, which panics on ciphertext that is not
// whole cipher blocks (a damaged paste); that becomes an error here.
func decryptPKCS8(der, passphrase []byte) (k any, err error) {
	defer func() {
		if r := recover(); r != nil {
			k, err = nil, fmt.Errorf("the encrypted data is damaged: %v", r)
		}
	}()
	return pkcs8.ParsePKCS8PrivateKey(der, passphrase)
}
