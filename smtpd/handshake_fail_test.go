package smtpd

import (
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/smtptls/smtptls/config"
)

// A failed or timed-out handshake ends the connection without a word: the
// peer believes it is talking TLS, so a plaintext reply is garbage to it,
// and nothing it pipelined behind STARTTLS may run (issue 9, finding 4).
func TestHandshakeFailureClosesSilentlyAndRunsNothing(t *testing.T) {
	const pipelined = "STARTTLS\r\nMAIL FROM:<evil@example.org>\r\nRCPT TO:<victim@example.test>\r\nDATA\r\n" +
		"Subject: queued in plaintext\r\n\r\nbody\r\n.\r\nQUIT\r\n"
	for _, mode := range []config.Mode{config.ModeAvailable, config.ModeRequired} {
		for _, how := range []string{"not-tls", "timeout"} {
			t.Run(string(mode)+"/"+how, func(t *testing.T) {
				f := newFixture(t)
				s := testSettings(mode)
				s.Limits.HandshakeTimeout = config.Duration{Duration: 300 * time.Millisecond}
				f.writeGen(s, nil)
				srv, lb := startServer(t, f)
				c := dial(t, srv.Addr().String())
				c.reply()
				c.expect("EHLO pipeliner.example", "250-")
				c.send(pipelined)
				if r := c.reply(); !strings.HasPrefix(r, "220 ") {
					t.Fatalf("STARTTLS: %q", r)
				}
				if how == "not-tls" {
					c.send("this is not a TLS ClientHello\r\n\r\n")
				}
				_ = c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
				rest, err := io.ReadAll(c.r)
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					t.Fatalf("connection still open 10 s after the failed handshake (read %q)", rest)
				}
				// A TLS alert record is fine (it is TLS); an SMTP reply is not.
				for _, reply := range []string{"550", "250", "354", "221", "Handshake error"} {
					if strings.Contains(string(rest), reply) {
						t.Fatalf("plaintext %q written after the failed handshake: %q", reply, rest)
					}
				}
				waitFor(t, func() bool { return strings.Contains(lb.String(), `result="tls handshake failed"`) })
				if n := len(newMessages(t, f)); n != 0 {
					t.Fatalf("%d messages spooled from commands pipelined behind STARTTLS", n)
				}
			})
		}
	}
}
