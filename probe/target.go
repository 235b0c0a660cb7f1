package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
)

// maxMX bounds how many MX hosts one run tests; real domains have a handful.
const maxMX = 10

// hostTarget is one server to test.
type hostTarget struct {
	Name string // host name or IP literal, no trailing dot, no brackets
	Port int
	Via  string // how it was found: "MX 10 of example.org", "" when given directly
}

func (h hostTarget) addr() string { return net.JoinHostPort(h.Name, strconv.Itoa(h.Port)) }

// isLiteral reports whether name needs no DNS: an IP address, or localhost
// (RFC 6761 reserves it for loopback).
func isLiteral(name string) bool {
	return net.ParseIP(name) != nil || isLocalhost(name)
}

func isLocalhost(name string) bool {
	n := strings.ToLower(strings.TrimSuffix(name, "."))
	return n == "localhost" || strings.HasSuffix(n, ".localhost")
}

// ParseTarget splits a target as typed into a host and a port, and says
// whether it may be a mail domain (a bare name, which gets an MX lookup).
// It rejects what can never be dialled, so the CLI can exit 2 early.
func ParseTarget(target string, defaultPort int) (host string, port int, maybeDomain bool, err error) {
	t := strings.TrimSpace(target)
	if t == "" {
		return "", 0, false, errors.New("no target: give host:port, a host or a mail domain")
	}
	if strings.Contains(t, "://") || strings.ContainsAny(t, "/@ ") {
		return "", 0, false, fmt.Errorf("target %q is not a host: give host:port, a host or a mail domain (no URL, no address)", target)
	}
	if h, p, splitErr := net.SplitHostPort(t); splitErr == nil {
		n, convErr := strconv.Atoi(p)
		if convErr != nil || n < 1 || n > 65535 {
			return "", 0, false, fmt.Errorf("target %q: port %q is not a number from 1 to 65535", target, p)
		}
		if h == "" {
			return "", 0, false, fmt.Errorf("target %q has a port but no host", target)
		}
		return strings.TrimSuffix(h, "."), n, false, nil
	}
	if strings.HasPrefix(t, "[") && strings.HasSuffix(t, "]") {
		t = t[1 : len(t)-1]
		if net.ParseIP(t) == nil {
			return "", 0, false, fmt.Errorf("target %q: %q in brackets is not an IP address", target, t)
		}
		return t, defaultPort, false, nil
	}
	if net.ParseIP(t) != nil {
		return t, defaultPort, false, nil
	}
	if strings.Count(t, ":") > 0 {
		return "", 0, false, fmt.Errorf("target %q: write an IPv6 address with a port as [addr]:port", target)
	}
	t = strings.TrimSuffix(t, ".")
	return t, defaultPort, !isLocalhost(t), nil
}

// plan turns the target into the servers to test, looking up MX records
// for a bare name. A failure is a one-line detail for the resolve stage.
func plan(ctx context.Context, o Options) ([]hostTarget, error) {
	host, port, maybeDomain, err := ParseTarget(o.Target, o.port())
	if err != nil {
		return nil, err
	}
	if !maybeDomain {
		return []hostTarget{{Name: host, Port: port}}, nil
	}
	mxs, err := o.resolver().LookupMX(ctx, host)
	var dnsErr *net.DNSError
	if err != nil && len(mxs) == 0 {
		if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
			// RFC 5321 5.1: no MX records, so the name itself is the mail host.
			return []hostTarget{{Name: host, Port: port, Via: "no MX records, so the name itself (implicit MX)"}}, nil
		}
		return nil, fmt.Errorf("MX lookup for %s failed: %w", host, err)
	}
	if len(mxs) == 0 {
		return []hostTarget{{Name: host, Port: port, Via: "no MX records, so the name itself (implicit MX)"}}, nil
	}
	if len(mxs) == 1 && (mxs[0].Host == "." || mxs[0].Host == "") {
		return nil, fmt.Errorf("%s publishes a null MX (RFC 7505): it accepts no mail", host)
	}
	sort.SliceStable(mxs, func(i, j int) bool { return mxs[i].Pref < mxs[j].Pref })
	var out []hostTarget
	for _, mx := range mxs {
		name := strings.TrimSuffix(mx.Host, ".")
		if name == "" {
			continue
		}
		out = append(out, hostTarget{Name: name, Port: port, Via: fmt.Sprintf("MX %d of %s", mx.Pref, host)})
		if len(out) == maxMX {
			break
		}
	}
	return out, nil
}

// lookupAddrs resolves one host to the addresses to dial, in order.
func lookupAddrs(ctx context.Context, o Options, h hostTarget) ([]string, error) {
	if ip := net.ParseIP(h.Name); ip != nil {
		return []string{h.Name}, nil
	}
	if isLocalhost(h.Name) {
		return []string{"127.0.0.1", "::1"}, nil
	}
	addrs, err := o.resolver().LookupHost(ctx, h.Name)
	if err != nil {
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
			return nil, fmt.Errorf("%s has no address records (A/AAAA): no such host", h.Name)
		}
		return nil, fmt.Errorf("address lookup for %s failed: %w", h.Name, err)
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("%s has no address records (A/AAAA)", h.Name)
	}
	return addrs, nil
}
