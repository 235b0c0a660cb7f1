package smtpd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/smtptls/smtptls/config"
	"github.com/smtptls/smtptls/smtpd/relay"
)

// Server is the listener. One OS socket feeds the current generation (a
// go-smtp server built for one mode and set of limits); a reload that
// changes those starts a new generation and lets the old one drain.
type Server struct {
	opts Options
	log  *slog.Logger

	cert    atomic.Pointer[tls.Certificate]
	tlsConf *tls.Config // what go-smtp gets: it asks configForClient
	policy  tlsPolicy   // what a handshake offers (tlspolicy.go)

	mu      sync.Mutex
	cfg     Config
	ln      net.Listener
	gen     *generation
	old     map[*generation]struct{}
	started bool
	closed  bool
	since   time.Time

	stopping atomic.Bool

	connMu sync.Mutex
	total  int
	perIP  map[netip.Addr]int
	perNet map[netip.Prefix]int
	conns  map[*conn]*generation
	// leaving counts sessions closed to make room that have not yet
	// released their slot (pressure.go).
	leaving     int
	stressSince time.Time
	stressed    atomic.Bool
	curLimits   atomic.Pointer[config.Limits]
	stressDone  chan struct{}

	free freeSpace // of the spool, for MAIL (diskspace.go)

	wg sync.WaitGroup // accept loops, drains and the stress reaper

	// lineBufs recycles the DATA filter's buffers (12 KB a message).
	lineBufs sync.Pool

	relayStats relay.Stats // since start, across reloads
}

type generation struct {
	cfg       Config
	smtp      *smtp.Server
	delivery  delivery
	closeOnce sync.Once
	ln        *chanListener
	served    chan struct{} // closed when smtp.Serve returned
}

// New checks cfg and prepares a server; Start binds it.
func New(cfg Config, opts Options) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := checkConfig(cfg); err != nil {
		return nil, err
	}
	cfg.Limits = limitsWithDefaults(cfg.Limits)
	s := &Server{
		opts:       opts,
		log:        opts.Logger,
		cfg:        cfg,
		old:        map[*generation]struct{}{},
		perIP:      map[netip.Addr]int{},
		perNet:     map[netip.Prefix]int{},
		conns:      map[*conn]*generation{},
		stressDone: make(chan struct{}),
	}
	cfg.TLS = tlsPolicyOrDefault(cfg.TLS)
	s.cfg = cfg
	s.curLimits.Store(&cfg.Limits)
	s.tlsConf = &tls.Config{
		MinVersion:         tls.VersionTLS12,
		GetCertificate:     s.getCertificate,
		GetConfigForClient: s.configForClient,
	}
	s.policy.set(cfg.TLS, s.getCertificate, opts.Now())
	if cfg.Certificate != nil {
		s.cert.Store(cfg.Certificate)
	}
	return s, nil
}

func checkConfig(cfg Config) error {
	if _, err := config.ParseMode(string(cfg.Mode)); err != nil {
		return err
	}
	if cfg.Mode.NeedsCertificate() && cfg.Certificate == nil {
		return fmt.Errorf("mode %s needs a certificate", cfg.Mode)
	}
	if cfg.SpoolDir == "" {
		return errors.New("no spool directory")
	}
	// Config may be built by hand (tests of other packages): the same
	// rule as config.Settings.Check, or every peer would be refused.
	l := cfg.Limits
	if l.MaxMessageBytes <= 0 || l.MaxRecipients <= 0 || l.MaxConnections <= 0 || l.MaxConnectionsPerIP <= 0 ||
		l.CommandTimeout.Duration <= 0 || l.DataTimeout.Duration <= 0 || l.HandshakeTimeout.Duration <= 0 {
		return errors.New("limits and timeouts must all be positive")
	}
	return nil
}

// limitsWithDefaults fills the limits a hand-built Config (tests of other
// packages, configurations written before they existed) leaves at zero.
func limitsWithDefaults(l config.Limits) config.Limits {
	d := config.DefaultSettings(false, "").Limits
	if l.MaxConnectionsPerNetwork <= 0 {
		l.MaxConnectionsPerNetwork = d.MaxConnectionsPerNetwork
	}
	if l.StressIdleTimeout.Duration <= 0 {
		l.StressIdleTimeout = d.StressIdleTimeout
	}
	return l
}

func (s *Server) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c := s.cert.Load()
	if c == nil {
		return nil, errors.New("no certificate configured")
	}
	return c, nil
}

// configForClient gives each handshake the TLS policy in force, and
// records what the peer offered, for the log line of a failed handshake.
func (s *Server) configForClient(hello *tls.ClientHelloInfo) (*tls.Config, error) {
	c := s.policy.config(s.opts.Now())
	wc, _ := hello.Conn.(*conn)
	if wc == nil {
		return c, nil
	}
	wc.hs.sawHello(hello)
	// A config of its own lets VerifyConnection say which connection it is
	// about, so the session log has the TLS version and cipher even when
	// the peer never sends a command over TLS. Clone costs about a
	// microsecond against some 300 of handshake.
	c.VerifyConnection = func(st tls.ConnectionState) error {
		wc.hs.setState(st)
		return nil
	}
	return c, nil
}

// Start binds the listen address and starts serving.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("server already started")
	}
	ln, err := net.Listen(listenNetwork(s.cfg.Listen), s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w%s", s.cfg.Listen, err, listenHint(err))
	}
	if s.cfg.Relay == nil {
		s.removeLeftovers(s.cfg)
	}
	g, err := s.newGeneration(s.cfg, ln.Addr())
	if err != nil {
		ln.Close()
		return err
	}
	s.ln, s.gen, s.started, s.since = ln, g, true, s.opts.Now()
	s.startAccept(ln)
	s.wg.Add(1)
	go s.stressLoop(s.stressDone)
	s.log.Info("listening", "addr", ln.Addr().String(), "mode", string(s.cfg.Mode),
		"generation", s.cfg.Generation, "fingerprint", s.cfg.Fingerprint)
	return nil
}

// Addr is the address actually bound (port 0 resolved); nil before Start.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Current is the configuration now served and since when.
func (s *Server) Current() (Config, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg, s.since
}

func (s *Server) newGeneration(cfg Config, addr net.Addr) (*generation, error) {
	dl, err := s.openDelivery(cfg)
	if err != nil {
		return nil, err
	}
	be := &backend{srv: s, cfg: cfg, delivery: dl}
	ss := smtp.NewServer(be)
	ss.Domain = cfg.Hostname
	ss.MaxMessageBytes = cfg.Limits.MaxMessageBytes
	ss.MaxRecipients = cfg.Limits.MaxRecipients
	ss.ReadTimeout = cfg.Limits.CommandTimeout.Duration
	ss.WriteTimeout = cfg.Limits.CommandTimeout.Duration
	ss.ErrorLog = errorLog{s.log}
	if cfg.Mode.NeedsCertificate() {
		ss.TLSConfig = s.tlsConf
	}
	g := &generation{cfg: cfg, smtp: ss, delivery: dl, ln: newChanListener(addr), served: make(chan struct{})}
	go func() {
		defer close(g.served)
		_ = ss.Serve(g.ln)
	}()
	return g, nil
}

// needsNewServer reports whether a reload from a to b changes anything
// go-smtp reads from its Server fields; a certificate alone does not.
func needsNewServer(a, b Config) bool {
	return a.Mode != b.Mode || a.Hostname != b.Hostname || a.Limits != b.Limits ||
		a.SpoolDir != b.SpoolDir || a.BareLineEndings != b.BareLineEndings || !sameDelivery(a, b)
}

// Reload switches to cfg, or returns why not and keeps serving as before.
// A new certificate takes effect for the next handshake; a new mode, limits
// or spool start a new generation while connections in flight finish under
// the old one; a new listen address is bound before the old is released.
func (s *Server) Reload(cfg Config) error {
	if err := checkConfig(cfg); err != nil {
		return err
	}
	cfg.Limits = limitsWithDefaults(cfg.Limits)
	cfg.TLS = tlsPolicyOrDefault(cfg.TLS)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started || s.closed {
		return errors.New("server is not running")
	}
	var newLn net.Listener
	if cfg.Listen != s.cfg.Listen {
		ln, err := net.Listen(listenNetwork(cfg.Listen), cfg.Listen)
		if err != nil {
			if samePort(cfg.Listen, s.ln.Addr()) {
				// Binding first is what keeps peers from ever seeing a
				// refusal, and the port is ours: a restart is the way.
				return fmt.Errorf("listen on %s: %w: this listener holds port %s on %s; to move to another address on the same port, restart it (smtptls stop, then smtptls serve)",
					cfg.Listen, err, portOf(s.ln.Addr().String()), s.ln.Addr())
			}
			return fmt.Errorf("listen on %s: %w%s (still serving on %s)", cfg.Listen, err, listenHint(err), s.ln.Addr())
		}
		newLn = ln
	}
	addr := s.ln.Addr()
	if newLn != nil {
		addr = newLn.Addr()
	}
	var g *generation
	if needsNewServer(s.cfg, cfg) || newLn != nil {
		var err error
		if g, err = s.newGeneration(cfg, addr); err != nil {
			if newLn != nil {
				newLn.Close()
			}
			return err
		}
	}
	// From here on nothing can fail.
	if cfg.Certificate != nil {
		s.cert.Store(cfg.Certificate)
	}
	s.policy.set(cfg.TLS, s.getCertificate, s.opts.Now())
	if g != nil {
		old := s.gen
		s.gen = g
		s.old[old] = struct{}{}
		s.wg.Add(1)
		go s.drain(old)
	}
	if newLn != nil {
		oldLn := s.ln
		s.ln = newLn
		s.startAccept(newLn)
		oldLn.Close()
	}
	s.cfg, s.since = cfg, s.opts.Now()
	s.curLimits.Store(&cfg.Limits)
	s.log.Info("reloaded", "generation", cfg.Generation, "mode", string(cfg.Mode),
		"listen", s.ln.Addr().String(), "fingerprint", cfg.Fingerprint, "new_server", g != nil)
	return nil
}

func (s *Server) drainTimeout(cfg Config) time.Duration {
	if s.opts.DrainTimeout > 0 {
		return s.opts.DrainTimeout
	}
	return cfg.Limits.CommandTimeout.Duration + cfg.Limits.DataTimeout.Duration
}

// drain lets an old generation's connections finish, then cuts the rest.
func (s *Server) drain(g *generation) {
	defer s.wg.Done()
	ctx, cancel := context.WithTimeout(context.Background(), s.drainTimeout(g.cfg))
	defer cancel()
	s.stopGeneration(ctx, g)
	s.mu.Lock()
	delete(s.old, g)
	s.mu.Unlock()
}

func (s *Server) stopGeneration(ctx context.Context, g *generation) {
	g.ln.Close()
	<-g.served // no connection can reach this generation any more
	// Every session of g has ended when this returns: its delivery goes.
	defer g.closeDelivery()
	// go-smtp's Shutdown would wait forever for idle peers, and its Close
	// does nothing after a Shutdown; our own registry of conns lets us wait
	// with a deadline and then cut.
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for s.countConns(g) > 0 {
		select {
		case <-ctx.Done():
			s.connMu.Lock()
			var cut []*conn
			for c, cg := range s.conns {
				if cg == g {
					cut = append(cut, c)
				}
			}
			s.connMu.Unlock()
			for _, c := range cut {
				c.info.setResult("cut at shutdown")
				_ = c.Conn.Close()
			}
			for s.countConns(g) > 0 {
				<-tick.C
			}
			return
		case <-tick.C:
			if s.stopping.Load() {
				s.pokeAll()
			}
		}
	}
}

// closeDelivery releases the spool's directories once, though Shutdown
// and a drain may both stop the same old generation.
func (g *generation) closeDelivery() {
	g.closeOnce.Do(func() { _ = g.delivery.close() })
}

func (s *Server) countConns(g *generation) int {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	n := 0
	for _, cg := range s.conns {
		if cg == g {
			n++
		}
	}
	return n
}

func (s *Server) pokeAll() {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	for c := range s.conns {
		c.poke()
	}
}

// Shutdown stops accepting, lets transactions in progress finish, closes
// idle connections with 421, and cuts whatever remains when ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.stopping.Store(true)
	if s.started {
		close(s.stressDone)
	}
	var gens []*generation
	if s.gen != nil {
		gens = append(gens, s.gen)
	}
	for g := range s.old {
		gens = append(gens, g)
	}
	if s.ln != nil {
		s.ln.Close()
	}
	s.mu.Unlock()

	// Idle connections are blocked reading a command: wake them so
	// go-smtp answers 421 and closes. Busy ones are poked again by their
	// next SetReadDeadline once their transaction ends.
	s.pokeAll()

	var wg sync.WaitGroup
	for _, g := range gens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.stopGeneration(ctx, g)
		}()
	}
	wg.Wait()
	s.wg.Wait()
	s.log.Info("stopped")
	return ctx.Err()
}

func (s *Server) startAccept(ln net.Listener) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		var delay time.Duration
		for {
			c, err := ln.Accept()
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				// EMFILE and friends: back off instead of spinning.
				if delay == 0 {
					delay = 5 * time.Millisecond
				} else if delay *= 2; delay > time.Second {
					delay = time.Second
				}
				s.log.Warn("accept failed", "err", err, "retry_in", delay)
				time.Sleep(delay)
				continue
			}
			delay = 0
			s.admit(c)
		}
	}()
}

// admit applies the connection limits and hands c to the current server.
func (s *Server) admit(raw net.Conn) {
	s.mu.Lock()
	cfg := s.cfg
	s.mu.Unlock()
	keys := peerKeysOf(raw)
	now := time.Now()

	s.connMu.Lock()
	if why := s.admitLocked(keys, cfg.Limits, now); why != "" {
		s.connMu.Unlock()
		go s.refuse(raw, cfg.Hostname, why)
		return
	}
	s.connMu.Unlock()

	c := &conn{
		Conn:             raw,
		srv:              s,
		keys:             keys,
		info:             &sessionInfo{peer: raw.RemoteAddr().String(), start: now},
		handshakeTimeout: cfg.Limits.HandshakeTimeout.Duration,
		helloBy:          now.Add(s.helloTimeout()),
		filter:           cfg.Mode == config.ModeRequired,
	}
	c.lastCmd.Store(now.UnixNano())
	var once sync.Once
	c.release = func() {
		once.Do(func() {
			s.connMu.Lock()
			s.releaseLocked(c)
			s.connMu.Unlock()
		})
	}
	for {
		s.mu.Lock()
		g, closed := s.gen, s.closed
		s.mu.Unlock()
		if closed {
			c.info.setResult("server shutting down")
			_ = c.Close()
			return
		}
		// The filter must match the mode of the server that gets c.
		c.filter = g.cfg.Mode == config.ModeRequired
		s.connMu.Lock()
		s.conns[c] = g
		s.connMu.Unlock()
		if g.ln.deliver(c) {
			return
		}
	}
}

func (s *Server) helloTimeout() time.Duration {
	if s.opts.HelloTimeout > 0 {
		return s.opts.HelloTimeout
	}
	return defaultHelloTimeout
}

func (s *Server) refuse(c net.Conn, host, why string) {
	defer c.Close()
	_ = c.SetWriteDeadline(time.Now().Add(2 * time.Second))
	fmt.Fprintf(c, "421 4.7.0 %s Error: %s, try again later\r\n", host, why)
	s.log.Warn("connection refused", "peer", c.RemoteAddr().String(), "reason", why)
}

// listenHint says what to do about the two bind errors admins meet.
func listenHint(err error) string {
	switch {
	case errors.Is(err, syscall.EACCES):
		return "; ports below 1024 need root or CAP_NET_BIND_SERVICE (see smtptls.service), or listen on a port above 1024"
	case errors.Is(err, syscall.EADDRINUSE):
		return "; another program (often another MTA) holds this address: find it with `ss -ltnp`"
	}
	return ""
}

func samePort(listen string, cur net.Addr) bool {
	p := portOf(listen)
	return p != "" && p != "0" && p == portOf(cur.String())
}

func portOf(hostport string) string {
	_, p, err := net.SplitHostPort(hostport)
	if err != nil {
		return ""
	}
	return p
}

// errorLog routes go-smtp's internal errors into slog.
type errorLog struct{ l *slog.Logger }

func (e errorLog) Printf(format string, v ...interface{}) {
	e.l.Warn("smtp", "msg", fmt.Sprintf(format, v...))
}

func (e errorLog) Println(v ...interface{}) { e.l.Warn("smtp", "msg", fmt.Sprint(v...)) }
