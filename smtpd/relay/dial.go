package relay

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/smtptls/smtptls/config"
)

// Replies the sender gets when the next hop cannot be used. They name no
// internal host: the details go to the log.
var (
	errUnreachable = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 4, 1},
		Message: "Next hop not reachable, try again later"}
	errNoTLS = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 5},
		Message: "Next hop did not offer STARTTLS, try again later"}
	errTLSFailed = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 5},
		Message: "TLS to the next hop failed (certificate not verified), try again later"}
)

// setupError is why a session to the next hop could not be set up: the
// reply for the sender and the reason for the log.
type setupError struct {
	reply  *smtp.SMTPError
	reason string
}

func (e *setupError) Error() string { return e.reason }

// outbound is one connected, greeted session to the next hop.
type outbound struct {
	c   *smtp.Client
	raw net.Conn
	w   net.Conn             // what the client writes to (TLS or not)
	tls *tls.ConnectionState // nil: plaintext
	// pipe holds MAIL back to send it with the first RCPT; nil when the
	// next hop does not offer PIPELINING.
	pipe *pipeConn
}

// quit sends QUIT and closes without waiting for the 221, like Postfix's
// smtp_skip_quit_response: nothing the next hop says then changes
// anything, and the wait costs a wake-up per session.
func (o *outbound) quit() {
	_ = o.raw.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, _ = o.w.Write([]byte("QUIT\r\n"))
	o.close()
}

// close drops the connection without QUIT: whatever the next hop has of a
// transaction in progress is discarded (a DATA without its final dot).
func (o *outbound) close() { _ = o.raw.Close() }

// connect dials the next hop and runs the greeting, EHLO (LHLO) and
// STARTTLS as the target's TLS mode says.
func (r *Relay) connect(ctx context.Context) (*outbound, error) {
	o, err := r.connectTLS(ctx, r.t.TLS != config.RelayTLSNone)
	var se *setupError
	if r.t.TLS == config.RelayTLSMay && errors.As(err, &se) && se.reply == errTLSFailed {
		// Opportunistic TLS that fails is retried in plaintext, as
		// Postfix does: may promises delivery first.
		r.o.Log.Warn("relay: STARTTLS to the next hop failed; retrying without TLS (relay.tls = may)",
			"next_hop", r.t.NextHop.URL, "reason", se.reason)
		return r.connectTLS(ctx, false)
	}
	return o, err
}

func (r *Relay) connectTLS(ctx context.Context, wantTLS bool) (*outbound, error) {
	h := r.t.NextHop
	// No TCP keep-alive: a session lives for one inbound session, each
	// wait bounded by a timeout, and the four setsockopt calls per
	// connection are a cost the relay pays on every message.
	d := net.Dialer{Timeout: r.o.DialTimeout, KeepAlive: -1}
	raw, err := d.DialContext(ctx, h.Network, h.Address)
	if err != nil {
		return nil, &setupError{errUnreachable, fmt.Sprintf("connect to %s: %v", h.Address, err)}
	}
	ok := false
	defer func() {
		if !ok {
			raw.Close()
		}
	}()
	dc := &deadlineConn{Conn: raw, timeout: r.o.CommandTimeout}
	// The whole set-up, TLS handshake included, within DialTimeout.
	_ = raw.SetDeadline(time.Now().Add(r.o.DialTimeout))
	stop := context.AfterFunc(ctx, func() { _ = raw.SetDeadline(time.Now()) })
	defer stop()

	// go-smtp's client can STARTTLS only after an EHLO as "localhost"
	// (NewClientStartTLS has no exported StartTLS beside it), and it says
	// EHLO again after every RSET. So we greet, EHLO and STARTTLS
	// ourselves, and the client gets a connection that replays the
	// greeting and answers its EHLOs from the reply we already have
	// (helloConn): no extra round trip, and our own name in EHLO.
	tp := textproto.NewConn(dc)
	if _, _, err := tp.ReadResponse(220); err != nil {
		return nil, &setupError{errUnreachable, fmt.Sprintf("greeting from %s: %v", h.Address, err)}
	}
	_, ext, err := cmd(tp, 250, "%s %s", r.helloVerb(), r.o.LocalName)
	if err != nil {
		return nil, &setupError{errUnreachable, fmt.Sprintf("%s at %s: %v", r.helloVerb(), h.Address, err)}
	}
	var conn net.Conn = dc
	var st *tls.ConnectionState
	switch {
	case !wantTLS:
	case !hasExtension(ext, "STARTTLS") && r.t.TLS == config.RelayTLSVerify:
		return nil, &setupError{errNoTLS, fmt.Sprintf("%s does not offer STARTTLS and relay.tls = verify", h.Address)}
	case !hasExtension(ext, "STARTTLS"):
		// may: plaintext when not offered.
	default:
		if _, _, err := cmd(tp, 220, "STARTTLS"); err != nil {
			return nil, &setupError{errTLSFailed, fmt.Sprintf("STARTTLS at %s: %v", h.Address, err)}
		}
		tc := tls.Client(dc, r.tlsC)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, &setupError{errTLSFailed, fmt.Sprintf("TLS handshake with %s (expecting the name %q): %v", h.Address, r.t.ServerName, err)}
		}
		cs := tc.ConnectionState()
		st, conn = &cs, tc
		if _, ext, err = cmd(textproto.NewConn(tc), 250, "%s %s", r.helloVerb(), r.o.LocalName); err != nil {
			return nil, &setupError{errUnreachable, fmt.Sprintf("%s over TLS at %s: %v", r.helloVerb(), h.Address, err)}
		}
	}
	var cc net.Conn = &helloConn{Conn: conn, rbuf: []byte("220 next hop\r\n"), hello: rawReply(250, ext), verb: r.helloVerb()}
	var pipe *pipeConn
	if hasExtension(ext, "PIPELINING") {
		pipe = newPipeConn(cc)
		cc = pipe
	}
	c := r.newClient(cc)
	if err := c.Hello(r.o.LocalName); err != nil {
		return nil, &setupError{errUnreachable, fmt.Sprintf("replayed %s: %v", r.helloVerb(), err)}
	}
	ok = true
	return &outbound{c: c, raw: raw, w: conn, tls: st, pipe: pipe}, nil
}

func (r *Relay) newClient(c net.Conn) *smtp.Client {
	var cl *smtp.Client
	if r.t.NextHop.LMTP {
		cl = smtp.NewClientLMTP(c)
	} else {
		cl = smtp.NewClient(c)
	}
	cl.CommandTimeout = r.o.CommandTimeout
	cl.SubmissionTimeout = r.o.DataTimeout
	return cl
}

func (r *Relay) helloVerb() string {
	if r.t.NextHop.LMTP {
		return "LHLO"
	}
	return "EHLO"
}

func cmd(tp *textproto.Conn, want int, format string, args ...any) (int, string, error) {
	id, err := tp.Cmd(format, args...)
	if err != nil {
		return 0, "", err
	}
	tp.StartResponse(id)
	defer tp.EndResponse(id)
	return tp.ReadResponse(want)
}

// hasExtension reads an EHLO reply as textproto returns it (one line per
// keyword, the first being the greeting).
func hasExtension(reply, name string) bool {
	lines := strings.Split(reply, "\n")
	for _, l := range lines[1:] {
		kw, _, _ := strings.Cut(strings.TrimSpace(l), " ")
		if strings.EqualFold(kw, name) {
			return true
		}
	}
	return false
}

// deadlineConn bounds every write: go-smtp's client sets deadlines per
// command but none while DATA streams, and a next hop that stops reading
// must not hold the sender's transaction for ever.
type deadlineConn struct {
	net.Conn
	timeout time.Duration
}

func (c *deadlineConn) Write(b []byte) (int, error) {
	_ = c.Conn.SetWriteDeadline(time.Now().Add(c.timeout))
	return c.Conn.Write(b)
}

// helloConn sits between go-smtp's client and the next hop: the client
// reads the greeting it expects first, and its EHLO (LHLO) lines are
// answered with the next hop's reply to ours instead of being sent.
type helloConn struct {
	net.Conn
	rbuf  []byte // read before the connection's own bytes
	hello []byte // the EHLO reply, as on the wire
	verb  string
}

func (c *helloConn) Read(b []byte) (int, error) {
	if len(c.rbuf) > 0 {
		n := copy(b, c.rbuf)
		c.rbuf = c.rbuf[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}

func (c *helloConn) Write(b []byte) (int, error) {
	if len(b) > 5 && strings.EqualFold(string(b[:5]), c.verb+" ") && bytes.IndexByte(b, '\n') == len(b)-1 {
		c.rbuf = append(c.rbuf, c.hello...)
		return len(b), nil
	}
	return c.Conn.Write(b)
}

// rawReply turns a reply as textproto parsed it back into wire form.
func rawReply(code int, msg string) []byte {
	var b bytes.Buffer
	lines := strings.Split(msg, "\n")
	for i, l := range lines {
		sep := "-"
		if i == len(lines)-1 {
			sep = " "
		}
		fmt.Fprintf(&b, "%d%s%s\r\n", code, sep, l)
	}
	return b.Bytes()
}

// pipeConn sits between go-smtp's client and the next hop when the next
// hop offers PIPELINING (RFC 2920), so that MAIL leaves in one write with
// the first RCPT: the sender's MAIL and RCPT cost the next hop one round
// trip, not two. go-smtp's client sends one command at a time, so MAIL is
// held: while hold is set a MAIL line is kept instead of written and
// go-smtp reads a 250 made up here; the next write sends it first, and the
// next read takes the next hop's reply to it off the stream before go-smtp
// reads the reply to RCPT. That reply is kept (mailOutcome): a refusal is
// the reply the sender gets at RCPT, as Postfix (smtpd_delay_reject) gives
// its own sender refusals.
type pipeConn struct {
	net.Conn
	br *bufio.Reader // the next hop's bytes; go-smtp reads through it

	hold      bool   // capture the next MAIL instead of sending it
	held      []byte // the MAIL line not yet sent
	rbuf      []byte // the made-up reply go-smtp reads for a held MAIL
	inFlight  bool   // MAIL went out: its reply is the next on the stream
	mailErr   *smtp.SMTPError
	mailFound bool // the reply to MAIL has been read (mailErr nil: 250)
}

// heldOK is what go-smtp reads for a MAIL held back.
var heldOK = []byte("250 2.0.0 Held to go with RCPT\r\n")

func newPipeConn(c net.Conn) *pipeConn {
	return &pipeConn{Conn: c, br: bufio.NewReaderSize(c, 1024)}
}

// holdMail arms the capture of the next command, MAIL, and forgets the
// outcome of any earlier one.
func (p *pipeConn) holdMail() {
	p.hold, p.held, p.rbuf, p.inFlight, p.mailErr, p.mailFound = true, nil, nil, false, nil, false
}

// dropHeldOnError undoes holdMail when go-smtp refused MAIL before
// writing it (a parameter the next hop lacks).
func (p *pipeConn) dropHeldOnError() {
	if p.hold {
		p.dropHeld()
	}
}

// mailHeld reports whether a MAIL is still waiting for a RCPT to go with.
func (p *pipeConn) mailHeld() bool { return p.held != nil }

// dropHeld forgets a MAIL never sent (the sender reset or left before any
// RCPT): the next hop never saw a transaction, there is nothing to RSET.
func (p *pipeConn) dropHeld() { p.hold, p.held, p.rbuf = false, nil, nil }

// mailOutcome is the next hop's reply to the MAIL sent with the last
// RCPT: found false while none has been read.
func (p *pipeConn) mailOutcome() (found bool, refusal *smtp.SMTPError) {
	return p.mailFound, p.mailErr
}

func (p *pipeConn) Write(b []byte) (int, error) {
	// Only MAIL is held: go-smtp's client may say EHLO first (again after
	// RSET), which helloConn answers without a word on the wire.
	if p.hold && len(b) > 5 && strings.EqualFold(string(b[:5]), "MAIL ") {
		p.hold = false
		p.held = append([]byte(nil), b...)
		p.rbuf = heldOK
		return len(b), nil
	}
	if p.held != nil {
		buf := append(p.held, b...)
		p.held, p.inFlight = nil, true
		if _, err := p.Conn.Write(buf); err != nil {
			return 0, err
		}
		return len(b), nil
	}
	return p.Conn.Write(b)
}

func (p *pipeConn) Read(b []byte) (int, error) {
	if len(p.rbuf) > 0 {
		n := copy(b, p.rbuf)
		p.rbuf = p.rbuf[n:]
		return n, nil
	}
	if p.inFlight {
		p.inFlight = false
		code, msg, err := textproto.NewReader(p.br).ReadResponse(0)
		if err != nil {
			return 0, err
		}
		p.mailFound = true
		if code/100 != 2 {
			p.mailErr = replyError(code, msg)
		}
	}
	return p.br.Read(b)
}
