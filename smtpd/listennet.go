package smtpd

import (
	"net"
	"net/netip"
)

// listenNetwork is the network to bind addr on, as the admin wrote it: an
// IPv4 address (0.0.0.0 included) binds IPv4 only, an IPv6 one ([::]
// included) IPv6 only, and an empty host (":25") or a name both. Go's
// "tcp" would make 0.0.0.0 a dual-stack socket that also takes IPv6.
func listenNetwork(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return "tcp"
	}
	ip, err := netip.ParseAddr(host)
	switch {
	case err != nil:
		return "tcp"
	case ip.Is4():
		return "tcp4"
	}
	return "tcp6"
}
