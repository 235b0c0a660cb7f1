package probe

import (
	"context"
	"crypto/x509"
	"net"
	"time"
)

// Resolver is the DNS the probe uses: MX records for a mail domain and the
// addresses of each host. *net.Resolver satisfies it; tests pass a fake so
// they never query real DNS.
type Resolver interface {
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// DefaultTimeout bounds each network step (dial, one reply, the handshake)
// when Options.Timeout is zero. Online receiver tests wait about as long.
const DefaultTimeout = 10 * time.Second

// DefaultPort is the port dialled when the target names none.
const DefaultPort = 25

// Options says what to test and what to expect.
type Options struct {
	// Target is host:port, a host (DefaultPort, or Port), or a mail domain,
	// in which case every MX is tested in preference order.
	Target string
	// Hostname is the name the certificate must match; empty means the name
	// of each host tested (the MX name, or the target's host).
	Hostname string
	// CAFile is a PEM file of extra trust anchors (roots, plus any
	// intermediates, which are used only to explain a missing intermediate).
	CAFile string
	// Roots replaces the system roots when non-nil; CAFile is added to it.
	Roots *x509.CertPool
	// Timeout bounds each network step; zero means DefaultTimeout.
	Timeout time.Duration
	// ExpectFingerprint, when set, is the SHA-256 of the leaf that must be
	// served (hex, colons and case ignored): apply proves the listener
	// serves exactly the certificate it installed.
	ExpectFingerprint string
	// ExpectRequired makes plaintext MAIL being accepted a failure.
	ExpectRequired bool
	// ExpectDisabled says STARTTLS must not be offered (the listener was
	// configured in disabled mode): its absence passes, its presence fails,
	// and the TLS stages are skipped.
	ExpectDisabled bool
	// HELO is the name sent in EHLO; empty means "localhost".
	HELO string
	// Port is dialled for MX hosts and for targets without a port; zero
	// means DefaultPort.
	Port int
	// Resolver looks up MX and address records; nil means net.DefaultResolver.
	Resolver Resolver
	// Now is the clock for expiry checks; nil means time.Now.
	Now func() time.Time
}

func (o Options) timeout() time.Duration {
	if o.Timeout > 0 {
		return o.Timeout
	}
	return DefaultTimeout
}

func (o Options) port() int {
	if o.Port > 0 {
		return o.Port
	}
	return DefaultPort
}

func (o Options) helo() string {
	if ValidHELO(o.HELO) {
		return o.HELO
	}
	return "localhost"
}

// ValidHELO reports whether name can be sent in EHLO as is: one word of
// printable ASCII, so it can't smuggle a second command onto the line.
func ValidHELO(name string) bool {
	if name == "" || len(name) > 255 {
		return false
	}
	for _, r := range name {
		if r <= ' ' || r >= 0x7f {
			return false
		}
	}
	return true
}

func (o Options) resolver() Resolver {
	if o.Resolver != nil {
		return o.Resolver
	}
	return net.DefaultResolver
}

func (o Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}
