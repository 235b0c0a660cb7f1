// Package validate says exactly what is wrong with pasted PEM material and
// what to do about it. It does no I/O: callers pass the text, the clock and,
// optionally, a trust pool.
package validate

import (
	"crypto/x509"
	"time"
)

// Severity of a diagnostic.
type Severity string

const (
	SevError   Severity = "error"   // blocks apply
	SevWarning Severity = "warning" // applies, but the admin should know
	SevInfo    Severity = "info"    // something we fix on save, or a fact
)

// Field names where a diagnostic belongs: one of the three paste fields, or
// the chain that only exists once they are combined.
type Field string

const (
	FieldCertificate Field = "certificate"
	FieldKey         Field = "key"
	FieldCABundle    Field = "ca_bundle"
	FieldChain       Field = "chain"
)

// Diagnostic is one finding. Message names the thing concerned in one plain
// sentence; Hint says what to do next. Neither ever contains key material.
type Diagnostic struct {
	Severity Severity `json:"severity"`
	Field    Field    `json:"field"`
	Code     string   `json:"code"`
	Message  string   `json:"message"`
	Hint     string   `json:"hint"`
	// Line is 1-based within the field's text; 0 when no line applies.
	Line int `json:"line,omitempty"`
}

// Input is what the admin pasted, exactly as pasted.
type Input struct {
	Certificate string
	Key         string
	CABundle    string
	// Hostname is the gateway's name (its MX name); empty skips the check.
	Hostname string
	// CertFile and KeyFile name the files in the openssl commands that
	// hints suggest, ready for a shell command line (quoted where needed),
	// so an admin can paste them as they are; empty means cert.pem and
	// key.pem, for text that was pasted rather than read from a file.
	CertFile, KeyFile string
	// Passphrase decrypts an encrypted key in memory; nil means none given.
	Passphrase []byte
	// Now is the clock the validity checks use; zero means time.Now().
	Now time.Time
	// Roots is the system trust pool used to tell whether a chain that ends
	// at an intermediate is anchored anyway; nil means none.
	Roots *x509.CertPool
	// LoadRoots, when Roots is nil, is called only if the chain needs the
	// system pool (its top is not a pasted root). Loading the system store
	// costs more than the whole check, so one-shot callers pass
	// SystemRoots here instead of calling it up front.
	LoadRoots func() *x509.CertPool `json:"-"`
}

// Material is what will be written on save.
type Material struct {
	LeafPEM  []byte `json:"-"` // the server certificate alone
	KeyPEM   []byte `json:"-"` // PKCS#8, never printed
	ChainPEM []byte `json:"-"` // intermediates in order from the leaf, root left out
	CAPEM    []byte `json:"-"` // roots / anchors seen, kept for verification
}

// ChainEntry is one certificate of the chain as built, leaf first.
type ChainEntry struct {
	Role     string    `json:"role"` // "leaf", "intermediate", "root"
	Subject  string    `json:"subject"`
	Issuer   string    `json:"issuer"`
	NotAfter time.Time `json:"not_after"`
	SHA256   string    `json:"sha256"`
	// Source says where it came from: "certificate", "ca_bundle", "system".
	Source string `json:"source"`
}

// Summary is what the review screen and the report show.
type Summary struct {
	Subject       string       `json:"subject"`
	SANs          []string     `json:"sans"`
	Issuer        string       `json:"issuer"`
	NotBefore     time.Time    `json:"not_before"`
	NotAfter      time.Time    `json:"not_after"`
	DaysLeft      int          `json:"days_left"`
	KeyType       string       `json:"key_type"` // "RSA", "ECDSA P-256", "Ed25519"
	KeyBits       int          `json:"key_bits"`
	CertSHA256    string       `json:"cert_sha256"` // hex, colon-free lowercase
	SPKISHA256    string       `json:"spki_sha256"`
	Chain         []ChainEntry `json:"chain"`
	TLSA          string       `json:"tlsa"` // "3 1 1 <hex>"
	Hostname      string       `json:"hostname,omitempty"`
	HostnameMatch bool         `json:"hostname_match"`
}

// Report is the result of a full check.
type Report struct {
	Diagnostics []Diagnostic
	// Material and Summary are nil when the input is too broken to produce
	// them (no certificate or no key recognised). Summary needs only the
	// certificate, so the review screen can show it while the key is still
	// wrong; Material needs both.
	Material *Material
	Summary  *Summary
}

// OK reports whether nothing blocks an apply.
func (r Report) OK() bool {
	for _, d := range r.Diagnostics {
		if d.Severity == SevError {
			return false
		}
	}
	return true
}
