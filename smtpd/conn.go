package smtpd

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Reply lines go-smtp writes that this wrapper reacts to. They are matched
// byte for byte, so a go-smtp upgrade that changes them fails the tests.
var (
	lineStartTLS     = []byte("220 2.0.0 Ready to start TLS\r\n")
	lineHandshakeErr = []byte("550 5.0.0 Handshake error\r\n")
	// lineRefusedStub is go-smtp's reply to SAML, a command we substitute
	// for everything required mode refuses before TLS (see filterLine).
	lineRefusedStub = []byte("502 5.5.1 SAML command not implemented\r\n")
	lineMustTLS     = []byte("530 5.7.0 Must issue a STARTTLS command first\r\n")
	// lineTooManyStub answers SOML, substituted once a peer has been
	// refused too often: go-smtp's own error limit never sees those lines.
	lineTooManyStub = []byte("502 5.5.1 SOML command not implemented\r\n")
	lineTooMany     = []byte("421 4.7.0 Too many commands before STARTTLS, closing connection\r\n")
)

// maxRefusedBeforeTLS is how many 530s a peer gets before we hang up,
// like Postfix's smtpd_hard_error_limit.
const maxRefusedBeforeTLS = 20

// maxPendingLine bounds how much of an unterminated line the required-mode
// filter holds back; longer lines pass through for go-smtp to refuse.
const maxPendingLine = 4096

// conn wraps one accepted TCP connection. It:
//   - buffers writes until the reader would block, so a multi-line reply
//     (EHLO) leaves in one segment and pipelined replies are batched;
//   - in required mode, rewrites every command go-smtp would act on before
//     TLS, except EHLO/HELO/STARTTLS/NOOP/RSET/QUIT/HELP, into one whose
//     reply it then replaces with 530 (go-smtp has no such switch);
//   - notices STARTTLS and arms the handshake timeout, and turns a failed
//     handshake into a log line with a reason and a silently closed
//     connection (no plaintext 550 into what the peer takes for TLS);
//   - releases the connection-limit slot (before the last reply leaves)
//     and writes the session log line exactly once on Close.
type conn struct {
	net.Conn
	srv  *Server
	info *sessionInfo

	handshakeTimeout time.Duration

	wmu  sync.Mutex
	wbuf []byte

	// Read side; touched only by the connection's goroutine.
	filter    bool   // required mode, before STARTTLS
	rpending  []byte // raw bytes not yet split into lines
	rout      []byte // filtered bytes ready for the reader
	skipToEOL bool
	refused   int
	readBuf   []byte

	tlsStarted atomic.Bool // 220 Ready to start TLS written
	failed     atomic.Bool // handshake failed or peer cut off: reads return EOF
	hsFailed   atomic.Bool // handshake failed: nothing more is written or run
	hsPending  atomic.Bool // STARTTLS answered, handshake not yet over
	hs         handshakeTrace

	// busy marks a transaction or handshake in progress; a shutting-down
	// server lets those finish and cuts idle connections at once.
	busy atomic.Bool

	// Connection pressure (pressure.go).
	keys      peerKeys
	helloBy   time.Time    // EHLO must be done by then
	helloDone atomic.Bool  // a session exists (EHLO or HELO answered)
	lastCmd   atomic.Int64 // unix ns when go-smtp last asked for a command
	evicted   atomic.Bool  // closed to make room: every deadline is now
	inData    atomic.Bool  // a DATA or BDAT body is being received

	closeOnce sync.Once
	release   func()
}

func (c *conn) Read(b []byte) (int, error) {
	if c.failed.Load() {
		return 0, io.EOF
	}
	if err := c.flush(); err != nil {
		return 0, err
	}
	if len(c.rout) > 0 {
		n := copy(b, c.rout)
		c.rout = c.rout[n:]
		return n, nil
	}
	if !c.filter {
		n, err := c.Conn.Read(b)
		if c.tlsStarted.Load() && !c.hs.done.Load() {
			c.hs.sawRead(b[:n], err)
		}
		return n, err
	}
	if c.readBuf == nil {
		c.readBuf = make([]byte, 4096)
	}
	for len(c.rout) == 0 {
		n, err := c.Conn.Read(c.readBuf)
		c.rpending = append(c.rpending, c.readBuf[:n]...)
		c.splitLines()
		if len(c.rout) > 0 {
			break
		}
		if err != nil {
			return 0, err
		}
	}
	n := copy(b, c.rout)
	c.rout = c.rout[n:]
	return n, nil
}

// splitLines moves complete lines from rpending to rout, filtered.
func (c *conn) splitLines() {
	for c.filter {
		i := bytes.IndexByte(c.rpending, '\n')
		if i < 0 {
			if len(c.rpending) > maxPendingLine {
				c.rout = append(c.rout, c.rpending...)
				c.rpending = c.rpending[:0]
				c.skipToEOL = true
			}
			return
		}
		line := c.rpending[:i+1]
		rest := c.rpending[i+1:]
		if c.skipToEOL {
			c.skipToEOL = false
			c.rout = append(c.rout, line...)
		} else {
			out, starttls, refused := filterLine(line)
			if refused {
				if c.refused++; c.refused > maxRefusedBeforeTLS {
					c.rout = append(c.rout, "SOML\r\n"...)
					c.filter = false
					c.rpending = nil
					return
				}
			}
			c.rout = append(c.rout, out...)
			if starttls {
				// Anything pipelined behind STARTTLS is plaintext the
				// peer must not be able to inject into the TLS session:
				// drop it, as go-smtp drops its own read buffer.
				c.filter = false
				c.rpending = nil
				return
			}
		}
		c.rpending = append(c.rpending[:0], rest...)
	}
}

// filterLine decides one pre-TLS command line in required mode, parsing it
// the way go-smtp's parseCmd does so both agree on what the command is.
func filterLine(line []byte) (out []byte, starttls, refused bool) {
	s := strings.TrimRight(string(line), "\r\n")
	up := strings.ToUpper(s)
	if strings.HasPrefix(up, "STARTTLS") {
		return line, true, false
	}
	if len(s) == 4 || (len(s) > 4 && s[4] == ' ') {
		switch up[:4] {
		case "EHLO", "HELO", "NOOP", "RSET", "QUIT", "HELP":
			return line, false, false
		}
	}
	return []byte("SAML\r\n"), false, true
}

func (c *conn) Write(b []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	n := len(b)
	if c.hsFailed.Load() {
		// The peer believes it speaks TLS: go-smtp's replies to whatever
		// it still had buffered would be plaintext garbage to it.
		return n, nil
	}
	switch {
	case !c.tlsStarted.Load():
		if bytes.Equal(b, lineRefusedStub) {
			b = lineMustTLS
			c.info.addRejected("530 command before STARTTLS")
		} else if bytes.Equal(b, lineTooManyStub) {
			b = lineTooMany
			c.info.setResult("too many commands before STARTTLS")
			c.failed.Store(true) // the next read ends the session
		} else if bytes.Equal(b, lineStartTLS) {
			c.startHandshake()
		}
	case !c.hs.done.Load():
		if bytes.Equal(b, lineHandshakeErr) {
			// go-smtp's 550 would reach a peer that speaks TLS, and it
			// would then run the commands it had read ahead of STARTTLS
			// in plaintext. Send only what TLS itself wrote (an alert),
			// close, and let every later write and command come to
			// nothing (session.Mail refuses, reads return EOF).
			c.handshakeFailed()
			_ = c.flushLocked()
			_ = c.Conn.Close()
			return n, nil
		}
		c.hs.sawWrite(b)
	}
	c.wbuf = append(c.wbuf, b...)
	if len(c.wbuf) >= 32<<10 {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
	}
	return n, nil
}

func (c *conn) startHandshake() {
	c.tlsStarted.Store(true)
	c.hsPending.Store(true)
	c.busy.Store(true)
	c.hs.start = time.Now()
	if c.handshakeTimeout > 0 {
		_ = c.Conn.SetDeadline(time.Now().Add(c.handshakeTimeout))
	}
}

func (c *conn) handshakeFailed() {
	c.failed.Store(true)
	c.hsFailed.Store(true)
	c.busy.Store(false)
	reason := c.hs.reason(c.handshakeTimeout)
	c.info.setResult("tls handshake failed")
	c.srv.log.Warn("TLS handshake failed", "peer", c.info.peer, "reason", reason)
}

// handshakeDone is called when the first session after STARTTLS starts:
// tls's VerifyConnection runs before the client's Finished arrives, so it
// cannot tell a completed handshake from one the peer is about to abort.
func (c *conn) handshakeDone(st tls.ConnectionState) {
	if c.hs.done.Swap(true) {
		return
	}
	c.busy.Store(false)
	c.info.setTLS(st)
}

func (c *conn) flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.flushLocked()
}

func (c *conn) flushLocked() error {
	if len(c.wbuf) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.wbuf)
	c.wbuf = c.wbuf[:0]
	if cap(c.wbuf) > 64<<10 {
		c.wbuf = nil
	}
	return err
}

// SetReadDeadline lets a draining server cut idle connections: go-smtp
// sets a fresh deadline before every command, and while the server shuts
// down that deadline becomes "now" for connections outside a transaction.
func (c *conn) SetReadDeadline(t time.Time) error {
	// After STARTTLS, go-smtp's next deadline is for the first command
	// over TLS: the handshake is over (a failure was seen in Write).
	if c.tlsStarted.Load() && !c.failed.Load() && c.hsPending.CompareAndSwap(true, false) {
		c.busy.Store(false)
		if st, ok := c.hs.connState(); ok {
			c.info.setTLS(st)
		}
	}
	now := time.Now()
	if !c.inData.Load() {
		// go-smtp asks for a deadline before reading each command: the
		// previous one is complete. (A DATA body sets its own deadline,
		// which stress must not shorten.) A session parked in the middle
		// of a transaction is as idle as any other.
		c.lastCmd.Store(now.UnixNano())
		switch {
		case c.evicted.Load():
			t = now
		case c.srv.stressed.Load():
			if short := now.Add(c.srv.limits().StressIdleTimeout.Duration); t.IsZero() || short.Before(t) {
				t = short
			}
		}
		if !c.helloDone.Load() && (t.IsZero() || c.helloBy.Before(t)) {
			t = c.helloBy
		}
	}
	if c.srv.stopping.Load() && !c.busy.Load() {
		t = now
	}
	return c.Conn.SetReadDeadline(t)
}

// midway: a DATA body or a TLS handshake in progress, which stress never
// cuts (each has its own timeout).
func (c *conn) midway() bool {
	return c.inData.Load() || c.hsPending.Load()
}

// idleSince is when the session last completed a command (or connected).
func (c *conn) idleSince() time.Time {
	return time.Unix(0, c.lastCmd.Load())
}

func (c *conn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.Conn.SetWriteDeadline(t)
}

// poke wakes a connection blocked waiting for a command during shutdown.
func (c *conn) poke() {
	if !c.busy.Load() {
		_ = c.Conn.SetReadDeadline(time.Now())
	}
}

func (c *conn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		// Free the slot before the last reply (221, or the error that
		// ends the session) can reach the peer: a client that reconnects
		// the moment it reads it must find the slot free.
		c.release()
		c.wmu.Lock()
		_ = c.Conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
		_ = c.flushLocked()
		c.wmu.Unlock()
		err = c.Conn.Close()
		c.info.logEnd(c.srv.log)
	})
	return err
}

// handshakeTrace collects what the wire shows about a TLS handshake, so a
// failure can be logged with a reason: go-smtp swallows tls's error.
type handshakeTrace struct {
	done      atomic.Bool
	start     time.Time
	mu        sync.Mutex
	hello     string // from GetConfigForClient
	gotHello  bool
	serverOut bool   // we sent our first flight
	peerAlert string // plaintext alert from the peer
	ourAlert  string // plaintext alert we sent
	readErr   error
	state     *tls.ConnectionState // from VerifyConnection, before Finished
}

func (h *handshakeTrace) setState(st tls.ConnectionState) {
	h.mu.Lock()
	h.state = &st
	h.mu.Unlock()
}

func (h *handshakeTrace) connState() (tls.ConnectionState, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.state == nil {
		return tls.ConnectionState{}, false
	}
	return *h.state, true
}

func (h *handshakeTrace) sawRead(b []byte, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if a := alertIn(b); a != "" && h.peerAlert == "" {
		h.peerAlert = a
	}
	if err != nil && h.readErr == nil {
		h.readErr = err
	}
}

func (h *handshakeTrace) sawWrite(b []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(b) > 0 && b[0] == 22 {
		h.serverOut = true
	}
	if a := alertIn(b); a != "" && h.ourAlert == "" {
		h.ourAlert = a
	}
}

func (h *handshakeTrace) sawHello(info *tls.ClientHelloInfo) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.gotHello = true
	var vs []string
	for _, v := range info.SupportedVersions {
		vs = append(vs, tls.VersionName(v))
	}
	h.hello = "peer offered " + strings.Join(vs, ", ")
	if info.ServerName != "" {
		h.hello += " for " + info.ServerName
	}
}

func (h *handshakeTrace) reason(timeout time.Duration) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var ne net.Error
	switch {
	case h.ourAlert != "" && h.hello != "":
		return fmt.Sprintf("we refused the handshake (alert %s); %s", h.ourAlert, h.hello)
	case h.ourAlert != "":
		return fmt.Sprintf("we refused the handshake (alert %s)", h.ourAlert)
	case h.peerAlert != "":
		return fmt.Sprintf("the peer aborted with alert %s", h.peerAlert)
	case errors.As(h.readErr, &ne) && ne.Timeout(), errors.Is(h.readErr, os.ErrDeadlineExceeded):
		return fmt.Sprintf("the peer did not complete the handshake within %s", timeout)
	case h.serverOut:
		return "the peer closed the connection after receiving our certificate (it probably does not trust it or cannot verify the chain)"
	case !h.gotHello && h.readErr != nil:
		return "the peer sent no TLS ClientHello after STARTTLS: " + h.readErr.Error()
	case !h.gotHello:
		return "the peer sent something that is not a TLS ClientHello after STARTTLS"
	case h.readErr != nil:
		return h.readErr.Error()
	}
	return "handshake failed"
}

// alertIn reads a plaintext TLS alert record at the start of b.
func alertIn(b []byte) string {
	if len(b) < 7 || b[0] != 21 || b[1] != 3 {
		return ""
	}
	if name, ok := alertNames[b[6]]; ok {
		return name
	}
	return fmt.Sprintf("%d", b[6])
}

var alertNames = map[byte]string{
	0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 22: "record_overflow",
	40: "handshake_failure", 42: "bad_certificate", 43: "unsupported_certificate",
	44: "certificate_revoked", 45: "certificate_expired", 46: "certificate_unknown",
	47: "illegal_parameter", 48: "unknown_ca", 49: "access_denied", 50: "decode_error",
	51: "decrypt_error", 70: "protocol_version (peer and server share no TLS version; minimum is TLS 1.2)",
	71: "insufficient_security", 80: "internal_error", 86: "inappropriate_fallback",
	90: "user_canceled", 109: "missing_extension", 110: "unsupported_extension",
	112: "unrecognized_name", 116: "certificate_required", 120: "no_application_protocol",
}
