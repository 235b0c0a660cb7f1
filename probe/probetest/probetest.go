// Package probetest runs small SMTP servers on 127.0.0.1:0 for tests of
// the probe and of the commands built on it, including servers that are
// misconfigured on purpose (no STARTTLS, chain out of order, root sent...),
// and a fake DNS resolver so no test queries real DNS.
package probetest

import (
	"context"
	"crypto"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/smtptls/smtptls/internal/testpki"
)

// Config describes one test server.
type Config struct {
	// Chain is served in this order, exactly as given (nil: no STARTTLS).
	Chain []*testpki.Cert
	// Key signs the handshake; nil means Chain[0]'s key.
	Key crypto.Signer
	// RequireTLS answers MAIL before STARTTLS with 530 5.7.0, as our
	// listener in required mode and Postfix with smtpd_tls_security_level
	// = encrypt do.
	RequireTLS bool
	// MinTLSVersion and MaxTLSVersion bound the server's TLS versions
	// (0: Go's defaults), to stand in for old servers.
	MinTLSVersion, MaxTLSVersion uint16
	// CipherSuites limits the TLS 1.2 suites (nil: Go's defaults).
	CipherSuites []uint16
}

// Server is a running test server.
type Server struct {
	Addr string // 127.0.0.1:port
	// Mails counts MAIL commands accepted, Messages DATA commands started:
	// the probe must never get that far.
	Mails, Messages atomic.Int64
}

// Start runs a server until the test ends.
func Start(t testing.TB, cfg Config) *Server {
	t.Helper()
	s := &Server{}
	srv := smtp.NewServer(&backend{cfg: cfg, s: s})
	srv.Domain = "probetest.localhost"
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.ErrorLog = quietLog{}
	if len(cfg.Chain) > 0 {
		key := cfg.Key
		if key == nil {
			key = cfg.Chain[0].Key
		}
		var der [][]byte
		for _, c := range cfg.Chain {
			der = append(der, c.Cert.Raw)
		}
		srv.TLSConfig = &tls.Config{
			Certificates: []tls.Certificate{{Certificate: der, PrivateKey: key}},
			MinVersion:   cfg.MinTLSVersion,
			MaxVersion:   cfg.MaxTLSVersion,
			CipherSuites: cfg.CipherSuites,
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("probetest: listen: %v", err)
	}
	s.Addr = l.Addr().String()
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(l)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			srv.Close()
		}
		<-done
	})
	return s
}

// DeadAddr is a loopback address where nothing listens: a port that was
// just bound and released.
func DeadAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("probetest: listen: %v", err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

type quietLog struct{}

func (quietLog) Printf(string, ...interface{}) {}
func (quietLog) Println(...interface{})        {}

type backend struct {
	cfg Config
	s   *Server
}

func (b *backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{b: b, c: c}, nil
}

type session struct {
	b *backend
	c *smtp.Conn
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if _, tlsOn := s.c.TLSConnectionState(); s.b.cfg.RequireTLS && !tlsOn {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Must issue a STARTTLS command first"}
	}
	s.b.s.Mails.Add(1)
	return nil
}

func (s *session) Rcpt(string, *smtp.RcptOptions) error { return nil }

func (s *session) Data(r io.Reader) error {
	s.b.s.Messages.Add(1)
	_, err := io.Copy(io.Discard, r)
	return err
}

func (s *session) Reset()        {}
func (s *session) Logout() error { return nil }

// Resolver is an in-memory DNS: MX records and addresses by name. Unknown
// names answer "not found", like NXDOMAIN.
type Resolver struct {
	MX    map[string][]*net.MX
	Hosts map[string][]string
	// MXErr, when set, is returned by every MX lookup (a SERVFAIL, say).
	MXErr error
}

func notFound(name string) error {
	return &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func (r *Resolver) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	if r.MXErr != nil {
		return nil, r.MXErr
	}
	mx, ok := r.MX[name]
	if !ok {
		return nil, notFound(name)
	}
	return mx, nil
}

func (r *Resolver) LookupHost(_ context.Context, host string) ([]string, error) {
	a, ok := r.Hosts[host]
	if !ok {
		return nil, notFound(host)
	}
	return a, nil
}

// ErrServFail stands for a DNS server that fails to answer.
var ErrServFail = errors.New("server misbehaving")
