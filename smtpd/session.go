package smtpd

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/smtptls/smtptls/config"
	"github.com/smtptls/smtptls/smtpd/spool"
)

var errMustStartTLS = &smtp.SMTPError{
	Code:         530,
	EnhancedCode: smtp.EnhancedCode{5, 7, 0},
	Message:      "Must issue a STARTTLS command first",
}

// errHandshakeFailed answers, to nobody (the connection is closed and
// writes are dropped), what go-smtp still reads after a failed handshake.
var errHandshakeFailed = &smtp.SMTPError{
	Code:         421,
	EnhancedCode: smtp.EnhancedCode{4, 7, 0},
	Message:      "TLS handshake failed, closing connection",
}

var errSpoolFailed = &smtp.SMTPError{
	Code:         451,
	EnhancedCode: smtp.EnhancedCode{4, 3, 0},
	Message:      "Temporary failure storing the message, try again later",
}

// backend is the policy half of one server generation: it decides what a
// session may do under this generation's mode, limits and accepted
// domains, and hands what it accepts to the delivery (delivery.go).
type backend struct {
	srv      *Server
	cfg      Config
	delivery delivery
}

func (b *backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	wc := wrapped(c.Conn())
	if wc != nil && wc.hsFailed.Load() {
		return nil, errHandshakeFailed
	}
	s := &session{b: b, c: c, wc: wc, ds: b.newDeliverySession(c)}
	s.wire = installWire(lineHooksOf(c), b.cfg.Hostname, b.cfg.Limits.MaxMessageBytes)
	if wc != nil {
		wc.helloDone.Store(true)
		wc.info.setHelo(heloForHeader(c.Hostname()))
		if st, ok := c.TLSConnectionState(); ok {
			wc.handshakeDone(st)
		}
	}
	return s, nil
}

// wrapped finds our conn under go-smtp's, which is a *tls.Conn after
// STARTTLS.
func wrapped(nc net.Conn) *conn {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	wc, _ := nc.(*conn)
	return wc
}

type session struct {
	b    *backend
	c    *smtp.Conn
	wc   *conn
	ds   deliverySession
	wire *wire // nil if go-smtp's reader could not be reached
	from string
	to   []string
}

func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	if s.wc != nil && s.wc.hsFailed.Load() {
		// Commands the peer pipelined behind a STARTTLS whose handshake
		// failed are still in go-smtp's buffer: none of them may run.
		return errHandshakeFailed
	}
	_, isTLS := s.c.TLSConnectionState()
	if s.b.cfg.Mode == config.ModeRequired && !isTLS {
		// The conn filter answers MAIL itself before TLS; this is the
		// second lock on the same door.
		s.rejected("MAIL before STARTTLS")
		return errMustStartTLS
	}
	if !isASCII(from) {
		s.rejected("non-ASCII sender without SMTPUTF8")
		return errNeedsSMTPUTF8
	}
	if s.b.srv.spoolLow(s.b.cfg) {
		s.rejected("spool below limits.min_free_bytes")
		return errInsufficientStorage
	}
	s.from, s.to = from, nil
	s.setBusy(true)
	if err := s.ds.Mail(from, opts); err != nil {
		s.setBusy(false)
		return err
	}
	return nil
}

func (s *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	if !isASCII(to) {
		s.rejected("non-ASCII recipient without SMTPUTF8")
		return errNeedsSMTPUTF8
	}
	if !config.AcceptsRecipient(s.b.cfg.AcceptDomains, s.b.cfg.Hostname, to) {
		s.relayDenied(to)
		return errRelayDenied
	}
	if err := s.ds.Rcpt(to, opts); err != nil {
		return err
	}
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	defer s.setBusy(false)
	if s.wc != nil {
		s.wc.inData.Store(true)
		defer s.wc.inData.Store(false)
	}
	// BDAT hands over a pipe, from a goroutine of its own, and lifts
	// go-smtp's line limit itself; DATA needs the wire to do it.
	var dotCR func() bool
	if _, chunked := r.(*io.PipeReader); !chunked && s.wire != nil {
		s.wire.startBody()
		dotCR = func() bool { return s.wire.bareDotCR }
	}
	// go-smtp set the read deadline once, for the DATA command line; give
	// the whole body the data timeout instead.
	_ = s.c.Conn().SetReadDeadline(time.Now().Add(s.b.cfg.Limits.DataTimeout.Duration))
	env := spool.Envelope{
		From:     s.from,
		To:       s.to,
		HELO:     heloForHeader(s.c.Hostname()),
		Hostname: s.b.cfg.Hostname,
	}
	if host, _, err := net.SplitHostPort(s.c.Conn().RemoteAddr().String()); err == nil {
		env.PeerIP = host
	}
	if st, ok := s.c.TLSConnectionState(); ok {
		env.TLS = tlsDescription(st)
	}
	lb, _ := s.b.srv.lineBufs.Get().(*lineBuf)
	if lb == nil {
		lb = new(lineBuf)
	}
	defer s.b.srv.lineBufs.Put(lb)
	body := newLineEndingsBuf(r, s.b.cfg.BareLineEndings == config.BareNormalize, lb[:])
	body.dotCR = dotCR
	id, ok, err := s.ds.Data(env, body)
	if err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			s.rejected(se.Message)
			return se
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			s.rejected("DATA timeout")
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 4, 2},
				Message: "Message not received within the data timeout"}
		}
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
			s.rejected("connection lost during DATA")
			return err
		}
		s.b.srv.log.Error("spool failed", "peer", s.peer(), "err", err)
		s.rejected("spool failure")
		return errSpoolFailed
	}
	if s.wc != nil {
		s.wc.info.addQueued(id)
	}
	return ok
}

func (s *session) Reset() {
	if s.wire != nil {
		s.wire.endBody()
	}
	s.from, s.to = "", nil
	s.ds.Reset()
	s.setBusy(false)
}

func (s *session) Logout() error {
	s.ds.Logout()
	s.setBusy(false)
	return nil
}

func (s *session) setBusy(v bool) {
	if s.wc != nil {
		s.wc.busy.Store(v)
	}
}

func (s *session) rejected(why string) {
	if s.wc != nil {
		s.wc.info.addRejected(why)
	}
}

func (s *session) peer() string {
	return s.c.Conn().RemoteAddr().String()
}

// errNeedsSMTPUTF8 refuses internationalised addresses. SMTPUTF8 is
// neither advertised nor accepted (go-smtp answers the parameter with 504)
// because what we do with a message cannot promise it: the spool writes
// the envelope into ASCII headers (Return-Path, X-Original-To), and the
// next hop a relay hands the message to may not offer SMTPUTF8 either. A
// permanent 553 5.6.7 (RFC 6531 3.5) tells the sender to downgrade or
// bounce instead of retrying, and ASCII addresses are refused by nobody.
var errNeedsSMTPUTF8 = &smtp.SMTPError{
	Code:         553,
	EnhancedCode: smtp.EnhancedCode{5, 6, 7},
	Message:      "Non-ASCII addresses are not accepted here (no SMTPUTF8)",
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// heloForHeader is the EHLO name as Received: and the session log show
// it: at most maxHeloInHeader bytes of what a host name or address
// literal may hold, anything else as '?', so a peer cannot add comments,
// a forged date (";") or line breaks to our trace header.
func heloForHeader(h string) string {
	if len(h) > maxHeloInHeader {
		h = h[:maxHeloInHeader]
	}
	b := []byte(h)
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '.', c == '-', c == '_', c == '[', c == ']', c == ':':
		default:
			b[i] = '?'
		}
	}
	return string(b)
}

// maxHeloInHeader bounds the EHLO name copied into Received: and the
// session log: a host name is at most 255 bytes (RFC 1035).
const maxHeloInHeader = 255
