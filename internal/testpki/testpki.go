// Package testpki makes throwaway certificate chains for tests and for the
// fixture generator: root → intermediate → leaf, any key type, any clock.
package testpki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"time"
)

// KeyType names a key algorithm and size.
type KeyType string

const (
	ECDSAP256 KeyType = "ecdsa-p256"
	ECDSAP384 KeyType = "ecdsa-p384"
	RSA2048   KeyType = "rsa-2048"
	RSA1024   KeyType = "rsa-1024" // too weak: for negative tests
	Ed25519   KeyType = "ed25519"
)

// NewKey makes a private key of type t.
func NewKey(t KeyType) (crypto.Signer, error) {
	switch t {
	case ECDSAP256, "":
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case ECDSAP384:
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case RSA2048:
		return rsa.GenerateKey(rand.Reader, 2048)
	case RSA1024:
		return rsa.GenerateKey(rand.Reader, 1024)
	case Ed25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}
	return nil, fmt.Errorf("unknown key type %q", t)
}

// Cert is a certificate with its key.
type Cert struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// PEM is the certificate as a PEM block.
func (c *Cert) PEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Cert.Raw})
}

// KeyPEM is the private key as PKCS#8 PEM.
func (c *Cert) KeyPEM() []byte {
	der, err := x509.MarshalPKCS8PrivateKey(c.Key)
	if err != nil {
		panic(fmt.Sprintf("testpki: marshal key: %v", err)) // only our own key types reach here
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// Template describes a certificate to issue. Zero values get sensible test
// defaults: valid from an hour before Now for ten years, ECDSA P-256.
type Template struct {
	CommonName string
	DNSNames   []string
	IsCA       bool
	KeyType    KeyType
	Key        crypto.Signer // reuse a key instead of making one
	Now        time.Time     // defaults to time.Now()
	NotBefore  time.Time
	NotAfter   time.Time
	// ExtKeyUsage defaults to serverAuth for leaves; set NoExtKeyUsage to
	// issue a leaf without any.
	ExtKeyUsage        []x509.ExtKeyUsage
	NoExtKeyUsage      bool
	SignatureAlgorithm x509.SignatureAlgorithm
}

func (t Template) build() (*x509.Certificate, crypto.Signer, error) {
	key := t.Key
	if key == nil {
		var err error
		if key, err = NewKey(t.KeyType); err != nil {
			return nil, nil, err
		}
	}
	now := t.Now
	if now.IsZero() {
		now = time.Now()
	}
	nb, na := t.NotBefore, t.NotAfter
	if nb.IsZero() {
		nb = now.Add(-time.Hour)
	}
	if na.IsZero() {
		na = now.AddDate(10, 0, 0)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	c := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: t.CommonName, Organization: []string{"smtptls test"}},
		DNSNames:              t.DNSNames,
		NotBefore:             nb,
		NotAfter:              na,
		BasicConstraintsValid: true,
		IsCA:                  t.IsCA,
		SignatureAlgorithm:    t.SignatureAlgorithm,
	}
	if t.IsCA {
		c.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	} else {
		c.KeyUsage = x509.KeyUsageDigitalSignature
		if _, isRSA := key.(*rsa.PrivateKey); isRSA {
			c.KeyUsage |= x509.KeyUsageKeyEncipherment
		}
		switch {
		case t.NoExtKeyUsage:
		case t.ExtKeyUsage != nil:
			c.ExtKeyUsage = t.ExtKeyUsage
		default:
			c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		}
	}
	return c, key, nil
}

// NewRoot makes a self-signed CA.
func NewRoot(t Template) (*Cert, error) {
	t.IsCA = true
	tmpl, key, err := t.build()
	if err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("self-sign %q: %w", t.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &Cert{Cert: cert, Key: key}, nil
}

// Issue signs a new certificate with c.
func (c *Cert) Issue(t Template) (*Cert, error) {
	tmpl, key, err := t.build()
	if err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.Cert, key.Public(), c.Key)
	if err != nil {
		return nil, fmt.Errorf("issue %q: %w", t.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &Cert{Cert: cert, Key: key}, nil
}

// Chain is a three-level PKI as a public CA would hand it out.
type Chain struct {
	Root, Intermediate, Leaf *Cert
}

// NewChain makes root → intermediate → leaf for hostnames (the first is the
// leaf's CN), valid around now, with a leaf key of type kt.
func NewChain(now time.Time, kt KeyType, hostnames ...string) (*Chain, error) {
	if len(hostnames) == 0 {
		hostnames = []string{"mail.example.test"}
	}
	root, err := NewRoot(Template{CommonName: "smtptls Test Root CA", Now: now})
	if err != nil {
		return nil, err
	}
	inter, err := root.Issue(Template{CommonName: "smtptls Test Intermediate CA", IsCA: true, Now: now})
	if err != nil {
		return nil, err
	}
	leaf, err := inter.Issue(Template{CommonName: hostnames[0], DNSNames: hostnames, KeyType: kt, Now: now})
	if err != nil {
		return nil, err
	}
	return &Chain{Root: root, Intermediate: inter, Leaf: leaf}, nil
}

// Bundle is what an admin pastes as the CA bundle: intermediate then root.
func (ch *Chain) Bundle() []byte {
	return append(ch.Intermediate.PEM(), ch.Root.PEM()...)
}

// MustChain is NewChain for tests, which have no use for the error.
func MustChain(now time.Time, kt KeyType, hostnames ...string) *Chain {
	ch, err := NewChain(now, kt, hostnames...)
	if err != nil {
		panic(fmt.Sprintf("testpki: %v", err))
	}
	return ch
}
