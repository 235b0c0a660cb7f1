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

// Long lines in DATA (issue 9, finding 3): Postfix accepts body lines far
// past RFC 5322's 998, so a sender whose message has one must not get a
// temporary error it will retry forever. Up to 64 KB they are stored
// intact; past that the message is refused for good (552 5.3.4) once the
// body has been read, and the session carries on.
func TestLongDataLines(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		name := "plaintext"
		if useTLS {
			name = "starttls"
		}
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			f.writeGen(testSettings(config.ModeAvailable), nil)
			srv, _ := startServer(t, f)
			c := dial(t, srv.Addr().String())
			c.reply()
			c.expect("EHLO long.example", "250-")
			if useTLS {
				c.starttls(f.roots)
				c.expect("EHLO long.example", "250-")
			}
			for _, n := range []int{5000, maxDataLine} {
				line := strings.Repeat("y", n-1) + "z"
				m := spooled(t, f, queuedID(t, c.deliver("a@example.org", "b@example.test", "Subject: long\r\n\r\n"+line+"\r\nend\r\n.\r\n")))
				if !strings.Contains(m, "\r\n"+line+"\r\nend\r\n") {
					t.Fatalf("%d-byte line not stored intact", n)
				}
			}
			tooLong := strings.Repeat("x", maxDataLine+1)
			r := c.deliver("a@example.org", "b@example.test", "Subject: too long\r\n\r\n"+tooLong+"\r\n.\r\n")
			if !strings.HasPrefix(r, "552 5.3.4 ") {
				t.Fatalf("line of %d bytes: %q, want 552 5.3.4", len(tooLong), r)
			}
			// The body was read to its end: the session is still in step.
			c.expect("NOOP", "250 ")
			queuedID(t, c.deliver("a@example.org", "b@example.test", "Subject: after\r\n\r\nshort\r\n.\r\n"))
			if n := len(newMessages(t, f)); n != 3 {
				t.Fatalf("%d messages in spool/new, want 3", n)
			}
			// Command lines keep go-smtp's 2,000-byte limit and its 500.
			c.send("NOOP " + strings.Repeat("n", 2500) + "\r\n")
			if r := c.reply(); !strings.HasPrefix(r, "500 5.4.0 ") {
				t.Fatalf("2,500-byte command line: %q, want 500 5.4.0", r)
			}
			_ = c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err := io.ReadAll(c.r)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("connection still open after 500 for a long command line")
			}
		})
	}
}

// A long line in a BDAT chunk is held to the same 64 KB as in DATA.
func TestLongLinesInBDAT(t *testing.T) {
	f := newFixture(t)
	f.writeGen(testSettings(config.ModeAvailable), nil)
	srv, _ := startServer(t, f)
	c := dial(t, srv.Addr().String())
	c.reply()
	c.expect("EHLO chunk.example", "250-")
	c.expect("MAIL FROM:<a@example.org>", "250 ")
	c.expect("RCPT TO:<b@example.test>", "250 ")
	ok := "Subject: c\r\n\r\n" + strings.Repeat("q", 5000) + "\r\n"
	c.send("BDAT " + itoa(len(ok)) + " LAST\r\n" + ok)
	queuedID(t, c.reply())
	c.expect("MAIL FROM:<a@example.org>", "250 ")
	c.expect("RCPT TO:<b@example.test>", "250 ")
	bad := "Subject: c\r\n\r\n" + strings.Repeat("q", maxDataLine+1) + "\r\n"
	c.send("BDAT " + itoa(len(bad)) + " LAST\r\n" + bad)
	if r := c.reply(); !strings.HasPrefix(r, "552 5.3.4 ") {
		t.Fatalf("long line in BDAT: %q", r)
	}
	c.expect("NOOP", "250 ")
}
