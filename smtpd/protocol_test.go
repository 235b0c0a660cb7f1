package smtpd

import (
	"strconv"
	"strings"
	"testing"

	"github.com/smtptls/smtptls/config"
)

func itoa(n int) string { return strconv.Itoa(n) }

// Small protocol slips (issue 9, finding 5).
func TestPostmasterIsAcceptedInAnyCase(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		f := newFixture(t)
		f.writeGen(testSettings(config.ModeAvailable), nil)
		srv, _ := startServer(t, f)
		c := dial(t, srv.Addr().String())
		c.reply()
		c.expect("EHLO pm.example", "250-")
		if useTLS {
			c.starttls(f.roots)
			c.expect("EHLO pm.example", "250-")
		}
		// RFC 5321 4.5.1: <Postmaster> without a domain must be accepted.
		for _, rcpt := range []string{"<postmaster>", "<POSTMASTER>", "<PostMaster>", " <postmaster> NOTIFY=NEVER", "<Postmaster@" + testHost + ">"} {
			c.expect("MAIL FROM:<a@example.org>", "250 ")
			if strings.Contains(rcpt, "NOTIFY") {
				// go-smtp does not offer DSN: the parameter is refused,
				// not the address.
				c.expect("RCPT TO:"+rcpt, "504 5.5.4 NOTIFY")
				c.expect("RSET", "250 ")
				continue
			}
			c.expect("RCPT TO:"+rcpt, "250 ")
			c.expect("DATA", "354 ")
			c.send("Subject: to the postmaster\r\n\r\nhello\r\n.\r\n")
			m := spooled(t, f, queuedID(t, c.reply()))
			if !strings.Contains(strings.ToLower(m), "x-original-to: <postmaster@"+testHost+">") {
				t.Fatalf("RCPT TO:%s stored as:\n%s", rcpt, m)
			}
		}
		// A body line that looks like the command is not touched.
		id := queuedID(t, c.deliver("a@example.org", "b@example.test", "Subject: x\r\n\r\nRCPT TO:<postmaster>\r\n.\r\n"))
		if !strings.Contains(spooled(t, f, id), "\r\nRCPT TO:<postmaster>\r\n") {
			t.Fatal("a body line was rewritten")
		}
	}
}

func TestSizeOverTheLimitIs552AtMail(t *testing.T) {
	f := newFixture(t)
	f.writeGen(testSettings(config.ModeAvailable), nil)
	srv, _ := startServer(t, f)
	c := dial(t, srv.Addr().String())
	c.reply()
	c.expect("EHLO big.example", "250-")
	for _, size := range []string{"36700161", "5000000000", "99999999999999999999999"} {
		c.expect("MAIL FROM:<a@example.org> SIZE="+size, "552 5.3.4 ")
	}
	c.expect("MAIL FROM:<a@example.org> SIZE=1000", "250 ")
}

// SMTPUTF8: refused consistently, see errNeedsSMTPUTF8 for why.
func TestUTF8AddressesRefusedConsistently(t *testing.T) {
	f := newFixture(t)
	f.writeGen(testSettings(config.ModeAvailable), nil)
	srv, _ := startServer(t, f)
	c := dial(t, srv.Addr().String())
	c.reply()
	if r := c.cmd("EHLO utf8.example"); strings.Contains(r, "SMTPUTF8") {
		t.Fatalf("SMTPUTF8 advertised: %q", r)
	}
	c.expect("MAIL FROM:<jörg@example.org>", "553 5.6.7 ")
	c.expect("MAIL FROM:<a@example.org> SMTPUTF8", "504 5.5.4 ")
	c.expect("MAIL FROM:<a@example.org>", "250 ")
	c.expect("RCPT TO:<jörg@example.test>", "553 5.6.7 ")
	c.expect("RCPT TO:<b@bücher.example>", "553 5.6.7 ")
	c.expect("RCPT TO:<b@example.test>", "250 ")
}

func TestEHLONameInReceivedIsCappedAndSanitised(t *testing.T) {
	f := newFixture(t)
	f.writeGen(testSettings(config.ModeAvailable), nil)
	srv, lb := startServer(t, f)
	c := dial(t, srv.Addr().String())
	c.reply()
	name := "x(y);Thu,\x01\x7f" + strings.Repeat("a", 1900)
	c.expect("EHLO "+name, "250-")
	id := queuedID(t, c.deliver("a@example.org", "b@example.test", "Subject: x\r\n\r\nx\r\n.\r\n"))
	m := spooled(t, f, id)
	first, _, _ := strings.Cut(m[strings.Index(m, "Received: from "):], "\r\n")
	from := strings.TrimPrefix(first, "Received: from ")
	from, _, _ = strings.Cut(from, " ")
	if len(from) > maxHeloInHeader {
		t.Fatalf("EHLO name of %d bytes put %d bytes into Received:", len(name), len(from))
	}
	for _, r := range from {
		if !(r == '-' || r == '.' || r == '?' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '[' || r == ']' || r == ':') {
			t.Fatalf("Received: from %q keeps %q", from, r)
		}
	}
	c.expect("QUIT", "221 ")
	waitFor(t, func() bool { return strings.Contains(lb.String(), "msg=session") })
	if strings.Contains(lb.String(), strings.Repeat("a", maxHeloInHeader+1)) {
		t.Fatal("the session log line carries the whole EHLO name")
	}
}

// "\r\n.\r" + text: go-smtp's dot-unstuffing drops the CR before the
// backend sees it, so it used to be accepted in reject mode.
func TestDotCRIsRefusedInRejectMode(t *testing.T) {
	f := newFixture(t)
	f.writeGen(testSettings(config.ModeAvailable), nil)
	srv, _ := startServer(t, f)
	c := dial(t, srv.Addr().String())
	c.reply()
	c.expect("EHLO dot.example", "250-")
	for _, body := range []string{"Subject: x\r\n\r\nfirst\r\n.\rsmuggled\r\n.\r\n", "Subject: x\r\n\r\nfirst\r\n.\r\r\nmore\r\n.\r\n"} {
		if r := c.deliver("a@example.org", "b@example.test", body); r != bareReply {
			t.Fatalf("%q: got %q, want %q", body, r, bareReply)
		}
		c.expect("NOOP", "250 ")
	}
	// A dot-stuffed line is still fine.
	queuedID(t, c.deliver("a@example.org", "b@example.test", "Subject: x\r\n\r\n..leading dot\r\n.\r\n"))
}
