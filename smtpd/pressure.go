package smtpd

import (
	"cmp"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/smtptls/smtptls/config"
)

// Connection pressure, the way Postfix's stress mode handles it: limits per
// address and per network (IPv4 /24, IPv6 /64) at admission, and past
// stressPercent of max_connections every session gets the short
// stress_idle_timeout as its command timeout while sessions that have sent
// no complete command for that long are closed, oldest first. A session
// must finish EHLO within helloTimeout in any case. Without this, 60 hosts
// each within their per-address limit, dripping a byte every 10 s, held
// every slot for the 5-minute command timeout.

// stressPercent of max_connections is where stress mode starts.
const stressPercent = 80

// defaultHelloTimeout is how long a session may take to finish EHLO.
const defaultHelloTimeout = 30 * time.Second

// defaultEvictAfterIdle: when every slot is taken, a new connection takes the
// slot of the session that has gone longest without a complete command,
// if that is at least this long. A sender that is delivering answers each
// reply within milliseconds; one silent for a second while the listener
// is full is holding a slot, not using it (Postfix's own connection cache
// keeps idle sessions at most 2 s, and reconnects when one is closed).
const defaultEvictAfterIdle = time.Second

func (s *Server) evictAfterIdle() time.Duration {
	if s.opts.EvictAfterIdle > 0 {
		return s.opts.EvictAfterIdle
	}
	return defaultEvictAfterIdle
}

// stressTick is how often the stress reaper looks for idle sessions.
const stressTick = 500 * time.Millisecond

// peerKeys are the counters a connection is admitted under.
type peerKeys struct {
	addr netip.Addr
	net  netip.Prefix
}

func peerKeysOf(c net.Conn) peerKeys {
	var a netip.Addr
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		a = ta.AddrPort().Addr().Unmap()
	} else if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		a = ap.Addr().Unmap()
	}
	return peerKeys{addr: a, net: networkOf(a)}
}

// networkOf is the network a host with many addresses usually has them
// in: the /24 of an IPv4 address, the /64 of an IPv6 one.
func networkOf(a netip.Addr) netip.Prefix {
	bits := 64
	if a.Is4() {
		bits = 24
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return netip.Prefix{}
	}
	return p
}

func stressThreshold(l config.Limits) int {
	return l.MaxConnections * stressPercent / 100
}

// admitLocked counts c's peer in or says why not; connMu is held.
func (s *Server) admitLocked(k peerKeys, l config.Limits, now time.Time) (refusal string) {
	switch {
	case s.perIP[k.addr] >= l.MaxConnectionsPerIP:
		return "too many connections from your address"
	case s.perNet[k.net] >= l.MaxConnectionsPerNetwork:
		return "too many connections from your network"
	case s.total-s.leaving >= l.MaxConnections:
		if !s.evictIdlestLocked(now, s.evictAfterIdle(), "closed to make room: idle while the listener was full") {
			return "too many connections"
		}
	}
	s.total++
	s.perIP[k.addr]++
	s.perNet[k.net]++
	s.noteStressLocked(l, now)
	return ""
}

// releaseLocked counts c out; connMu is held.
func (s *Server) releaseLocked(c *conn) {
	s.total--
	if c.evicted.Load() {
		s.leaving--
	}
	if s.perIP[c.keys.addr]--; s.perIP[c.keys.addr] <= 0 {
		delete(s.perIP, c.keys.addr)
	}
	if s.perNet[c.keys.net]--; s.perNet[c.keys.net] <= 0 {
		delete(s.perNet, c.keys.net)
	}
	delete(s.conns, c)
	s.noteStressLocked(s.limits(), time.Now())
}

// limits is the live configuration's; stress follows the newest limits.
func (s *Server) limits() config.Limits {
	return *s.curLimits.Load()
}

// noteStressLocked switches stress mode on or off with the count, and
// says so in the log, with the networks that hold the most connections.
func (s *Server) noteStressLocked(l config.Limits, now time.Time) {
	on := s.total > stressThreshold(l)
	if on == s.stressed.Load() {
		return
	}
	s.stressed.Store(on)
	if on {
		s.stressSince = now
		s.log.Warn("under stress: idle sessions are closed and command timeouts shortened",
			"connections", s.total, "max_connections", l.MaxConnections,
			"stress_idle_timeout", l.StressIdleTimeout.Duration, "networks", formatNetworks(s.topNetworksLocked(5)))
		return
	}
	s.log.Info("stress over", "connections", s.total, "lasted", now.Sub(s.stressSince).Round(time.Second))
}

// evictIdlestLocked closes the session longest without a complete
// command, if that is at least minIdle and it is not receiving a body or
// handshaking.
func (s *Server) evictIdlestLocked(now time.Time, minIdle time.Duration, why string) bool {
	var victim *conn
	for c := range s.conns {
		if c.midway() || c.evicted.Load() || now.Sub(c.idleSince()) < minIdle {
			continue
		}
		if victim == nil || c.lastCmd.Load() < victim.lastCmd.Load() {
			victim = c
		}
	}
	if victim == nil {
		return false
	}
	s.evictLocked(victim, why)
	return true
}

func (s *Server) evictLocked(c *conn, why string) {
	c.evicted.Store(true)
	s.leaving++
	c.info.setResult(why)
	// go-smtp wakes with a timeout, answers 421 4.4.2 and closes; every
	// later deadline it sets is "now" too (conn.SetReadDeadline).
	_ = c.Conn.SetReadDeadline(time.Now())
}

// reapIdle closes, oldest first, sessions without a complete command for
// stress_idle_timeout, until the count is back at the stress threshold.
func (s *Server) reapIdle(now time.Time) {
	if !s.stressed.Load() {
		return
	}
	l := s.limits()
	s.connMu.Lock()
	defer s.connMu.Unlock()
	excess := s.total - s.leaving - stressThreshold(l)
	if excess <= 0 {
		return
	}
	var idle []*conn
	for c := range s.conns {
		if !c.midway() && !c.evicted.Load() && now.Sub(c.idleSince()) >= l.StressIdleTimeout.Duration {
			idle = append(idle, c)
		}
	}
	slices.SortFunc(idle, func(a, b *conn) int { return cmp.Compare(a.lastCmd.Load(), b.lastCmd.Load()) })
	for _, c := range idle[:min(excess, len(idle))] {
		s.evictLocked(c, "closed under stress: idle")
	}
}

// stressLoop runs the reaper until done is closed.
func (s *Server) stressLoop(done <-chan struct{}) {
	defer s.wg.Done()
	t := time.NewTicker(stressTick)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case now := <-t.C:
			s.reapIdle(now)
		}
	}
}

// NetworkCount is how many connections one network holds.
type NetworkCount struct {
	Network     string `json:"network"`
	Connections int    `json:"connections"`
}

// Pressure is what the listener says about its connections: how many,
// and whether it is in stress mode, since when and from which networks.
type Pressure struct {
	Connections    int            `json:"connections"`
	MaxConnections int            `json:"max_connections"`
	Stress         bool           `json:"stress"`
	StressSince    *time.Time     `json:"stress_since,omitempty"`
	TopNetworks    []NetworkCount `json:"top_networks,omitempty"`
}

// Pressure reports the connection counts now.
func (s *Server) Pressure() Pressure {
	l := s.limits()
	s.connMu.Lock()
	defer s.connMu.Unlock()
	p := Pressure{Connections: s.total, MaxConnections: l.MaxConnections, Stress: s.stressed.Load(), TopNetworks: s.topNetworksLocked(5)}
	if p.Stress {
		since := s.stressSince
		p.StressSince = &since
	}
	return p
}

func (s *Server) topNetworksLocked(n int) []NetworkCount {
	out := make([]NetworkCount, 0, len(s.perNet))
	for p, c := range s.perNet {
		out = append(out, NetworkCount{Network: p.String(), Connections: c})
	}
	slices.SortFunc(out, func(a, b NetworkCount) int {
		if c := cmp.Compare(b.Connections, a.Connections); c != 0 {
			return c
		}
		return strings.Compare(a.Network, b.Network)
	})
	return out[:min(n, len(out))]
}

func formatNetworks(ns []NetworkCount) string {
	parts := make([]string, len(ns))
	for i, n := range ns {
		parts[i] = fmt.Sprintf("%s=%d", n.Network, n.Connections)
	}
	return strings.Join(parts, " ")
}
