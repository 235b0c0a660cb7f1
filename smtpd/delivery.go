package smtpd

import (
	"io"
	"slices"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/smtptls/smtptls/config"
	"github.com/smtptls/smtptls/smtpd/relay"
	"github.com/smtptls/smtptls/smtpd/spool"
)

// delivery is what happens to mail the session's policy let through: the
// Maildir spool, or the relay to the next hop. It has the shape of go-smtp's
// Backend and Session: policy (modes, limits, accept_domains) stays in
// session.go, and each inbound session gets its own deliverySession.
type delivery interface {
	newSession(peer string) deliverySession
	close() error
}

// deliverySession follows the inbound transaction. Mail and Rcpt are called
// only for what policy accepted; their errors are the sender's replies.
type deliverySession interface {
	Mail(from string, opts *smtp.MailOptions) error
	Rcpt(to string, opts *smtp.RcptOptions) error
	// Data takes the message (CRLF lines, as received) and returns the
	// sender's reply for it: ok on success; otherwise an *smtp.SMTPError,
	// a read error of body returned as is, or any other error (a 451 the
	// session logs). id names the message in the log.
	Data(env spool.Envelope, body io.Reader) (id string, ok *smtp.SMTPError, err error)
	Reset()
	Logout()
}

// errRelayDenied answers a recipient outside accept_domains.
var errRelayDenied = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1},
	Message: "Relay access denied"}

// setDelivery fills the delivery part of a Config from settings.
func (c *Config) setDelivery(s config.Settings) error {
	domains, err := config.ParseDomains(s.AcceptDomains)
	if err != nil {
		return err
	}
	c.AcceptDomains = domains
	if !s.RelayMode() {
		return nil
	}
	t, err := relay.TargetFrom(s.Relay)
	if err != nil {
		return err
	}
	c.Relay = &t
	return nil
}

// sameDelivery reports whether a and b deliver the same way.
func sameDelivery(a, b Config) bool {
	if !slices.Equal(a.AcceptDomains, b.AcceptDomains) || (a.Relay == nil) != (b.Relay == nil) {
		return false
	}
	return a.Relay == nil || a.Relay.Equal(*b.Relay)
}

// openDelivery builds the delivery of a new generation.
func (s *Server) openDelivery(cfg Config) (delivery, error) {
	if cfg.Relay != nil {
		return &relayDelivery{r: relay.New(*cfg.Relay, relay.Options{
			LocalName:      cfg.Hostname,
			DialTimeout:    min(cfg.Limits.CommandTimeout.Duration, relayDialTimeout),
			CommandTimeout: cfg.Limits.CommandTimeout.Duration,
			DataTimeout:    cfg.Limits.DataTimeout.Duration,
			Log:            s.log,
			Stats:          &s.relayStats,
			Now:            s.opts.Now,
		})}, nil
	}
	sp, err := spool.Open(cfg.SpoolDir, s.opts.Now)
	if err != nil {
		return nil, err
	}
	return spoolDelivery{sp}, nil
}

// relayDialTimeout bounds connecting to the next hop: the sender waits for
// the reply to its MAIL meanwhile.
const relayDialTimeout = 30 * time.Second

// RelayCounters are the relay's counters since the listener started.
func (s *Server) RelayCounters() relay.Counters { return s.relayStats.Snapshot() }

// spoolDelivery stores each message in the Maildir before its 250.
type spoolDelivery struct{ sp *spool.Spool }

func (d spoolDelivery) newSession(string) deliverySession { return d }
func (d spoolDelivery) close() error                      { return d.sp.Close() }

func (spoolDelivery) Mail(string, *smtp.MailOptions) error { return nil }
func (spoolDelivery) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (spoolDelivery) Reset()                               {}
func (spoolDelivery) Logout()                              {}

func (d spoolDelivery) Data(env spool.Envelope, body io.Reader) (string, *smtp.SMTPError, error) {
	id, err := d.sp.Deliver(env, body)
	if err != nil {
		return "", nil, err
	}
	return id, &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: "Ok: queued as " + id}, nil
}

// relayDelivery hands each message to the next hop within the transaction.
type relayDelivery struct{ r *relay.Relay }

func (d *relayDelivery) newSession(peer string) deliverySession { return d.r.NewSession(peer) }
func (d *relayDelivery) close() error                           { return nil }

// newDeliverySession starts the delivery half of an inbound session. A
// relay connects to the next hop right away when MAIL is what comes next:
// the session is over TLS, or no STARTTLS is offered. Before a likely
// STARTTLS it waits, or each TLS session would cost two outbound ones.
func (b *backend) newDeliverySession(c *smtp.Conn) deliverySession {
	ds := b.delivery.newSession(c.Conn().RemoteAddr().String())
	if rs, ok := ds.(*relay.Session); ok {
		if _, isTLS := c.TLSConnectionState(); isTLS || !b.cfg.Mode.NeedsCertificate() {
			rs.Prepare()
		}
	}
	return ds
}

// relayDenied records a recipient refused by accept_domains.
func (s *session) relayDenied(to string) {
	s.rejected("relay access denied")
	s.b.srv.relayStats.CountDenied()
	s.b.srv.log.Info("relay access denied", "peer", s.peer(), "rcpt", to)
}
