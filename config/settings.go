// Package config is the config store: the settings an admin can edit by hand
// (config.toml), the certificate material beside them, and the generations
// that an apply writes and switches between atomically.
package config

import (
	"bytes"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Mode is the STARTTLS policy of the listener.
type Mode string

const (
	// ModeDisabled: STARTTLS is neither advertised nor accepted.
	ModeDisabled Mode = "disabled"
	// ModeAvailable: STARTTLS advertised, plaintext mail still accepted.
	ModeAvailable Mode = "available"
	// ModeRequired: STARTTLS advertised, no mail accepted without it.
	ModeRequired Mode = "required"
)

// Modes lists the modes in the order screens and help texts show them.
var Modes = []Mode{ModeDisabled, ModeAvailable, ModeRequired}

// ParseMode accepts a mode name as typed on a command line or in config.toml.
func ParseMode(s string) (Mode, error) {
	m := Mode(strings.ToLower(strings.TrimSpace(s)))
	switch m {
	case ModeDisabled, ModeAvailable, ModeRequired:
		return m, nil
	}
	return "", fmt.Errorf("unknown TLS mode %q: use disabled, available or required", s)
}

// UnmarshalText reads a mode from config.toml or `smtptls set mode=...`,
// refusing anything but the three names.
func (m *Mode) UnmarshalText(b []byte) error {
	v, err := ParseMode(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// NeedsCertificate reports whether the mode serves TLS.
func (m Mode) NeedsCertificate() bool { return m == ModeAvailable || m == ModeRequired }

// Duration is a time.Duration written as "30s" or "10m" in config.toml.
type Duration struct{ time.Duration }

func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("duration %q: %w (write it like 30s or 10m)", b, err)
	}
	d.Duration = v
	return nil
}

// BareLineEndings says what the listener does with a bare CR or LF in DATA.
const (
	BareReject    = "reject"    // 550 5.5.2, as Postfix does
	BareNormalize = "normalize" // rewrite to CRLF before spooling
)

// Limits bound what one peer can make the listener do.
type Limits struct {
	MaxMessageBytes     int64    `toml:"max_message_bytes" json:"max_message_bytes"`
	MaxRecipients       int      `toml:"max_recipients" json:"max_recipients"`
	MaxConnections      int      `toml:"max_connections" json:"max_connections"`
	MaxConnectionsPerIP int      `toml:"max_connections_per_ip" json:"max_connections_per_ip"`
	CommandTimeout      Duration `toml:"command_timeout" json:"command_timeout"`
	DataTimeout         Duration `toml:"data_timeout" json:"data_timeout"`
	HandshakeTimeout    Duration `toml:"handshake_timeout" json:"handshake_timeout"`
	// MaxConnectionsPerNetwork bounds one IPv4 /24 or IPv6 /64, where a
	// host that owns many addresses shows up as many peers.
	MaxConnectionsPerNetwork int `toml:"max_connections_per_network" json:"max_connections_per_network"`
	// StressIdleTimeout applies past 80% of max_connections (Postfix's
	// stress mode): sessions without a complete command for this long are
	// closed, oldest first, and it is every session's command timeout.
	StressIdleTimeout Duration `toml:"stress_idle_timeout" json:"stress_idle_timeout"`
	// MinFreeBytes is the free space the spool's file system must keep:
	// below it MAIL gets 452 4.3.1 and status exits 1.
	MinFreeBytes int64 `toml:"min_free_bytes" json:"min_free_bytes"`
}

// TLS versions for TLSPolicy.MinVersion.
const (
	TLS12 = "1.2"
	TLS13 = "1.3"
)

// TLSPolicy is what the listener offers in a TLS handshake. Key exchange
// stays Go's default (X25519MLKEM768, X25519, P-256, ...).
type TLSPolicy struct {
	// MinVersion is TLS12 (default) or TLS13, for a private relay whose
	// peers all speak TLS 1.3.
	MinVersion string `toml:"min_version" json:"min_version"`
	// CBCSuites also offers TLS 1.2's CBC suites (off: AEAD only, no
	// LUCKY13 class of attacks); for peers too old for GCM or ChaCha20.
	CBCSuites bool `toml:"cbc_suites" json:"cbc_suites"`
	// SessionTickets lets peers resume without a full handshake; the
	// ticket keys are replaced every day.
	SessionTickets bool `toml:"session_tickets" json:"session_tickets"`
}

// Settings are the human-editable part of a configuration (config.toml).
type Settings struct {
	Mode     Mode   `toml:"mode" json:"mode"`
	Hostname string `toml:"hostname" json:"hostname"`
	Listen   string `toml:"listen" json:"listen"`
	// SpoolDir is where accepted mail is written; a relative path is taken
	// from the config directory, so a generation never holds mail.
	SpoolDir        string `toml:"spool_dir" json:"spool_dir"`
	BareLineEndings string `toml:"bare_line_endings" json:"bare_line_endings"`
	Limits          Limits `toml:"limits" json:"limits"`
	// Delivery says what happens to accepted mail: DeliveryMaildir or
	// DeliveryRelay ("" means maildir).
	Delivery string `toml:"delivery" json:"delivery"`
	// AcceptDomains are the recipient domains this gateway takes mail for;
	// empty accepts any (maildir only: relay requires it).
	AcceptDomains []string `toml:"accept_domains" json:"accept_domains"`
	Relay         Relay    `toml:"relay" json:"relay"`
	// Target is what a generation is made live on: "bundled" (also when
	// empty) or "postfix" (see target.go).
	Target  string          `toml:"target,omitempty" json:"target,omitempty"`
	Postfix PostfixSettings `toml:"postfix,omitempty" json:"postfix,omitzero"`
	// TLS is what the bundled listener offers in a handshake.
	TLS TLSPolicy `toml:"tls" json:"tls"`
}

// DefaultSettings returns the settings of a fresh install. Root listens on
// port 25 like any MX; everyone else on 127.0.0.1:2525, so a new user can
// try the whole flow without privileges.
func DefaultSettings(root bool, hostname string) Settings {
	listen := "127.0.0.1:2525"
	if root {
		listen = ":25"
	}
	return Settings{
		Mode:            ModeDisabled,
		Hostname:        hostname,
		Listen:          listen,
		SpoolDir:        "spool",
		BareLineEndings: BareReject,
		Limits: Limits{
			MaxMessageBytes:     35 << 20,
			MaxRecipients:       100,
			MaxConnections:      1000,
			MaxConnectionsPerIP: 20,
			CommandTimeout:      Duration{5 * time.Minute},
			DataTimeout:         Duration{10 * time.Minute},
			HandshakeTimeout:    Duration{30 * time.Second},
			// Five addresses' worth: enough for a provider's pool of
			// outbound relays, far below max_connections.
			MaxConnectionsPerNetwork: 100,
			StressIdleTimeout:        Duration{10 * time.Second},
			MinFreeBytes:             100 << 20,
		},
		Delivery:      DeliveryMaildir,
		AcceptDomains: []string{},
		Relay:         Relay{TLS: RelayTLSMay},
		TLS:           TLSPolicy{MinVersion: TLS12, SessionTickets: true},
	}
}

// Check reports the first thing in s that a listener could not run with.
func (s Settings) Check() error {
	if _, err := ParseMode(string(s.Mode)); err != nil {
		return err
	}
	if strings.TrimSpace(s.Hostname) == "" {
		return fmt.Errorf("hostname is empty: set it to the name peers use for this gateway (its MX name)")
	}
	if _, _, err := net.SplitHostPort(s.Listen); err != nil {
		return fmt.Errorf("listen address %q: %w (write it like 0.0.0.0:25 or 127.0.0.1:2525)", s.Listen, err)
	}
	if s.SpoolDir == "" {
		return fmt.Errorf("spool_dir is empty")
	}
	switch s.BareLineEndings {
	case BareReject, BareNormalize:
	default:
		return fmt.Errorf("bare_line_endings %q: use %q or %q", s.BareLineEndings, BareReject, BareNormalize)
	}
	l := s.Limits
	if l.MaxMessageBytes <= 0 || l.MaxRecipients <= 0 || l.MaxConnections <= 0 || l.MaxConnectionsPerIP <= 0 {
		return fmt.Errorf("limits must be positive (max_message_bytes, max_recipients, max_connections, max_connections_per_ip)")
	}
	if l.CommandTimeout.Duration <= 0 || l.DataTimeout.Duration <= 0 || l.HandshakeTimeout.Duration <= 0 {
		return fmt.Errorf("timeouts must be positive (command_timeout, data_timeout, handshake_timeout)")
	}
	if l.MaxConnectionsPerNetwork <= 0 || l.StressIdleTimeout.Duration <= 0 || l.MinFreeBytes < 0 {
		return fmt.Errorf("limits.max_connections_per_network and limits.stress_idle_timeout must be positive, limits.min_free_bytes 0 or more")
	}
	switch s.TLS.MinVersion {
	case TLS12, TLS13:
	default:
		return fmt.Errorf("tls.min_version %q: use %q or %q", s.TLS.MinVersion, TLS12, TLS13)
	}
	if err := s.checkDelivery(); err != nil {
		return err
	}
	return s.checkTarget()
}

// MarshalSettings renders s as config.toml, with a header for the human
// who opens it.
func MarshalSettings(s Settings) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("# A record of what smtptls applied: change it with `smtptls set KEY=VALUE` or `smtptls apply`, never by editing (an edit is detected and refused).\n")
	b.WriteString("# mode: disabled | available | required\n\n")
	if err := toml.NewEncoder(&b).Encode(s); err != nil {
		return nil, fmt.Errorf("encode settings: %w", err)
	}
	return b.Bytes(), nil
}

// UnmarshalSettings parses config.toml on top of defaults, so a file that
// names only a few keys still yields a complete configuration. Unknown keys
// are an error: a typo must not silently leave a default in place.
func UnmarshalSettings(data []byte, defaults Settings) (Settings, error) {
	s := defaults
	md, err := toml.Decode(string(data), &s)
	if err != nil {
		return Settings{}, settingsError(err)
	}
	if u := md.Undecoded(); len(u) > 0 {
		keys := make([]string, len(u))
		for i, k := range u {
			keys[i] = k.String()
		}
		return Settings{}, &SettingsError{Line: keyLine(data, u[0]),
			Msg: fmt.Sprintf("unknown setting %s (known: %s)", strings.Join(keys, ", "), strings.Join(SettingKeys(), ", "))}
	}
	return s, nil
}
