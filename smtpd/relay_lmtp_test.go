package smtpd

import (
	"bytes"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/smtptls/smtptls/config"
)

// wireHop is a go-smtp server (SMTP or LMTP) as next hop that records the
// command lines it reads, so a test sees what the relay passed on.
type wireHop struct {
	mu    sync.Mutex
	wire  bytes.Buffer
	msgs  []string
	addr  string
	srv   *smtp.Server
	inTLS bool
}

// configure, when given, changes the hop's server before it serves: after
// Serve, go-smtp reads its fields without a lock.
func startWireHop(t *testing.T, network string, lmtp bool, configure ...func(*smtp.Server)) *wireHop {
	t.Helper()
	h := &wireHop{}
	h.srv = smtp.NewServer(h)
	h.srv.LMTP = lmtp
	h.srv.Domain = "wire.example.test"
	h.srv.MaxMessageBytes = 1 << 20
	h.srv.ReadTimeout, h.srv.WriteTimeout = 10*time.Second, 10*time.Second
	for _, f := range configure {
		f(h.srv)
	}
	var ln net.Listener
	var err error
	if network == "unix" {
		ln, err = net.Listen("unix", filepath.Join(shortTempDir(t), "lmtp.sock"))
	} else {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	must(t, err)
	h.addr = ln.Addr().String()
	go func() { _ = h.srv.Serve(teeListener{ln, h}) }()
	t.Cleanup(func() { h.srv.Close() })
	return h
}

// commands are the command lines the hop read, message text left out.
func (h *wireHop) commands() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	inData := false
	for _, l := range strings.Split(h.wire.String(), "\r\n") {
		switch {
		case inData:
			inData = l != "."
		case l != "":
			out = append(out, l)
			inData = l == "DATA"
		}
	}
	return out
}

func (h *wireHop) NewSession(*smtp.Conn) (smtp.Session, error) { return &wireSession{h: h}, nil }

type wireSession struct{ h *wireHop }

func (s *wireSession) Mail(from string, _ *smtp.MailOptions) error {
	if strings.HasPrefix(from, "refused@") {
		return &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Sender refused here"}
	}
	return nil
}
func (s *wireSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if strings.HasPrefix(to, "full@") {
		return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "Mailbox full, try later"}
	}
	return nil
}
func (s *wireSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if bytes.Contains(b, []byte("SLOW-ME")) {
		time.Sleep(3 * time.Second) // longer than the relay waits in its test
	}
	if bytes.Contains(b, []byte("REFUSE-ME")) {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Content refused"}
	}
	s.h.mu.Lock()
	s.h.msgs = append(s.h.msgs, string(b))
	s.h.mu.Unlock()
	return nil
}
func (s *wireSession) Reset()        {}
func (s *wireSession) Logout() error { return nil }

type teeListener struct {
	net.Listener
	h *wireHop
}

func (l teeListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return teeConn{c, l.h}, nil
}

type teeConn struct {
	net.Conn
	h *wireHop
}

func (c teeConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.h.mu.Lock()
	c.h.wire.Write(b[:n])
	c.h.mu.Unlock()
	return n, err
}

func waitCommands(t *testing.T, h *wireHop, want []string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := h.commands()
		if strings.Join(got, "\n") == strings.Join(want, "\n") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("next hop read:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// LMTP over a Unix socket: one recipient per transaction (the second gets
// 452 4.5.3 from us), the per-recipient reply is the sender's, RSET and
// QUIT are passed on, MAIL carries the SIZE the sender gave.
func TestRelayLMTPOneRecipientPerTransaction(t *testing.T) {
	h := startWireHop(t, "unix", true)
	srv, _, _ := startFront(t, config.ModeDisabled, "lmtp+unix://"+h.addr, nil)
	c := greet(t, srv.Addr().String())
	c.expect("MAIL FROM:<a@example.org> SIZE=31", "250 ")
	c.expect("RCPT TO:<b@example.test>", "250 ")
	if r := c.cmd("RCPT TO:<c@example.test>"); !strings.HasPrefix(r, "452 4.5.3 ") {
		t.Fatalf("second RCPT to an LMTP next hop: %q", r)
	}
	c.expect("DATA", "354 ")
	c.send(dotStuff("Subject: lmtp\r\n\r\nhello\r\n"))
	if r := c.reply(); r != "250 2.0.0 <b@example.test> OK: queued" {
		t.Fatalf("reply to the final dot: %q, want the next hop's reply for the recipient", r)
	}
	c.expect("MAIL FROM:<a@example.org>", "250 ")
	c.expect("RCPT TO:<full@example.test>", "452 4.2.2 Mailbox full, try later")
	c.expect("RCPT TO:<d@example.test>", "250 ")
	c.expect("RSET", "250 ")
	c.expect("QUIT", "221 ")
	waitCommands(t, h, []string{
		"LHLO " + testHost,
		"MAIL FROM:<a@example.org> BODY=8BITMIME SIZE=31",
		"RCPT TO:<b@example.test>",
		"DATA",
		"MAIL FROM:<a@example.org> BODY=8BITMIME",
		"RCPT TO:<full@example.test>",
		"RCPT TO:<d@example.test>",
		"RSET",
		"QUIT",
	})
	if len(h.msgs) != 1 || !strings.HasSuffix(h.msgs[0], "Subject: lmtp\r\n\r\nhello\r\n") {
		t.Fatalf("next hop got %q", h.msgs)
	}
}

// SMTP: the next hop's DATA refusal is the sender's reply, and one
// outbound session serves the inbound session's transactions in turn.
func TestRelayPassesDataRefusalAndReusesSession(t *testing.T) {
	h := startWireHop(t, "tcp", false)
	srv, _, _ := startFront(t, config.ModeDisabled, "smtp://"+h.addr, nil)
	c := greet(t, srv.Addr().String())
	c.expect("MAIL FROM:<a@example.org>", "250 ")
	c.expect("RCPT TO:<b@example.test>", "250 ")
	c.expect("DATA", "354 ")
	c.send(dotStuff("Subject: x\r\n\r\nREFUSE-ME\r\n"))
	if r := c.reply(); r != "554 5.7.1 Content refused" {
		t.Fatalf("reply to a refused message: %q", r)
	}
	if m := sendMessage(t, c, "a@example.org", []string{"b@example.test"}, "Subject: y\r\n\r\nok\r\n"); !strings.HasPrefix(m, "250 2.0.0 OK: queued") {
		t.Fatalf("second transaction: %q", m)
	}
	c.expect("QUIT", "221 ")
	waitCommands(t, h, []string{
		"EHLO " + testHost,
		"MAIL FROM:<a@example.org> BODY=8BITMIME",
		"RCPT TO:<b@example.test>",
		"DATA",
		"MAIL FROM:<a@example.org> BODY=8BITMIME",
		"RCPT TO:<b@example.test>",
		"DATA",
		"QUIT",
	})
	if cn := srv.RelayCounters(); cn.Relayed != 1 || cn.Refused != 1 {
		t.Fatalf("counters %+v, want 1 relayed and 1 refused", cn)
	}
}
