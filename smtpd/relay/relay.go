// Package relay hands accepted mail on to the next hop within the inbound
// SMTP transaction: one outbound session (go-smtp's client) per inbound
// session, each command forwarded as the sender gives it and the next hop's
// reply returned, so a 250 to the sender means the next hop has the
// message. There is no local queue: when the next hop cannot take a
// message, the sender gets a 4xx and keeps it, as with Postfix's
// before-queue proxy.
package relay

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/smtptls/smtptls/config"
)

// Target is where and how to relay: relay.* of config.toml, checked.
type Target struct {
	NextHop config.NextHop
	TLS     string         // config.RelayTLSNone, RelayTLSMay or RelayTLSVerify
	RootCAs *x509.CertPool // verify: nil means the system roots
	// ServerName is the name the certificate must carry with verify.
	ServerName string
}

// TargetFrom checks the relay settings and loads relay.ca_file.
func TargetFrom(r config.Relay) (Target, error) {
	h, err := config.ParseNextHop(r.NextHop)
	if err != nil {
		return Target{}, err
	}
	t := Target{NextHop: h, TLS: r.TLSMode(), ServerName: r.VerifyName(h)}
	if t.TLS == config.RelayTLSVerify {
		if t.RootCAs, err = r.ReadRelayCA(); err != nil {
			return Target{}, err
		}
	}
	return t, nil
}

// Equal reports whether two targets relay the same way (a reload that
// changes none of this keeps the relay as it is).
func (t Target) Equal(u Target) bool {
	return t.NextHop == u.NextHop && t.TLS == u.TLS && t.ServerName == u.ServerName && t.RootCAs.Equal(u.RootCAs)
}

// tlsConfig is what STARTTLS to the next hop uses. may encrypts without
// checking the certificate, as Postfix's smtp_tls_security_level = may:
// an internal next hop often has a self-signed one, and a passive
// eavesdropper is what opportunistic TLS is against.
func (t Target) tlsConfig() *tls.Config {
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if t.TLS != config.RelayTLSVerify {
		c.InsecureSkipVerify = true
	} else {
		c.RootCAs = t.RootCAs
	}
	return c
}

// Stats counts relay outcomes since the listener started; one Stats
// outlives reloads.
type Stats struct {
	relayed    atomic.Uint64
	refused    atomic.Uint64
	tempFailed atomic.Uint64
	denied     atomic.Uint64
}

// Counters is a snapshot of Stats, as the control socket and status show it.
type Counters struct {
	// Relayed: messages the next hop accepted (250 after DATA).
	Relayed uint64 `json:"relayed"`
	// Refused: 5xx replies of the next hop passed to senders.
	Refused uint64 `json:"refused"`
	// TempFailed: 4xx replies to senders because of the next hop (its own
	// 4xx, or unreachable, timed out, dropped).
	TempFailed uint64 `json:"temp_failed"`
	// Denied: recipients outside accept_domains (550 5.7.1), never sent on.
	Denied uint64 `json:"denied"`
}

// Snapshot reads the counters.
func (s *Stats) Snapshot() Counters {
	if s == nil {
		return Counters{}
	}
	return Counters{Relayed: s.relayed.Load(), Refused: s.refused.Load(), TempFailed: s.tempFailed.Load(), Denied: s.denied.Load()}
}

// CountDenied records a recipient refused by accept_domains.
func (s *Stats) CountDenied() {
	if s != nil {
		s.denied.Add(1)
	}
}

// Options are the parts of a Relay that depend on the listener.
type Options struct {
	// LocalName is what EHLO/LHLO says: the gateway's host name.
	LocalName string
	// DialTimeout bounds connecting, the greeting, EHLO and STARTTLS.
	DialTimeout time.Duration
	// CommandTimeout bounds each reply of the next hop and each write to
	// it; the sender is waiting meanwhile.
	CommandTimeout time.Duration
	// DataTimeout bounds the wait for the reply to the final dot.
	DataTimeout time.Duration
	Log         *slog.Logger
	Stats       *Stats // nil: not counted
	Now         func() time.Time
}

// Relay opens sessions to one Target.
type Relay struct {
	t    Target
	o    Options
	tlsC *tls.Config
}

// New prepares a relay; nothing is dialled until a session starts.
func New(t Target, o Options) *Relay {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.LocalName == "" {
		o.LocalName = "localhost"
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 30 * time.Second
	}
	if o.CommandTimeout <= 0 {
		o.CommandTimeout = 5 * time.Minute
	}
	if o.DataTimeout <= 0 {
		o.DataTimeout = 10 * time.Minute
	}
	return &Relay{t: t, o: o, tlsC: t.tlsConfig()}
}

// Target is where r relays to.
func (r *Relay) Target() Target { return r.t }

func (t Target) String() string {
	return fmt.Sprintf("%s (tls %s)", t.NextHop.URL, t.TLS)
}
