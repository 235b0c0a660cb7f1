package smtpd

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smtptls/smtptls/config"
)

const bareReply = "550 5.5.2 Message contains a bare CR or LF; only CRLF line endings are allowed (RFC 5321 2.3.8)"

func newMessages(t *testing.T, f *fixture) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(f.dir, "spool", "new"))
	must(t, err)
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// Every end-of-data variant an SMTP smuggling attack uses: each would end
// the DATA of a lenient server and start a second, forged transaction.
var smugglingVariants = map[string]string{
	"LF.LF":     "\n.\n",
	"LF.CRLF":   "\n.\r\n",
	"CRLF.LF":   "\r\n.\n",
	"CR.CR":     "\r.\r",
	"CR.CRLF":   "\r.\r\n",
	"CRLF.CR":   "\r\n.\r",
	"LF.CR":     "\n.\r",
	"CR.LF":     "\r.\n",
	"CRLF.CRCR": "\r\n.\r\r\n",
}

const smuggled = "MAIL FROM:<admin@bank.example>\r\nRCPT TO:<victim@example.test>\r\nDATA\r\nSubject: forged\r\n\r\nforged\r\n.\r\n"

// Every variant is refused in reject mode, "CRLF . CR x" included:
// go-smtp's dot-unstuffing drops that CR before the session sees the
// data, so the wire (wire.go) watches for it on the way in.

func TestSmugglingVariantsAreRejected(t *testing.T) {
	f := newFixture(t)
	f.writeGen(testSettings(config.ModeAvailable), nil)
	srv, _ := startServer(t, f)
	for name, eod := range smugglingVariants {
		t.Run(name, func(t *testing.T) {
			c := dial(t, srv.Addr().String())
			c.reply()
			c.expect("EHLO attacker.example", "250-")
			c.expect("MAIL FROM:<a@attacker.example>", "250 ")
			c.expect("RCPT TO:<b@example.test>", "250 ")
			c.expect("DATA", "354 ")
			c.send("Subject: first\r\n\r\nfirst" + eod + smuggled)
			// The only end of data is the final CRLF.CRLF: one reply, and
			// never a second transaction.
			if r := c.reply(); r != bareReply {
				t.Fatalf("got %q, want %q", r, bareReply)
			}
			c.expect("NOOP", "250 ")
		})
	}
	if msgs := newMessages(t, f); len(msgs) != 0 {
		t.Fatalf("spooled %d messages from smuggling attempts, want none", len(msgs))
	}
}

func assertOnlyCRLF(t *testing.T, body string) {
	t.Helper()
	for i := 0; i < len(body); i++ {
		if body[i] == '\n' && (i == 0 || body[i-1] != '\r') {
			t.Fatalf("bare LF stored at %d: %q", i, body)
		}
		if body[i] == '\r' && (i+1 == len(body) || body[i+1] != '\n') {
			t.Fatalf("bare CR stored at %d: %q", i, body)
		}
	}
}

func TestBareLineEndingsNormalizedWhenConfigured(t *testing.T) {
	f := newFixture(t)
	s := testSettings(config.ModeAvailable)
	s.BareLineEndings = config.BareNormalize
	f.writeGen(s, nil)
	srv, _ := startServer(t, f)
	for name, eod := range smugglingVariants {
		t.Run(name, func(t *testing.T) {
			c := dial(t, srv.Addr().String())
			c.reply()
			c.expect("EHLO attacker.example", "250-")
			id := queuedID(t, c.deliver("a@attacker.example", "b@example.test", "Subject: first\r\n\r\nfirst"+eod+smuggled))
			m := spooled(t, f, id)
			body := m[strings.Index(m, "Subject: first"):]
			assertOnlyCRLF(t, body)
			if !strings.Contains(body, "forged") {
				t.Fatalf("the rest of the message was lost: %q", body)
			}
			// The smuggled "transaction" is message text, not a second
			// message.
			c.expect("NOOP", "250 ")
		})
	}
	if n := len(newMessages(t, f)); n != len(smugglingVariants) {
		t.Fatalf("%d messages, want one per variant (%d)", n, len(smugglingVariants))
	}
}

func TestLimits(t *testing.T) {
	f := newFixture(t)
	s := testSettings(config.ModeAvailable)
	s.Limits.MaxMessageBytes = 2000
	s.Limits.MaxRecipients = 2
	f.writeGen(s, nil)
	srv, _ := startServer(t, f)
	c := dial(t, srv.Addr().String())
	c.reply()
	ehlo := c.expect("EHLO x.example", "250-")
	if !ehloHas(ehlo, "SIZE 2000") {
		t.Fatalf("SIZE not advertised as configured:\n%s", ehlo)
	}
	t.Run("SIZE parameter over the limit", func(t *testing.T) {
		c.expect("MAIL FROM:<a@example.org> SIZE=2001", "552 5.3.4")
	})
	t.Run("message over the limit", func(t *testing.T) {
		c.expect("MAIL FROM:<a@example.org>", "250 ")
		c.expect("RCPT TO:<b@example.test>", "250 ")
		c.expect("DATA", "354 ")
		c.send("Subject: big\r\n\r\n" + strings.Repeat("0123456789abcdef0123456789abcdef\r\n", 100) + ".\r\n")
		c.expect("NOOP", "552 5.3.4 Maximum message size exceeded")
		// the NOOP's own reply follows
		if r := c.reply(); !strings.HasPrefix(r, "250 ") {
			t.Fatalf("NOOP after a refused message: %q", r)
		}
	})
	t.Run("recipients", func(t *testing.T) {
		c.expect("MAIL FROM:<a@example.org>", "250 ")
		c.expect("RCPT TO:<b1@example.test>", "250 ")
		c.expect("RCPT TO:<b2@example.test>", "250 ")
		c.expect("RCPT TO:<b3@example.test>", "452 4.5.3")
		c.expect("RSET", "250 ")
	})
	if n := len(newMessages(t, f)); n != 0 {
		t.Fatalf("%d messages spooled over the limits", n)
	}
	if n := len(mustReadDir(t, filepath.Join(f.dir, "spool", "tmp"))); n != 0 {
		t.Fatalf("%d files left in tmp after refused messages", n)
	}
}

func mustReadDir(t *testing.T, dir string) []os.DirEntry {
	t.Helper()
	e, err := os.ReadDir(dir)
	must(t, err)
	return e
}

func TestCommandTimeoutSays421(t *testing.T) {
	f := newFixture(t)
	s := testSettings(config.ModeAvailable)
	s.Limits.CommandTimeout = config.Duration{Duration: 200 * time.Millisecond}
	f.writeGen(s, nil)
	srv, _ := startServer(t, f)
	c := dial(t, srv.Addr().String())
	c.reply()
	c.expect("EHLO idle.example", "250-")
	if r := c.reply(); !strings.HasPrefix(r, "421 4.4.2") {
		t.Fatalf("idle peer got %q, want 421 4.4.2", r)
	}
}

// The DATA timeout bounds the whole body, however slowly it trickles in,
// and is independent of the (shorter) command timeout.
func TestDataTimeoutBoundsTheWholeBody(t *testing.T) {
	f := newFixture(t)
	s := testSettings(config.ModeAvailable)
	s.Limits.CommandTimeout = config.Duration{Duration: 5 * time.Second}
	s.Limits.DataTimeout = config.Duration{Duration: 400 * time.Millisecond}
	f.writeGen(s, nil)
	srv, _ := startServer(t, f)
	c := dial(t, srv.Addr().String())
	c.reply()
	c.expect("EHLO slow.example", "250-")
	c.expect("MAIL FROM:<a@example.org>", "250 ")
	c.expect("RCPT TO:<b@example.test>", "250 ")
	c.expect("DATA", "354 ")
	stop := make(chan struct{})
	defer close(stop)
	go func() { // a byte every 50ms: each read is quick, the whole is not
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				if _, err := c.c.Write([]byte("x")); err != nil {
					return
				}
			}
		}
	}()
	if r := c.reply(); !strings.HasPrefix(r, "451 4.4.2") {
		t.Fatalf("slow body got %q, want 451 4.4.2", r)
	}
	if n := len(newMessages(t, f)); n != 0 {
		t.Fatal("a timed-out message was spooled")
	}
}

func TestConnectionLimits(t *testing.T) {
	f := newFixture(t)
	s := testSettings(config.ModeAvailable)
	s.Limits.MaxConnections = 3
	s.Limits.MaxConnectionsPerIP = 2
	f.writeGen(s, nil)
	// A full listener gives the slot of a session idle for a second to a
	// newcomer (pressure.go); here every slot is wanted, however slow the
	// machine.
	srv, _ := startServerOpts(t, f, Options{EvictAfterIdle: time.Hour})
	addr := srv.Addr().String()

	a, b := dial(t, addr), dial(t, addr)
	a.reply()
	b.reply()
	over := dial(t, addr)
	if r := over.reply(); !strings.HasPrefix(r, "421 4.7.0 ") || !strings.Contains(r, "too many connections from your address") {
		t.Fatalf("third connection from one IP: %q", r)
	}
	// Another address (::1 or 127.0.0.2) still gets in, up to the total.
	other := dialFrom(t, "127.0.0.2", addr)
	if r := other.reply(); !strings.HasPrefix(r, "220 ") {
		t.Fatalf("other IP: %q", r)
	}
	total := dialFrom(t, "127.0.0.3", addr)
	if r := total.reply(); !strings.HasPrefix(r, "421 4.7.0 ") || !strings.Contains(r, "too many connections") {
		t.Fatalf("connection over the total: %q", r)
	}
	// A slot frees when a peer leaves.
	a.expect("QUIT", "221 ")
	waitFor(t, func() bool {
		c := dial(t, addr)
		defer c.close()
		return strings.HasPrefix(c.reply(), "220 ")
	})
}

func TestBDATDeliveryAndBareLF(t *testing.T) {
	f := newFixture(t)
	f.writeGen(testSettings(config.ModeAvailable), nil)
	srv, _ := startServer(t, f)
	c := dial(t, srv.Addr().String())
	c.reply()
	c.expect("EHLO chunk.example", "250-")
	c.expect("MAIL FROM:<a@example.org>", "250 ")
	c.expect("RCPT TO:<b@example.test>", "250 ")
	part1, part2 := "Subject: chunked\r\n\r\n", "in two chunks\r\n"
	c.send(fmt.Sprintf("BDAT %d\r\n%s", len(part1), part1))
	if r := c.reply(); !strings.HasPrefix(r, "250 ") {
		t.Fatalf("first chunk: %q", r)
	}
	c.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(part2), part2))
	m := spooled(t, f, queuedID(t, c.reply()))
	if !strings.HasSuffix(m, part1+part2) {
		t.Fatalf("stored %q", m)
	}

	c.expect("MAIL FROM:<a@example.org>", "250 ")
	c.expect("RCPT TO:<b@example.test>", "250 ")
	bad := "Subject: x\r\n\r\nbare\nLF\r\n"
	c.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(bad), bad))
	if r := c.reply(); r != bareReply {
		t.Fatalf("bare LF in BDAT: %q", r)
	}
	if n := len(newMessages(t, f)); n != 1 {
		t.Fatalf("%d messages", n)
	}
}
