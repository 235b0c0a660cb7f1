package config

import (
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/smtptls/smtptls/internal/certpem"
)

// What the bundled listener does with a message it accepted.
const (
	// DeliveryMaildir stores it in the spool (durable before 250).
	DeliveryMaildir = "maildir"
	// DeliveryRelay hands it to the next hop within the same SMTP
	// transaction: 250 only once the next hop said 250.
	DeliveryRelay = "relay"
)

// TLS to the next hop.
const (
	RelayTLSNone   = "none"   // never STARTTLS
	RelayTLSMay    = "may"    // STARTTLS when offered, certificate not checked
	RelayTLSVerify = "verify" // STARTTLS required, certificate and name checked
)

// Relay is the [relay] section: where delivery = "relay" sends mail.
type Relay struct {
	// NextHop is smtp://HOST:PORT, lmtp://HOST:PORT or
	// lmtp+unix:///path/to/socket.
	NextHop string `toml:"next_hop" json:"next_hop"`
	// TLS is none, may (the default) or verify.
	TLS string `toml:"tls" json:"tls"`
	// CAFile is the PEM bundle that verify trusts instead of the system
	// roots; "" means the system roots.
	CAFile string `toml:"ca_file" json:"ca_file"`
	// ServerName is the name the next hop's certificate must carry with
	// verify; "" means the host of NextHop.
	ServerName string `toml:"server_name" json:"server_name"`
}

// NextHop is a parsed relay.next_hop.
type NextHop struct {
	URL     string // as configured
	Network string // "tcp" or "unix"
	Address string // host:port, or the socket path
	Host    string // the host of a tcp address, "" for unix
	LMTP    bool
}

func (h NextHop) String() string { return h.URL }

// ParseNextHop reads relay.next_hop; the error says what is wrong and how
// to write it.
func ParseNextHop(s string) (NextHop, error) {
	const forms = "write it like smtp://mail.internal:25, lmtp://127.0.0.1:24 or lmtp+unix:///var/run/lmtp.sock"
	s = strings.TrimSpace(s)
	if s == "" {
		return NextHop{}, fmt.Errorf("relay.next_hop is empty: %s", forms)
	}
	u, err := url.Parse(s)
	if err != nil {
		return NextHop{}, fmt.Errorf("relay.next_hop %q does not parse: %v; %s", s, err, forms)
	}
	h := NextHop{URL: s}
	switch strings.ToLower(u.Scheme) {
	case "smtp":
	case "lmtp":
		h.LMTP = true
	case "lmtp+unix":
		h.LMTP = true
		if u.Host != "" || u.Path == "" || !filepath.IsAbs(u.Path) {
			return NextHop{}, fmt.Errorf("relay.next_hop %q: lmtp+unix takes an absolute socket path after three slashes, like lmtp+unix:///var/run/lmtp.sock", s)
		}
		if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return NextHop{}, fmt.Errorf("relay.next_hop %q: a socket path has no user, query or fragment; %s", s, forms)
		}
		h.Network, h.Address = "unix", u.Path
		return h, nil
	case "":
		return NextHop{}, fmt.Errorf("relay.next_hop %q has no scheme; %s", s, forms)
	default:
		return NextHop{}, fmt.Errorf("relay.next_hop %q: unknown scheme %q (use smtp, lmtp or lmtp+unix); %s", s, u.Scheme, forms)
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return NextHop{}, fmt.Errorf("relay.next_hop %q: only a host and a port are allowed after %s://; %s", s, u.Scheme, forms)
	}
	host, port := u.Hostname(), u.Port()
	if host == "" || port == "" {
		return NextHop{}, fmt.Errorf("relay.next_hop %q needs a host and a port; %s", s, forms)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return NextHop{}, fmt.Errorf("relay.next_hop %q: port %q is not a number from 1 to 65535", s, port)
	}
	if net.ParseIP(host) == nil {
		if err := checkDomain(host); err != nil {
			return NextHop{}, fmt.Errorf("relay.next_hop %q: host %v", s, err)
		}
	}
	h.Network, h.Address, h.Host = "tcp", net.JoinHostPort(host, port), host
	return h, nil
}

// ParseDomains normalizes an accept_domains list (lower case, no trailing
// dot, no duplicates) and refuses a name that is not a domain.
func ParseDomains(list []string) ([]string, error) {
	out := make([]string, 0, len(list))
	seen := map[string]bool{}
	for _, d := range list {
		d = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
		if d == "" {
			continue
		}
		if err := checkDomain(d); err != nil {
			return nil, fmt.Errorf("accept_domains: %v", err)
		}
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out, nil
}

// checkDomain accepts a host name made of letters, digits and hyphens
// (IDNs in their xn-- form).
func checkDomain(d string) error {
	if strings.HasPrefix(d, "*") || strings.HasPrefix(d, ".") {
		return fmt.Errorf("%q: wildcards are not supported; list each domain (subdomains are separate domains)", d)
	}
	if strings.Contains(d, "@") {
		return fmt.Errorf("%q is an address; list the domain only (%s)", d, d[strings.LastIndex(d, "@")+1:])
	}
	if len(d) > 253 {
		return fmt.Errorf("%q is longer than 253 characters", d)
	}
	for _, label := range strings.Split(strings.TrimSuffix(d, "."), ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("%q is not a domain name: each dot-separated part must have 1 to 63 characters", d)
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("%q is not a domain name: a part cannot start or end with a hyphen", d)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("%q is not a domain name: %q is not allowed (letters, digits, hyphens and dots only; write IDNs in their xn-- form)", d, string(rune(c)))
			}
		}
	}
	return nil
}

// RelayMode is the delivery in effect, "" read as maildir.
func (s Settings) RelayMode() bool { return s.Delivery == DeliveryRelay }

// RelayTLSMode is relay.tls, "" read as may.
func (r Relay) TLSMode() string {
	if r.TLS == "" {
		return RelayTLSMay
	}
	return r.TLS
}

// VerifyName is the name the next hop's certificate must carry.
func (r Relay) VerifyName(h NextHop) string {
	if r.ServerName != "" {
		return r.ServerName
	}
	return h.Host
}

// ReadRelayCA loads relay.ca_file; nil (system roots) when none is set.
func (r Relay) ReadRelayCA() (*x509.CertPool, error) {
	if r.CAFile == "" {
		return nil, nil
	}
	data, err := os.ReadFile(r.CAFile)
	if err != nil {
		return nil, fmt.Errorf("relay.ca_file: %w", err)
	}
	certs, err := certpem.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("relay.ca_file %s: %w", r.CAFile, err)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("relay.ca_file %s holds no PEM CERTIFICATE block: give the CA that issued the next hop's certificate", r.CAFile)
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}

// checkDelivery is the part of Check about where mail goes.
func (s Settings) checkDelivery() error {
	switch s.Delivery {
	case "", DeliveryMaildir, DeliveryRelay:
	default:
		return fmt.Errorf("delivery %q: use %q (store in the spool) or %q (hand on to relay.next_hop)", s.Delivery, DeliveryMaildir, DeliveryRelay)
	}
	if _, err := ParseDomains(s.AcceptDomains); err != nil {
		return err
	}
	switch s.Relay.TLS {
	case "", RelayTLSNone, RelayTLSMay, RelayTLSVerify:
	default:
		return fmt.Errorf("relay.tls %q: use none, may (STARTTLS when offered) or verify (STARTTLS with a checked certificate)", s.Relay.TLS)
	}
	if !s.RelayMode() {
		return nil
	}
	if len(s.AcceptDomains) == 0 {
		return fmt.Errorf("delivery = %q needs accept_domains: list the recipient domains this gateway accepts (--accept-domains example.org,example.net); without it the gateway would be an open relay", DeliveryRelay)
	}
	h, err := ParseNextHop(s.Relay.NextHop)
	if err != nil {
		return err
	}
	if s.Relay.TLSMode() == RelayTLSVerify {
		if s.Relay.VerifyName(h) == "" || net.ParseIP(s.Relay.VerifyName(h)) != nil {
			return fmt.Errorf("relay.tls = verify needs relay.server_name: the name on the next hop's certificate (%s names no host name)", h.URL)
		}
		if _, err := s.Relay.ReadRelayCA(); err != nil {
			return err
		}
	}
	return nil
}

// AcceptsRecipient reports whether the gateway takes mail for addr: the
// postmaster (bare, or at this gateway's host name: RFC 5321 4.5.1) always,
// the rest when accept_domains is empty or lists the address's domain.
// postmaster at any other domain is not special: accepting it everywhere
// would relay to any postmaster on the Internet.
func (s Settings) AcceptsRecipient(addr string) bool {
	return AcceptsRecipient(s.AcceptDomains, s.Hostname, addr)
}

// AcceptsRecipient is Settings.AcceptsRecipient with its parts spelled out.
func AcceptsRecipient(domains []string, hostname, addr string) bool {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return strings.EqualFold(addr, "postmaster") || len(domains) == 0
	}
	local, domain := addr[:i], strings.TrimSuffix(addr[i+1:], ".")
	if strings.EqualFold(local, "postmaster") && strings.EqualFold(domain, strings.TrimSuffix(hostname, ".")) {
		return true
	}
	if len(domains) == 0 {
		return true
	}
	for _, d := range domains {
		if strings.EqualFold(d, domain) {
			return true
		}
	}
	return false
}
