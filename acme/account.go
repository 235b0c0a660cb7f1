package acme

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	legoacme "github.com/go-acme/lego/v5/acme"
	"github.com/go-acme/lego/v5/lego"
	"github.com/go-acme/lego/v5/registration"
)

// user is the ACME account as lego sees it.
type user struct {
	email string
	reg   *legoacme.ExtendedAccount
	key   crypto.Signer
}

func (u *user) GetEmail() string                           { return u.email }
func (u *user) GetRegistration() *legoacme.ExtendedAccount { return u.reg }
func (u *user) GetPrivateKey() crypto.Signer               { return u.key }

// accounts maps a CA's directory URL to our account there.
type accounts map[string]accountRecord

type accountRecord struct {
	Email    string `json:"email"`
	Location string `json:"location"`
}

// loadAccountKey reads the account key, making one (P-256, 0600) the first
// time. One key serves every CA: each registration is recorded per server.
func loadAccountKey(configDir string) (crypto.Signer, error) {
	path := filepath.Join(Dir(configDir), AccountKey)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("make the ACME account key: %w", err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return nil, fmt.Errorf("encode the ACME account key: %w", err)
		}
		if err := writePrivate(configDir, AccountKey, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err != nil {
			return nil, fmt.Errorf("store the ACME account key: %w", err)
		}
		return k, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the ACME account key: %w", err)
	}
	k, err := ParseKey(b)
	if err != nil {
		return nil, fmt.Errorf("the ACME account key %s cannot be read (%v): move it away to register a new account", path, err)
	}
	return k, nil
}

// ParseKey reads a PEM private key (PKCS#8, or the SEC 1 and PKCS#1 forms).
func ParseKey(b []byte) (crypto.Signer, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("no PEM block")
	}
	var k any
	var err error
	switch blk.Type {
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(blk.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
	default:
		k, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	}
	if err != nil {
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("unsupported key type %T", k)
	}
	return s, nil
}

func loadAccounts(configDir string) (accounts, error) {
	a := accounts{}
	b, err := os.ReadFile(filepath.Join(Dir(configDir), AccountFile))
	if errors.Is(err, fs.ErrNotExist) {
		return a, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, fmt.Errorf("read %s: %w", AccountFile, err)
	}
	return a, nil
}

// ensureAccount registers the account at the CA unless it already is, and
// records where it lives. EAB is used only here, at registration.
func ensureAccount(ctx context.Context, client *lego.Client, u *user, r Request) (registered bool, err error) {
	known, err := loadAccounts(r.ConfigDir)
	if err != nil {
		return false, err
	}
	if rec, ok := known[r.Settings.Server]; ok && rec.Location != "" {
		u.reg = &legoacme.ExtendedAccount{Location: rec.Location}
		return false, nil
	}
	var reg *legoacme.ExtendedAccount
	if r.EABKID != "" {
		reg, err = client.Registration.RegisterWithExternalAccountBinding(ctx, registration.RegisterEABOptions{
			TermsOfServiceAgreed: true, Kid: r.EABKID, HmacEncoded: r.EABHMAC,
		})
	} else {
		reg, err = client.Registration.Register(ctx, registration.RegisterOptions{TermsOfServiceAgreed: true})
	}
	if err != nil {
		return false, err
	}
	u.reg = reg
	known[r.Settings.Server] = accountRecord{Email: u.email, Location: reg.Location}
	if err := writeJSON(r.ConfigDir, AccountFile, known); err != nil {
		return true, err
	}
	return true, nil
}

// NextKeyFile holds the certificate key that the next order will use after
// `smtptls acme --new-key`: made first, so its TLSA record can be published
// before any certificate with it is served.
const NextKeyFile = "next-key.pem"

// LoadNextKey is the waiting next key; nil when there is none.
func LoadNextKey(configDir string) (crypto.Signer, error) {
	b, err := os.ReadFile(filepath.Join(Dir(configDir), NextKeyFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the next certificate key: %w", err)
	}
	k, err := ParseKey(b)
	if err != nil {
		return nil, fmt.Errorf("the next certificate key %s cannot be read (%v): remove it and run smtptls acme --new-key again", filepath.Join(Dir(configDir), NextKeyFile), err)
	}
	return k, nil
}

// SaveNextKey stores k (0600) as the next certificate key.
func SaveNextKey(configDir string, k crypto.Signer) error {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return fmt.Errorf("encode the next certificate key: %w", err)
	}
	return writePrivate(configDir, NextKeyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// RemoveNextKey forgets the next key once it serves.
func RemoveNextKey(configDir string) error {
	err := os.Remove(filepath.Join(Dir(configDir), NextKeyFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
