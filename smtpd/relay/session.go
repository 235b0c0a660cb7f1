package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/emersion/go-smtp"

	"github.com/smtptls/smtptls/smtpd/spool"
)

// errLMTPOneRecipient: an LMTP next hop answers DATA once per recipient,
// and the sender can only be given one reply, so each transaction carries
// one recipient. 452 asks the sender to send the rest again, as RFC 5321
// 3.3 allows for too many recipients.
var errLMTPOneRecipient = &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 5, 3},
	Message: "Too many recipients: one per message here, send the others in a new transaction"}

// errTooBigForNextHop answers a MAIL whose SIZE is over the limit the next
// hop announced in its EHLO reply.
var errTooBigForNextHop = &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4},
	Message: "Message size exceeds the limit of the next hop"}

// Session is the outbound half of one inbound SMTP session. It has the
// shape of go-smtp's Session (Mail, Rcpt, Data, Reset, Logout).
type Session struct {
	// mu: go-smtp runs Data in a goroutine of its own for BDAT and calls
	// Reset or Logout on a RSET or a hang-up mid-chunk, after closing the
	// body pipe; Data then ends and Reset waits for it here.
	mu   sync.Mutex
	r    *Relay
	peer string // the sender's address, for log lines
	out  *outbound
	inTx bool // MAIL given to the next hop (or held), transaction not ended
	rcpt int  // recipients the next hop accepted in this transaction
	// txErr is the reply every further RCPT of the transaction gets once
	// it cannot go on at the next hop: the next hop's refusal of a MAIL
	// sent with a RCPT, or a 4xx once the session to it was lost (a 503
	// there would have the sender bounce what a retry delivers).
	txErr *smtp.SMTPError
	// from, mailOpts and retry let a MAIL held for PIPELINING be sent
	// again on a new session when the idle one turns out closed at RCPT.
	from     string
	mailOpts *smtp.MailOptions
	retry    bool
	// pending delivers the session Prepare started, if any.
	pending chan dialResult
}

type dialResult struct {
	o   *outbound
	err error
}

// Prepare starts connecting to the next hop while the sender is still on
// its way to MAIL, so the set-up's round trips overlap the sender's. The
// outcome, a failure included, is taken up at MAIL.
func (s *Session) Prepare() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.out != nil || s.pending != nil {
		return
	}
	ch := make(chan dialResult, 1)
	s.pending = ch
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.r.o.DialTimeout)
		defer cancel()
		o, err := s.r.connect(ctx)
		ch <- dialResult{o, err}
	}()
}

// NewSession starts the outbound half of an inbound session from peer; the
// next hop is dialled at the first MAIL.
func (r *Relay) NewSession(peer string) *Session { return &Session{r: r, peer: peer} }

// Mail opens the session to the next hop if none is open and forwards
// MAIL with the parameters the next hop supports. With PIPELINING, MAIL
// waits to go out with the first RCPT (see pipeConn): the sender gets 250
// now, and the next hop's refusal of MAIL, if any, at RCPT.
func (s *Session) Mail(from string, opts *smtp.MailOptions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inTx {
		s.reset()
	}
	s.txErr = nil
	fresh := false
	if s.pending != nil {
		// Prepared while the sender greeted; it may have idled since.
		if err := s.takePending(); err != nil {
			return err
		}
	} else if s.out == nil {
		if err := s.open(); err != nil {
			return err
		}
		fresh = true
	}
	if max, ok := s.out.c.MaxMessageSize(); ok && max > 0 && opts != nil && opts.Size > int64(max) {
		// Said here, at MAIL, rather than by the next hop at RCPT, where
		// RFC 5321 4.5.3.1.10 has senders take a 552 for a 452 and retry
		// for days what will never fit.
		s.count(errTooBigForNextHop)
		return errTooBigForNextHop
	}
	err := s.mail(from, opts)
	if err != nil && !fresh && !isReply(err) {
		// An idle session the next hop has meanwhile closed: once more on
		// a new one.
		s.drop()
		if err := s.open(); err != nil {
			return err
		}
		err = s.mail(from, opts)
	}
	if err != nil {
		return s.failed("MAIL", err)
	}
	s.inTx, s.rcpt, s.txErr = true, 0, nil
	s.from, s.mailOpts, s.retry = from, opts, !fresh
	return nil
}

// mail sends MAIL, or holds it to go with the first RCPT.
func (s *Session) mail(from string, opts *smtp.MailOptions) error {
	if p := s.out.pipe; p != nil {
		p.holdMail()
		defer p.dropHeldOnError()
	}
	return s.out.c.Mail(from, mailOptions(opts))
}

// Rcpt forwards one recipient; the next hop's refusal is the sender's reply.
func (s *Session) Rcpt(to string, opts *smtp.RcptOptions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.txErr != nil {
		return s.txErr
	}
	if s.out == nil || !s.inTx {
		return &smtp.SMTPError{Code: 503, EnhancedCode: smtp.EnhancedCode{5, 5, 1}, Message: "Bad sequence of commands: MAIL first"}
	}
	if s.r.t.NextHop.LMTP && s.rcpt >= 1 {
		return errLMTPOneRecipient
	}
	withMail := s.out.pipe != nil && s.out.pipe.mailHeld()
	err := s.rcptOut(to, opts)
	if err != nil && withMail && s.retry && !isReply(err) {
		// MAIL went out with this RCPT on a session that idled: the next
		// hop may have closed it meanwhile, as at MAIL without PIPELINING.
		s.retry = false
		s.drop()
		if err = s.open(); err != nil {
			var se *smtp.SMTPError
			if errors.As(err, &se) {
				s.txErr = se // a 4xx for the rest of the transaction too
			}
			return err
		}
		if err = s.mail(s.from, s.mailOpts); err == nil {
			s.inTx = true
			err = s.rcptOut(to, opts)
		}
	}
	if err != nil {
		return s.failed("RCPT", err)
	}
	s.rcpt++
	return nil
}

// rcptOut sends RCPT (with a held MAIL before it) and returns the next
// hop's refusal of MAIL, if it refused MAIL, before that of RCPT.
func (s *Session) rcptOut(to string, opts *smtp.RcptOptions) error {
	err := s.out.c.Rcpt(to, rcptOptions(opts))
	if s.out.pipe == nil {
		return err
	}
	if found, refusal := s.out.pipe.mailOutcome(); found && refusal != nil {
		if refusal.Code != 421 {
			// The transaction is over at the next hop; the sender's
			// goes on until its RSET or next MAIL, each RCPT refused.
			s.txErr = refusal
		}
		return refusal
	}
	return err
}

// bufs recycles the copy buffers of DATA (32 KB a message).
var bufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// Data streams the message to the next hop, our Received: line first, and
// returns the next hop's final reply. A read error of body (the sender
// vanished, or the body was refused on the way) aborts the outbound DATA
// without its final dot, so the next hop discards it, and is returned as
// is. id is the id our Received: line names.
func (s *Session) Data(env spool.Envelope, body io.Reader) (id string, reply *smtp.SMTPError, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.out == nil || !s.inTx || s.rcpt == 0 {
		return "", nil, &smtp.SMTPError{Code: 503, EnhancedCode: smtp.EnhancedCode{5, 5, 1}, Message: "Bad sequence of commands: no valid recipients"}
	}
	now := s.r.o.Now()
	id = spool.NewID(now)
	w, err := s.out.c.Data()
	if err != nil {
		return id, nil, s.failed("DATA", err)
	}
	ww := &markedWriter{w: w}
	spool.WriteReceived(ww, env, id, now)
	bp := bufs.Get().(*[]byte)
	_, err = io.CopyBuffer(ww, onlyReader{body}, *bp)
	bufs.Put(bp)
	if err == nil {
		err = ww.err
	}
	if err != nil {
		s.inTx = false
		if ww.err != nil {
			return id, nil, s.failed("DATA", ww.err)
		}
		// Never a half-forwarded message: no final dot.
		s.drop()
		return id, nil, err
	}
	text, err := s.closeData(w)
	s.inTx, s.rcpt = false, 0
	if err != nil {
		return id, nil, s.failed("end of DATA", err)
	}
	if s.r.o.Stats != nil {
		s.r.o.Stats.relayed.Add(1)
	}
	return id, okReply(text), nil
}

func (s *Session) closeData(w *smtp.DataCommand) (string, error) {
	if !s.r.t.NextHop.LMTP {
		resp, err := w.CloseWithResponse()
		if err != nil {
			return "", err
		}
		return resp.StatusText, nil
	}
	resps, err := w.CloseWithLMTPResponse()
	var lerr smtp.LMTPDataError
	if errors.As(err, &lerr) {
		for _, e := range lerr {
			return "", e // one recipient per transaction: one reply
		}
	}
	if err != nil {
		return "", err
	}
	for _, r := range resps {
		return r.StatusText, nil
	}
	return "", errors.New("the LMTP next hop gave no reply for the recipient")
}

// Reset passes RSET on when the next hop has a transaction open; after a
// completed DATA it has none, and the round trip is saved.
func (s *Session) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reset()
}

func (s *Session) reset() {
	if s.out != nil && s.out.pipe != nil && s.out.pipe.mailHeld() {
		// The next hop never saw this MAIL.
		s.out.pipe.dropHeld()
	} else if s.out != nil && s.inTx && s.txErr == nil {
		if err := s.out.c.Reset(); err != nil {
			s.r.o.Log.Warn("relay: RSET to the next hop failed; closing that session", "peer", s.peer, "err", err)
			s.drop()
		}
	}
	s.inTx, s.rcpt, s.txErr = false, 0, nil
}

// Logout ends the outbound session with QUIT, as the sender ended its own.
func (s *Session) Logout() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch := s.pending; ch != nil {
		// Never used: close it once it is there, without holding up the
		// end of the inbound session.
		s.pending = nil
		go func() {
			if r := <-ch; r.o != nil {
				r.o.quit()
			}
		}()
		return
	}
	if s.out == nil {
		return
	}
	s.out.quit()
	s.out = nil
}

func (s *Session) open() error {
	ctx, cancel := context.WithTimeout(context.Background(), s.r.o.DialTimeout)
	defer cancel()
	o, err := s.r.connect(ctx)
	return s.opened(o, err)
}

func (s *Session) takePending() error {
	r := <-s.pending
	s.pending = nil
	return s.opened(r.o, r.err)
}

func (s *Session) opened(o *outbound, err error) error {
	if err != nil {
		var se *setupError
		if errors.As(err, &se) {
			s.r.o.Log.Warn("relay: no session with the next hop; the sender gets "+strconv.Itoa(se.reply.Code),
				"next_hop", s.r.t.NextHop.URL, "peer", s.peer, "reason", se.reason)
			s.count(se.reply)
			return se.reply
		}
		s.count(errUnreachable)
		return errUnreachable
	}
	s.out = o
	return nil
}

func (s *Session) drop() {
	if s.out != nil {
		s.out.close()
		s.out = nil
	}
	s.inTx, s.rcpt, s.txErr = false, 0, nil
}

// failed turns an error of the next hop at step into the sender's reply:
// the next hop's own reply as it is, or a 4xx when the connection failed
// (never a 250, never a 5xx for what a retry may fix).
func (s *Session) failed(step string, err error) error {
	var se *smtp.SMTPError
	if errors.As(err, &se) && se.Code != 421 {
		s.count(se)
		return se
	}
	// 421 is the next hop closing: the sender's connection stays, so it
	// gets a 451 for this step, and the next MAIL a new session.
	inTx := s.inTx
	s.drop()
	reply := &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 4, 2},
		Message: "Connection to the next hop lost, try again later"}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		reply.Message = "The next hop did not answer in time, try again later"
	} else if strings.HasPrefix(err.Error(), "smtp: server does not support SMTPUTF8") {
		reply = &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 6, 7},
			Message: "The next hop does not accept SMTPUTF8 addresses"}
	}
	s.r.o.Log.Warn("relay: next hop failed at "+step, "next_hop", s.r.t.NextHop.URL, "peer", s.peer,
		"err", err.Error(), "reply", fmt.Sprintf("%d %d.%d.%d", reply.Code, reply.EnhancedCode[0], reply.EnhancedCode[1], reply.EnhancedCode[2]))
	s.count(reply)
	if inTx {
		s.txErr = reply
	}
	return reply
}

func (s *Session) count(reply *smtp.SMTPError) {
	st := s.r.o.Stats
	if st == nil {
		return
	}
	switch reply.Code / 100 {
	case 4:
		st.tempFailed.Add(1)
	case 5:
		st.refused.Add(1)
	}
}

func isReply(err error) bool {
	var se *smtp.SMTPError
	return errors.As(err, &se)
}

// okReply turns the text of the next hop's 250 ("2.0.0 Ok: queued as X")
// into the reply the sender gets, enhanced code and all.
func okReply(text string) *smtp.SMTPError { return replyError(250, text) }

// replyError turns a reply of the next hop, as textproto reads it (lines
// joined by "\n"), into the reply the sender gets: the enhanced code taken
// off the text when it has one of the reply's class, and said once.
func replyError(code int, text string) *smtp.SMTPError {
	// No enhanced code of its own: go-smtp's server says X.0.0.
	r := &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCodeNotSet, Message: text}
	enhanced, rest, ok := strings.Cut(text, " ")
	if !ok {
		return r
	}
	parts := strings.Split(enhanced, ".")
	if len(parts) != 3 || parts[0] != strconv.Itoa(code/100) {
		return r
	}
	var enh smtp.EnhancedCode
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil {
			return r
		}
		enh[i] = n
	}
	r.EnhancedCode, r.Message = enh, strings.ReplaceAll(rest, "\n"+enhanced+" ", "\n")
	if r.Message == "" {
		r.Message = "Ok"
	}
	return r
}

func mailOptions(in *smtp.MailOptions) *smtp.MailOptions {
	if in == nil {
		return nil
	}
	// go-smtp's client adds BODY=8BITMIME and SIZE when the next hop
	// advertises them, SMTPUTF8 when asked (or fails: 553 5.6.7 above),
	// RET and ENVID with DSN.
	return &smtp.MailOptions{Body: in.Body, Size: in.Size, UTF8: in.UTF8, Return: in.Return, EnvelopeID: in.EnvelopeID}
}

func rcptOptions(in *smtp.RcptOptions) *smtp.RcptOptions {
	if in == nil {
		return nil
	}
	return &smtp.RcptOptions{Notify: in.Notify, OriginalRecipientType: in.OriginalRecipientType, OriginalRecipient: in.OriginalRecipient}
}

// markedWriter remembers the first write error, so that a failure of the
// next hop is told apart from a failure of the sender's body.
type markedWriter struct {
	w   io.Writer
	err error
}

func (m *markedWriter) Write(b []byte) (int, error) {
	if m.err != nil {
		return 0, m.err
	}
	n, err := m.w.Write(b)
	if err != nil {
		m.err = err
	}
	return n, err
}

// onlyReader hides any WriterTo of the body, so CopyBuffer uses our
// pooled buffer.
type onlyReader struct{ io.Reader }
