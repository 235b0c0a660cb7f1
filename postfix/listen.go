package postfix

import (
	"context"
	"fmt"
	"net"
	"strings"
)

// Service is one master.cf line as `postconf -M` prints it.
type Service struct {
	Name    string // "smtp", "127.0.0.1:2525", "submission"
	Type    string // inet, unix, ...
	Command string // the command and its arguments
}

// Listen is where Postfix takes mail from the network.
type Listen struct {
	Service string // the master.cf service name
	// Overrides are the TLS parameters master.cf sets for this service
	// with -o name=value: they win over main.cf.
	Overrides []string
	// Addrs are the addresses it binds, one per inet_interfaces entry
	// ("0.0.0.0" for all); Port is numeric.
	Addrs []string
	Port  string
}

// String is how the admin reads it: 0.0.0.0:25, or several joined.
func (l Listen) String() string {
	out := make([]string, len(l.Addrs))
	for i, a := range l.Addrs {
		out[i] = net.JoinHostPort(a, l.Port)
	}
	return strings.Join(out, ", ")
}

// Dial is an address to reach it from this machine: loopback for a
// wildcard, otherwise the first address bound.
func (l Listen) Dial() string {
	if len(l.Addrs) == 0 {
		return ""
	}
	host := l.Addrs[0]
	for _, a := range l.Addrs {
		if a == "127.0.0.1" || a == "::1" {
			host = a
		}
	}
	switch host {
	case "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, l.Port)
}

// Public reports whether a peer from outside could connect: any address
// that is not loopback.
func (l Listen) Public() bool {
	for _, a := range l.Addrs {
		ip := net.ParseIP(a)
		if ip == nil || !ip.IsLoopback() {
			return true
		}
	}
	return false
}

// Services reads master.cf through `postconf -M`.
func (p *Instance) Services(ctx context.Context) ([]Service, error) {
	out, err := p.run(ctx, "postconf", p.Postconf, "-M")
	if err != nil {
		return nil, fmt.Errorf("read master.cf: %w", err)
	}
	return parseServices(string(out)), nil
}

func parseServices(out string) []Service {
	var svcs []Service
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 8 || strings.HasPrefix(f[0], "#") {
			continue
		}
		svcs = append(svcs, Service{Name: f[0], Type: f[1], Command: strings.Join(f[7:], " ")})
	}
	return svcs
}

// SMTPListen finds where smtpd takes mail: the inet service running smtpd
// (or postscreen, which hands sessions to smtpd) on port 25 if there is
// one, else the first such service; its host part, or inet_interfaces.
func (p *Instance) SMTPListen(ctx context.Context) (Listen, error) {
	svcs, err := p.Services(ctx)
	if err != nil {
		return Listen{}, err
	}
	eff, err := p.Effective(ctx, "inet_interfaces", "inet_protocols")
	if err != nil {
		return Listen{}, err
	}
	return pickListen(svcs, eff["inet_interfaces"], eff["inet_protocols"])
}

func pickListen(svcs []Service, interfaces, protocols string) (Listen, error) {
	var found []Listen
	for _, s := range svcs {
		cmd := strings.Fields(s.Command)
		if s.Type != "inet" || len(cmd) == 0 || (cmd[0] != "smtpd" && cmd[0] != "postscreen") {
			continue
		}
		host, port := "", s.Name
		if i := strings.LastIndex(s.Name, ":"); i >= 0 {
			host, port = strings.Trim(s.Name[:i], "[]"), s.Name[i+1:]
		}
		n, err := net.LookupPort("tcp", port)
		if err != nil {
			continue // a port name this machine does not know
		}
		l := Listen{Service: s.Name, Port: fmt.Sprint(n), Overrides: tlsOverrides(cmd[1:])}
		if host != "" {
			l.Addrs = []string{host}
		} else {
			l.Addrs = interfaceAddrs(interfaces, protocols)
		}
		found = append(found, l)
	}
	if len(found) == 0 {
		return Listen{}, fmt.Errorf("master.cf has no inet service that runs smtpd: Postfix does not take mail from the network here; pass --listen to say where to verify")
	}
	for _, l := range found {
		if l.Port == "25" {
			return l, nil
		}
	}
	return found[0], nil
}

// tlsOverrides lists the -o name=value arguments of a master.cf command
// that set a parameter smtptls writes (or an older one that decides TLS).
func tlsOverrides(args []string) []string {
	decides := map[string]bool{"smtpd_use_tls": true, "smtpd_enforce_tls": true}
	for _, p := range TouchedParams {
		decides[p] = true
	}
	var out []string
	for i, a := range args {
		v := ""
		switch {
		case a == "-o" && i+1 < len(args):
			v = args[i+1]
		case strings.HasPrefix(a, "-o") && len(a) > 2:
			v = a[2:]
		default:
			continue
		}
		if name, _, ok := strings.Cut(v, "="); ok && decides[strings.TrimSpace(name)] {
			out = append(out, v)
		}
	}
	return out
}

// interfaceAddrs turns inet_interfaces into addresses to bind.
func interfaceAddrs(interfaces, protocols string) []string {
	var out []string
	wild := func() []string {
		switch strings.TrimSpace(protocols) {
		case "ipv6":
			return []string{"::"}
		}
		return []string{"0.0.0.0"}
	}
	for _, f := range strings.FieldsFunc(interfaces, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		switch f {
		case "all":
			return wild()
		case "loopback-only", "localhost":
			out = append(out, "127.0.0.1")
		default:
			out = append(out, strings.Trim(f, "[]"))
		}
	}
	if len(out) == 0 {
		return wild()
	}
	return out
}
