package smtpd

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/smtptls/smtptls/config"
	"github.com/smtptls/smtptls/internal/certpem"
	"github.com/smtptls/smtptls/smtpd/relay"
)

// Config is everything the listener needs, checked and parsed, so that a
// reload can refuse a bad configuration before touching the running one.
type Config struct {
	Generation      string
	Mode            config.Mode
	Hostname        string
	Listen          string
	SpoolDir        string // absolute
	BareLineEndings string // config.BareReject or config.BareNormalize
	Limits          config.Limits
	// Certificate is the leaf followed by the intermediates, root left out;
	// nil in disabled mode.
	Certificate *tls.Certificate
	// Fingerprint is the SHA-256 of the leaf, lowercase hex, "" when disabled.
	Fingerprint string
	// AcceptDomains are the recipient domains accepted (normalized); empty
	// accepts any.
	AcceptDomains []string
	// Relay is where mail goes with delivery = relay; nil: the spool.
	Relay *relay.Target
	// TLS is the handshake policy; the zero value means the defaults.
	TLS config.TLSPolicy
}

// Options are the parts of a server that tests replace.
type Options struct {
	Logger *slog.Logger     // nil: discard
	Now    func() time.Time // nil: time.Now
	// DrainTimeout bounds how long connections of a replaced server (mode
	// or limits changed) may run on; nil-zero: command + data timeout.
	DrainTimeout time.Duration
	// HelloTimeout is how long a session may take to finish EHLO; zero:
	// 30 seconds.
	HelloTimeout time.Duration
	// EvictAfterIdle is how long a session must have been idle for a new
	// connection to take its slot when all are taken; zero: 1 second.
	EvictAfterIdle time.Duration
}

// ConfigFrom checks a loaded configuration completely: settings, the key
// against the certificate, the chain. Any error means the listener must
// keep what it has.
func ConfigFrom(l config.Loaded) (Config, error) {
	s := l.Settings
	if err := s.Check(); err != nil {
		return Config{}, fmt.Errorf("settings: %w", err)
	}
	c := Config{
		Generation:      l.Generation,
		Mode:            s.Mode,
		Hostname:        s.Hostname,
		Listen:          s.Listen,
		SpoolDir:        l.SpoolPath(),
		BareLineEndings: s.BareLineEndings,
		Limits:          s.Limits,
		TLS:             s.TLS,
	}
	if err := c.setDelivery(s); err != nil {
		return Config{}, err
	}
	if !s.Mode.NeedsCertificate() {
		return c, nil
	}
	cert, err := certificateFrom(l.CertPEM, l.ChainPEM, l.KeyPEM)
	if err != nil {
		return Config{}, err
	}
	c.Certificate = cert
	c.Fingerprint = Fingerprint(cert.Certificate[0])
	return c, nil
}

// Fingerprint is the SHA-256 of a DER certificate as lowercase hex.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

func certificateFrom(certPEM, chainPEM, keyPEM []byte) (*tls.Certificate, error) {
	leaves, err := certpem.Parse(certPEM)
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	if len(leaves) == 0 {
		return nil, fmt.Errorf("certificate: no CERTIFICATE block found in %s", config.CertFile)
	}
	chain, err := certpem.Parse(chainPEM)
	if err != nil {
		return nil, fmt.Errorf("chain: %w", err)
	}
	// Peers must find the root in their own store; serving it only costs
	// bytes, and a self-signed certificate in the chain confuses some
	// verifiers. Drop anything self-signed that is not the leaf.
	served := [][]byte{leaves[0].Raw}
	for _, c := range append(leaves[1:], chain...) {
		if isSelfSigned(c) {
			continue
		}
		served = append(served, c.Raw)
	}
	var leafPEM []byte
	for _, der := range served {
		leafPEM = append(leafPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	kp, err := tls.X509KeyPair(leafPEM, keyPEM)
	if err != nil {
		// X509KeyPair's messages name no key material; keep them.
		return nil, fmt.Errorf("certificate and key: %w", err)
	}
	if len(served) > 1 {
		if err := leaves[0].CheckSignatureFrom(mustParse(served[1])); err != nil {
			return nil, fmt.Errorf("chain: the first intermediate (%s) did not issue the certificate (%s): %w",
				mustParse(served[1]).Subject, leaves[0].Subject, err)
		}
	}
	return &kp, nil
}

func mustParse(der []byte) *x509.Certificate {
	c, _ := x509.ParseCertificate(der) // already parsed once; cannot fail
	return c
}

func isSelfSigned(c *x509.Certificate) bool {
	return c.IsCA && c.CheckSignatureFrom(c) == nil
}

// Warnings lists what a peer will dislike about the served certificate at
// now. They do not stop a reload: the validate step of apply refuses these
// before they get here, and a listener refusing its own renewal would be
// worse.
func (c Config) Warnings(now time.Time) []string {
	if c.Certificate == nil || len(c.Certificate.Certificate) == 0 {
		return nil
	}
	leaf, err := x509.ParseCertificate(c.Certificate.Certificate[0])
	if err != nil {
		return nil
	}
	var w []string
	switch {
	case now.After(leaf.NotAfter):
		w = append(w, fmt.Sprintf("the certificate expired on %s: peers that verify will refuse it", leaf.NotAfter.UTC().Format("2006-01-02")))
	case now.Before(leaf.NotBefore):
		w = append(w, fmt.Sprintf("the certificate is not valid before %s", leaf.NotBefore.UTC().Format("2006-01-02 15:04 MST")))
	}
	if err := leaf.VerifyHostname(c.Hostname); err != nil {
		w = append(w, fmt.Sprintf("the certificate does not cover the host name %s (names: %s)", c.Hostname, strings.Join(leaf.DNSNames, ", ")))
	}
	return w
}
