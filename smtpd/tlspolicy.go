package smtpd

import (
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/smtptls/smtptls/config"
)

// aeadSuites are the TLS 1.2 suites offered by default: AEAD only. Go's
// default list also has two ECDHE CBC suites (testssl: LUCKY13, cipher
// list AVERAGE). TLS 1.3 suites are not configurable and all AEAD.
var aeadSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// ticketKeyLife is how long one session ticket key encrypts new tickets;
// the one before it still decrypts, so a ticket resumes for at most two
// days (Go's ticket lifetime hint says 7 days; it is not configurable).
const ticketKeyLife = 24 * time.Hour

func tlsPolicyOrDefault(p config.TLSPolicy) config.TLSPolicy {
	if p.MinVersion == "" { // a hand-built Config: not set
		return config.DefaultSettings(false, "").TLS
	}
	return p
}

// tlsPolicy is the handshake policy in force; configForClient clones its
// config for every handshake, so a reload changes it for the next one.
type tlsPolicy struct {
	mu   sync.Mutex
	conf *tls.Config
	pol  config.TLSPolicy
	// Session ticket keys: the newest first, rotated every ticketKeyLife.
	keys      [][32]byte
	rotatedAt time.Time
}

// set installs a new policy; base holds GetCertificate.
func (p *tlsPolicy) set(pol config.TLSPolicy, getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error), now time.Time) {
	c := &tls.Config{
		MinVersion:             tls.VersionTLS12,
		GetCertificate:         getCert,
		SessionTicketsDisabled: !pol.SessionTickets,
	}
	if pol.MinVersion == config.TLS13 {
		c.MinVersion = tls.VersionTLS13
	}
	if !pol.CBCSuites {
		c.CipherSuites = aeadSuites
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.conf, p.pol = c, pol
	if pol.SessionTickets {
		if len(p.keys) == 0 {
			p.rotateLocked(now)
		} else {
			c.SetSessionTicketKeys(p.keys)
		}
	}
}

// config is the policy's config for one handshake at now, with the ticket
// keys rotated when the day is over.
func (p *tlsPolicy) config(now time.Time) *tls.Config {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pol.SessionTickets && now.Sub(p.rotatedAt) >= ticketKeyLife {
		p.rotateLocked(now)
	}
	return p.conf.Clone()
}

func (p *tlsPolicy) rotateLocked(now time.Time) {
	var k [32]byte
	_, _ = rand.Read(k[:]) // crypto/rand.Read never fails (Go 1.24+)
	// Rotation is lazy (at a handshake) but keeps to the daily schedule:
	// after a quiet spell of two days or more, the previous key is as
	// expired as the one before it.
	days := 1
	if !p.rotatedAt.IsZero() {
		days = int(now.Sub(p.rotatedAt) / ticketKeyLife)
	}
	if days >= 2 {
		p.keys = nil
	}
	p.keys = append([][32]byte{k}, p.keys...)
	if len(p.keys) > 2 {
		p.keys = p.keys[:2]
	}
	if p.rotatedAt.IsZero() {
		p.rotatedAt = now
	} else {
		p.rotatedAt = p.rotatedAt.Add(time.Duration(days) * ticketKeyLife)
	}
	p.conf.SetSessionTicketKeys(p.keys)
}

// DescribeTLSPolicy says in one line what a policy offers, for status.
func DescribeTLSPolicy(p config.TLSPolicy) string {
	p = tlsPolicyOrDefault(p)
	var b strings.Builder
	fmt.Fprintf(&b, "TLS %s and up", p.MinVersion)
	if p.MinVersion == config.TLS12 {
		if p.CBCSuites {
			b.WriteString(", TLS 1.2 with Go's default suites (CBC included)")
		} else {
			b.WriteString(", TLS 1.2 with AEAD suites only")
		}
	}
	if p.SessionTickets {
		b.WriteString(", session tickets on (keys rotated daily)")
	} else {
		b.WriteString(", session tickets off")
	}
	return b.String()
}
