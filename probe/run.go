package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Stage names, in the order they appear in a Host.
const (
	StageResolve     = "resolve"
	StageConnect     = "connect"
	StageBanner      = "banner"
	StageEHLO        = "ehlo"
	StageSTARTTLS    = "starttls"
	StageHandshake   = "handshake"
	StageChain       = "chain"
	StageTrust       = "trust"
	StageHostname    = "hostname"
	StageExpiry      = "expiry"
	StageFingerprint = "fingerprint" // only when Options.ExpectFingerprint is set
	StageMail        = "mail"
	StageRequired    = "required" // a second, plaintext connection
)

// stageOrder is every stage a host reports, so a table always has the same
// rows and a stage not reached says why.
func stageOrder(o Options) []string {
	s := []string{StageResolve, StageConnect, StageBanner, StageEHLO, StageSTARTTLS, StageHandshake,
		StageChain, StageTrust, StageHostname, StageExpiry}
	if o.ExpectFingerprint != "" {
		s = append(s, StageFingerprint)
	}
	return append(s, StageMail, StageRequired)
}

// maxParallelHosts bounds concurrent MX tests: a dead MX costs a whole
// timeout, so testing them one by one would add those up.
const maxParallelHosts = 4

// Run tests the target and reports every stage of every server. It never
// sends a message: MAIL FROM is tried, then RSET and QUIT.
func Run(ctx context.Context, opts Options) Report {
	rep := Report{Target: opts.Target}
	start := time.Now()
	hosts, err := plan(ctx, opts)
	if err != nil {
		name := strings.TrimSpace(opts.Target)
		h := Host{Target: name, Name: name}
		r := newRecorder(opts)
		r.add(StageResolve, Fail, time.Since(start), oneLine(err.Error(), 200))
		h.Stages = r.finish()
		h.Score = score(h.Stages)
		rep.Hosts = []Host{h}
		rep.Score = h.Score
		return rep
	}
	lookupTook := time.Since(start)
	ts := buildTrust(opts)
	if ts.withSystem != nil && ts.custom == nil {
		// The system roots will be needed: load them while the network
		// steps run rather than after.
		go ts.withSystem()
	}
	rep.Hosts = make([]Host, len(hosts))
	sem := make(chan struct{}, maxParallelHosts)
	var wg sync.WaitGroup
	for i, ht := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			rep.Hosts[i] = probeHost(ctx, opts, ts, ht, lookupTook)
		}()
	}
	wg.Wait()
	rep.Score = 100
	for _, h := range rep.Hosts {
		rep.Score = min(rep.Score, h.Score)
	}
	return rep
}

// recorder collects stages as they run and fills in the ones never reached.
type recorder struct {
	order  []string
	got    map[string]Stage
	reason string // why the remaining stages were not reached
}

func newRecorder(o Options) *recorder {
	return &recorder{order: stageOrder(o), got: map[string]Stage{}}
}

func (r *recorder) add(name string, st Status, took time.Duration, detail string) {
	r.got[name] = Stage{Name: name, Status: st, Detail: detail, Took: took}
	if st == Fail && r.reason == "" {
		r.reason = "not reached: " + name + " failed"
	}
}

func (r *recorder) skip(name, detail string) {
	if _, done := r.got[name]; !done {
		r.got[name] = Stage{Name: name, Status: Skip, Detail: detail}
	}
}

func (r *recorder) finish() []Stage {
	out := make([]Stage, 0, len(r.order))
	for _, n := range r.order {
		s, ok := r.got[n]
		if !ok {
			reason := r.reason
			if reason == "" {
				reason = "not reached"
			}
			s = Stage{Name: n, Status: Skip, Detail: reason}
		}
		out = append(out, s)
	}
	return out
}

type hostRun struct {
	o    Options
	ts   trustSet
	ht   hostTarget
	rec  *recorder
	host *Host
}

func probeHost(ctx context.Context, o Options, ts trustSet, ht hostTarget, lookupTook time.Duration) Host {
	h := Host{Target: ht.addr(), Name: ht.Name, Via: ht.Via}
	hr := &hostRun{o: o, ts: ts, ht: ht, rec: newRecorder(o), host: &h}
	hr.run(ctx, lookupTook)
	h.Stages = hr.rec.finish()
	h.Score = score(h.Stages)
	return h
}

func (hr *hostRun) run(ctx context.Context, lookupTook time.Duration) {
	o, rec := hr.o, hr.rec
	t := time.Now()
	addrs, err := lookupAddrs(ctx, o, hr.ht)
	took := time.Since(t) + lookupTook
	if err != nil {
		rec.add(StageResolve, Fail, took, oneLine(err.Error(), 200))
		return
	}
	detail := strings.Join(addrs, ", ")
	if hr.ht.Via != "" {
		detail = hr.ht.Name + " (" + hr.ht.Via + ") → " + detail
	} else if !isLiteral(hr.ht.Name) {
		detail = hr.ht.Name + " → " + detail
	} else {
		detail = hr.ht.Name + " (no DNS needed)"
	}
	rec.add(StageResolve, Pass, took, oneLine(detail, 200))

	t = time.Now()
	var dial []string
	for _, a := range addrs {
		dial = append(dial, net.JoinHostPort(a, strconv.Itoa(hr.ht.Port)))
	}
	c, addr, err := dialSMTP(ctx, dial, o.timeout())
	if err != nil {
		rec.add(StageConnect, Fail, time.Since(t), oneLine(err.Error(), 200))
		return
	}
	hr.host.Address = addr
	rec.add(StageConnect, Pass, time.Since(t), "connected to "+addr)

	hr.session(ctx, c)
	if e, ok := rec.got[StageEHLO]; ok && e.Status != Fail {
		hr.plaintextMail(ctx, addr)
	}
}

// dialSMTP tries each ip:port in turn, as a sending MTA does.
func dialSMTP(ctx context.Context, addrs []string, timeout time.Duration) (*smtpConn, string, error) {
	d := net.Dialer{Timeout: timeout}
	var errs []string
	for _, addr := range addrs {
		nc, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			return newSMTPConn(ctx, nc, timeout), addr, nil
		}
		errs = append(errs, addr+": "+describeDialErr(err, timeout))
	}
	return nil, "", errors.New("cannot connect to " + strings.Join(errs, "; "))
}

func describeDialErr(err error, timeout time.Duration) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused (nothing listens on that port, or a firewall rejects it)"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Sprintf("no answer within %s (a firewall dropping packets, or port 25 blocked by the network)", timeout)
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err.Error()
	}
	return err.Error()
}

// recordFunc receives a stage's outcome.
type recordFunc func(name string, st Status, took time.Duration, detail string)

// greet reads the banner and says EHLO, falling back to HELO, reporting
// the banner and ehlo stages to record. It returns the EHLO reply (nil
// after HELO) or false when the session cannot go on.
func (hr *hostRun) greet(c *smtpConn, record recordFunc) (*reply, bool) {
	t := time.Now()
	banner, err := c.readReply()
	if err != nil {
		msg := "no banner: " + err.Error()
		if hr.ht.Port == 465 {
			msg += " (port 465 expects TLS at once, SMTPS, not STARTTLS: test port 25 or 587)"
		}
		record(StageBanner, Fail, time.Since(t), oneLine(msg, 200))
		return nil, false
	}
	if banner.Code != 220 {
		msg := "the server refuses the session: " + banner.String()
		if banner.Code == 554 {
			msg = "the server refuses service (554): " + banner.String()
		}
		record(StageBanner, Fail, time.Since(t), msg)
		return nil, false
	}
	record(StageBanner, Pass, time.Since(t), banner.String())

	t = time.Now()
	ehlo, err := c.cmd("EHLO " + hr.o.helo())
	if err != nil {
		record(StageEHLO, Fail, time.Since(t), oneLine(err.Error(), 200))
		return nil, false
	}
	if ehlo.Code == 250 {
		record(StageEHLO, Pass, time.Since(t), fmt.Sprintf("%s (%s)", ehlo.String(), plural(len(ehlo.Lines)-1, "extension")))
		return &ehlo, true
	}
	helo, err := c.cmd("HELO " + hr.o.helo())
	if err == nil && helo.Code == 250 {
		record(StageEHLO, Warn, time.Since(t), "EHLO refused ("+ehlo.String()+"), HELO accepted: no extensions, so no STARTTLS")
		return nil, true
	}
	record(StageEHLO, Fail, time.Since(t), "EHLO refused: "+ehlo.String())
	return nil, false
}

// session runs the main connection: banner to MAIL over TLS.
func (hr *hostRun) session(ctx context.Context, c *smtpConn) {
	defer c.close()
	rec, o := hr.rec, hr.o
	ehlo, ok := hr.greet(c, rec.add)
	if !ok {
		return
	}
	t := time.Now()
	offered := ehlo != nil && ehlo.has("STARTTLS")
	if o.ExpectDisabled {
		if offered {
			rec.add(StageSTARTTLS, Fail, time.Since(t), "STARTTLS is offered, but the listener should be in disabled mode")
			c.quit()
			return
		}
		rec.add(StageSTARTTLS, Pass, time.Since(t), "not offered, as expected in disabled mode")
		for _, s := range []string{StageHandshake, StageChain, StageTrust, StageHostname, StageExpiry, StageFingerprint} {
			rec.skip(s, "disabled mode: no TLS")
		}
		rec.skip(StageRequired, "disabled mode: nothing to require")
		hr.mail(c, false)
		return
	}
	if !offered {
		rec.add(StageSTARTTLS, Fail, time.Since(t), "not offered: the EHLO reply lists no STARTTLS, so peers deliver in plaintext")
		rec.reason = "not reached: no STARTTLS"
		c.quit()
		return
	}
	st, err := c.cmd("STARTTLS")
	if err != nil {
		rec.add(StageSTARTTLS, Fail, time.Since(t), oneLine(err.Error(), 200))
		return
	}
	if st.Code != 220 {
		rec.add(StageSTARTTLS, Fail, time.Since(t), "offered but refused: "+st.String())
		c.quit()
		return
	}
	rec.add(StageSTARTTLS, Pass, time.Since(t), "offered and accepted: "+st.String())

	certs, ok := hr.handshake(ctx, c)
	hr.judgeCerts(certs)
	if !ok {
		return
	}
	hr.mail(c, true)
}

// handshake upgrades c. It verifies nothing itself (the stages after it do,
// one problem at a time) but keeps the certificates even when the handshake
// fails, so a key that doesn't match the first certificate is still shown.
func (hr *hostRun) handshake(ctx context.Context, c *smtpConn) ([]*x509.Certificate, bool) {
	rec := hr.rec
	var raw [][]byte
	cfg := &tls.Config{
		InsecureSkipVerify: true,
		MinVersion:         tls.VersionTLS10, // to report an old server, not to use it
		CipherSuites:       allCipherSuites(),
		VerifyPeerCertificate: func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
			raw = rawCerts
			return nil
		},
	}
	if name := hr.checkName(); net.ParseIP(name) == nil {
		cfg.ServerName = name
	}
	t := time.Now()
	tc := tls.Client(c.nc, cfg)
	if err := c.arm(); err != nil {
		hr.rec.add(StageHandshake, Fail, 0, err.Error())
		return nil, false
	}
	err := tc.HandshakeContext(ctx)
	took := time.Since(t)
	var certs []*x509.Certificate
	for i, der := range raw {
		cert, perr := x509.ParseCertificate(der)
		if perr != nil {
			rec.add(StageChain, Fail, 0, fmt.Sprintf("certificate %d cannot be parsed: %v", i+1, perr))
			break
		}
		certs = append(certs, cert)
	}
	hr.host.Served = describeCerts(certs)
	if err != nil {
		msg := "handshake failed: " + c.netErr(err).Error()
		if strings.Contains(err.Error(), "verification error") || strings.Contains(err.Error(), "signature") {
			msg += " (the server's key does not match the first certificate it sends)"
		}
		rec.add(StageHandshake, Fail, took, oneLine(msg, 200))
		return certs, false
	}
	cs := tc.ConnectionState()
	hr.host.TLSVersion = tls.VersionName(cs.Version)
	hr.host.Cipher = tls.CipherSuiteName(cs.CipherSuite)
	if cs.CurveID != 0 {
		hr.host.Group = cs.CurveID.String()
	}
	st, detail := judgeHandshake(cs)
	rec.add(StageHandshake, st, took, detail)
	c.upgrade(ctx, tc)
	return certs, true
}

func allCipherSuites() []uint16 {
	var ids []uint16
	for _, s := range tls.CipherSuites() {
		ids = append(ids, s.ID)
	}
	for _, s := range tls.InsecureCipherSuites() {
		ids = append(ids, s.ID)
	}
	return ids
}

func judgeHandshake(cs tls.ConnectionState) (Status, string) {
	group := cs.CurveID.String()
	if cs.CurveID == 0 {
		group = "RSA key exchange"
	}
	detail := fmt.Sprintf("%s, %s, %s", tls.VersionName(cs.Version), tls.CipherSuiteName(cs.CipherSuite), group)
	if cs.Version < tls.VersionTLS12 {
		return Warn, detail + ": obsolete TLS version, enable TLS 1.2 and 1.3"
	}
	if cs.CurveID == 0 {
		return Warn, detail + ": no forward secrecy, prefer ECDHE suites"
	}
	for _, s := range tls.InsecureCipherSuites() {
		if s.ID == cs.CipherSuite {
			return Warn, detail + ": weak cipher, prefer ECDHE with AES-GCM or ChaCha20"
		}
	}
	return Pass, detail
}

// checkName is the name the certificate must carry.
func (hr *hostRun) checkName() string {
	if hr.o.Hostname != "" {
		return strings.TrimSuffix(hr.o.Hostname, ".")
	}
	return hr.ht.Name
}

func (hr *hostRun) judgeCerts(certs []*x509.Certificate) {
	rec := hr.rec
	if len(certs) == 0 {
		return
	}
	if _, done := rec.got[StageChain]; !done {
		st, d := checkChain(certs)
		rec.add(StageChain, st, 0, d)
	}
	now := hr.o.now()
	t := time.Now()
	st, d := checkTrust(certs, hr.ts, now)
	rec.add(StageTrust, st, time.Since(t), d)
	st, d = checkHostname(certs[0], hr.checkName(), hr.o.Hostname == "" && isLiteral(hr.ht.Name))
	rec.add(StageHostname, st, 0, d)
	st, d = checkExpiry(certs, now)
	rec.add(StageExpiry, st, 0, d)
	if hr.o.ExpectFingerprint != "" {
		st, d = checkFingerprint(certs[0], hr.o.ExpectFingerprint)
		rec.add(StageFingerprint, st, 0, d)
	}
}

// mail tries MAIL FROM:<> (the null sender every MTA must accept, so the
// probe needs no real address) and ends without sending anything.
func (hr *hostRun) mail(c *smtpConn, overTLS bool) {
	rec := hr.rec
	how := "in plaintext"
	t := time.Now()
	if overTLS {
		how = "over TLS"
		// RFC 3207: the session starts afresh after STARTTLS.
		ehlo, err := c.cmd("EHLO " + hr.o.helo())
		if err != nil || ehlo.Code != 250 {
			d := "EHLO after STARTTLS failed: "
			if err != nil {
				d += err.Error()
			} else {
				d += ehlo.String()
			}
			rec.add(StageMail, Fail, time.Since(t), oneLine(d, 200))
			return
		}
	}
	m, err := c.cmd("MAIL FROM:<>")
	took := time.Since(t)
	switch {
	case err != nil:
		rec.add(StageMail, Fail, took, oneLine(err.Error(), 200))
		return
	case m.Code == 250:
		rec.add(StageMail, Pass, took, "MAIL FROM:<> accepted "+how+" ("+m.String()+"); no message sent")
	case m.Code >= 400 && m.Code < 500:
		rec.add(StageMail, Warn, took, "MAIL FROM:<> deferred "+how+": "+m.String())
	default:
		rec.add(StageMail, Fail, took, "MAIL FROM:<> refused "+how+": "+m.String())
	}
	c.cmd("RSET")
	c.quit()
}

// plaintextMail opens a second connection and tries MAIL without STARTTLS:
// a server that requires TLS must answer 530 (RFC 3207).
func (hr *hostRun) plaintextMail(ctx context.Context, addr string) {
	rec, o := hr.rec, hr.o
	if _, done := rec.got[StageRequired]; done {
		return
	}
	bad := Warn
	if o.ExpectRequired {
		bad = Fail
	}
	t := time.Now()
	c, _, err := dialSMTP(ctx, []string{addr}, o.timeout())
	if err != nil {
		rec.add(StageRequired, bad, time.Since(t), oneLine("second connection: "+err.Error(), 200))
		return
	}
	defer c.close()
	var problem string
	firstFailure := func(_ string, st Status, _ time.Duration, detail string) {
		if st == Fail && problem == "" {
			problem = detail
		}
	}
	if _, ok := hr.greet(c, firstFailure); !ok {
		rec.add(StageRequired, bad, time.Since(t), oneLine("second connection: "+problem, 200))
		return
	}
	m, err := c.cmd("MAIL FROM:<>")
	took := time.Since(t)
	switch {
	case err != nil:
		rec.add(StageRequired, bad, took, oneLine("second connection: "+err.Error(), 200))
		return
	case m.Code == 530:
		rec.add(StageRequired, Pass, took, "TLS required: plaintext MAIL refused with "+m.String())
	case m.Code == 250:
		if o.ExpectRequired {
			rec.add(StageRequired, Fail, took, "plaintext MAIL accepted ("+m.String()+"): TLS is not required")
		} else {
			rec.add(StageRequired, Pass, took, "TLS not required: plaintext MAIL accepted (available mode)")
		}
	case m.Code >= 500:
		rec.add(StageRequired, Warn, took, "plaintext MAIL refused with "+m.String()+", not 530 5.7.0: senders cannot tell that TLS is required")
	default:
		rec.add(StageRequired, Warn, took, "plaintext MAIL deferred: "+m.String())
	}
	c.cmd("RSET")
	c.quit()
}
