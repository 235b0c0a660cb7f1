package acme

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Challenge types an order can be validated with.
const (
	HTTP01    = "http-01"
	TLSALPN01 = "tls-alpn-01"
	DNS01     = "dns-01"
)

// Key types for the certificate key.
const (
	KeyEC256   = "ec256"
	KeyRSA2048 = "rsa2048"
)

// LetsEncrypt is the default directory: Let's Encrypt's production CA.
const LetsEncrypt = "https://acme-v02.api.letsencrypt.org/directory"

// Files under the config directory. They sit in their own subdirectory so
// the store's generations never mix with ACME state.
const (
	SubDir       = "acme"
	SettingsFile = "settings.json"   // what `renew` repeats
	AccountKey   = "account-key.pem" // the ACME account's key, 0600
	AccountFile  = "account.json"    // where that account lives at each CA
	StateFile    = "state.json"      // the last renewal attempt, for status
)

// Settings are an ACME order as the admin asked for it, stored so that
// `smtptls renew` repeats it. No secret is stored here: the EAB HMAC is
// used once, at registration.
type Settings struct {
	Server      string   `json:"server"`
	Email       string   `json:"email"`
	Domains     []string `json:"domains"`
	Challenge   string   `json:"challenge"`
	HTTPAddr    string   `json:"http_addr,omitempty"`
	TLSALPNAddr string   `json:"tls_alpn_addr,omitempty"`
	DNSHook     string   `json:"dns_hook,omitempty"`
	ServerCA    string   `json:"server_ca,omitempty"`
	KeyType     string   `json:"key_type"`
}

// WithDefaults fills what the admin left out.
func (s Settings) WithDefaults() Settings {
	if s.Server == "" {
		s.Server = LetsEncrypt
	}
	if s.Challenge == "" {
		s.Challenge = HTTP01
	}
	if s.HTTPAddr == "" {
		s.HTTPAddr = ":80"
	}
	if s.TLSALPNAddr == "" {
		s.TLSALPNAddr = ":443"
	}
	if s.KeyType == "" {
		s.KeyType = KeyEC256
	}
	return s
}

// Check reports the first setting an order cannot run with, in words that
// say what to pass instead.
func (s Settings) Check() error {
	if len(s.Domains) == 0 {
		return errors.New("no --domain given: name the host name(s) the certificate is for, like --domain mail.example.org")
	}
	for _, d := range s.Domains {
		switch {
		case d == "" || strings.ContainsAny(d, " /:@") || !strings.Contains(d, "."):
			return fmt.Errorf("--domain %q is not a host name: write it like mail.example.org", d)
		case strings.HasPrefix(d, "*.") && s.Challenge != DNS01:
			return fmt.Errorf("--domain %q: a wildcard name can only be validated with --challenge dns-01", d)
		}
	}
	if s.Email == "" || !strings.Contains(s.Email, "@") {
		return fmt.Errorf("--email %q: give an address the CA can write to about this certificate, like postmaster@example.org", s.Email)
	}
	switch s.Challenge {
	case HTTP01, TLSALPN01:
	case DNS01:
		if s.DNSHook == "" {
			return errors.New("--challenge dns-01 needs --dns-hook PROGRAM: it is run as PROGRAM present FQDN VALUE and PROGRAM cleanup FQDN VALUE to publish and remove the TXT record")
		}
	default:
		return fmt.Errorf("--challenge %q: use http-01 (port 80), tls-alpn-01 (port 443) or dns-01 (a DNS hook); ACME cannot validate over port 25", s.Challenge)
	}
	switch s.KeyType {
	case KeyEC256, KeyRSA2048:
	default:
		return fmt.Errorf("--key-type %q: use ec256 or rsa2048", s.KeyType)
	}
	if !strings.HasPrefix(s.Server, "https://") {
		return fmt.Errorf("--server %q: an ACME directory URL starts with https://", s.Server)
	}
	return nil
}

// Dir is the ACME subdirectory of a config directory.
func Dir(configDir string) string { return filepath.Join(configDir, SubDir) }

// LoadSettings reads the stored settings; fs.ErrNotExist when `smtptls
// acme` never succeeded here.
func LoadSettings(configDir string) (Settings, error) {
	var s Settings
	b, err := os.ReadFile(filepath.Join(Dir(configDir), SettingsFile))
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("read %s: %w", filepath.Join(Dir(configDir), SettingsFile), err)
	}
	return s.WithDefaults(), nil
}

// SaveSettings stores s for `renew`.
func SaveSettings(configDir string, s Settings) error {
	return writeJSON(configDir, SettingsFile, s)
}

// State is what the last `renew` did, for `smtptls status`.
type State struct {
	// LastAttempt is when renew last ordered a certificate; zero when it
	// never had to.
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	// LastOK is whether that attempt ended with the new certificate live.
	LastOK bool `json:"last_ok"`
	// LastError says why it failed, in words; "" when it did not.
	LastError string `json:"last_error,omitempty"`
	// LastCheck is when renew last looked whether a renewal was due.
	LastCheck time.Time `json:"last_check,omitzero"`
	// NextTry is when renew will order next (the renewal date, or the next
	// timer run after a failure).
	NextTry time.Time `json:"next_try,omitzero"`
	// ARI caches the CA's renewal information, so a renew that finds
	// nothing due does not ask the CA again before ARIRetry.
	ARIStart time.Time `json:"ari_start,omitzero"`
	ARIEnd   time.Time `json:"ari_end,omitzero"`
	ARIRetry time.Time `json:"ari_retry,omitzero"`
	// ARICert is the fingerprint the cached window belongs to.
	ARICert string `json:"ari_cert,omitempty"`
}

// LoadState reads the renewal state; a zero State when there is none yet.
func LoadState(configDir string) (State, error) {
	var s State
	b, err := os.ReadFile(filepath.Join(Dir(configDir), StateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return State{}, fmt.Errorf("read renewal state: %w", err)
	}
	return s, nil
}

// SaveState records s.
func SaveState(configDir string, s State) error {
	return writeJSON(configDir, StateFile, s)
}

func writeJSON(configDir, name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", name, err)
	}
	return writePrivate(configDir, name, append(b, '\n'))
}

// writePrivate writes name in the ACME directory (0700) as 0600, through a
// temporary file and a rename, so a crash leaves the old file or the new
// one, never half of either.
func writePrivate(configDir, name string, data []byte) error {
	dir := Dir(configDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("make %s private: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
