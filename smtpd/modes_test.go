package smtpd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smtptls/smtptls/config"
)

const mustTLS = "530 5.7.0 Must issue a STARTTLS command first"

func ehloHas(reply, capability string) bool {
	for _, l := range strings.Split(reply, "\n") {
		if len(l) > 4 && l[4:] == capability {
			return true
		}
	}
	return false
}

// deliver runs one plaintext-or-TLS transaction and returns the final reply.
func (c *client) deliver(from, to, body string) string {
	c.t.Helper()
	c.expect("MAIL FROM:<"+from+">", "250 ")
	c.expect("RCPT TO:<"+to+">", "250 ")
	c.expect("DATA", "354 ")
	c.send(body)
	return c.reply()
}

func spooled(t *testing.T, f *fixture, id string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(f.dir, "spool", "new", id))
	if err != nil {
		t.Fatalf("message %s not in spool/new: %v", id, err)
	}
	return string(b)
}

func queuedID(t *testing.T, reply string) string {
	t.Helper()
	const p = "250 2.0.0 Ok: queued as "
	if !strings.HasPrefix(reply, p) {
		t.Fatalf("final reply %q, want %q<id>", reply, p)
	}
	return strings.TrimPrefix(reply, p)
}

func TestDisabledModeNeitherAdvertisesNorAcceptsSTARTTLS(t *testing.T) {
	f := newFixture(t)
	f.writeGen(testSettings(config.ModeDisabled), nil)
	srv, _ := startServer(t, f)
	c := dial(t, srv.Addr().String())
	if b := c.reply(); b != "220 mail.example.test ESMTP Service Ready" {
		t.Fatalf("banner %q", b)
	}
	ehlo := c.expect("EHLO client.example", "250-")
	if ehloHas(ehlo, "STARTTLS") {
		t.Fatalf("disabled mode advertises STARTTLS:\n%s", ehlo)
	}
	if ehloHas(ehlo, "AUTH") || strings.Contains(ehlo, "AUTH") {
		t.Fatalf("AUTH offered:\n%s", ehlo)
	}
	c.expect("STARTTLS", "502 5.5.1 TLS not supported")
	id := queuedID(t, c.deliver("a@example.org", "b@example.test", "Subject: x\r\n\r\nplain\r\n.\r\n"))
	msg := spooled(t, f, id)
	if !strings.Contains(msg, "with ESMTP id "+id) || strings.Contains(msg, "ESMTPS") {
		t.Fatalf("Received header wrong for plaintext:\n%s", msg)
	}
}

func TestAvailableModeAcceptsMailWithAndWithoutTLS(t *testing.T) {
	f := newFixture(t)
	f.writeGen(testSettings(config.ModeAvailable), nil)
	srv, lb := startServer(t, f)

	c := dial(t, srv.Addr().String())
	c.reply()
	ehlo := c.expect("EHLO plain.example", "250-")
	for _, want := range []string{"STARTTLS", "SIZE 36700160", "PIPELINING", "ENHANCEDSTATUSCODES"} {
		if !ehloHas(ehlo, want) {
			t.Errorf("EHLO lacks %s:\n%s", want, ehlo)
		}
	}
	if strings.Contains(ehlo, "AUTH") {
		t.Errorf("AUTH offered on a receiving gateway:\n%s", ehlo)
	}
	plainID := queuedID(t, c.deliver("a@example.org", "b@example.test", "Subject: p\r\n\r\nplain\r\n.\r\n"))
	c.expect("QUIT", "221 ")

	c = dial(t, srv.Addr().String())
	c.reply()
	c.expect("EHLO tls.example", "250-")
	st := c.starttls(f.roots)
	ehlo = c.expect("EHLO tls.example", "250-")
	if ehloHas(ehlo, "STARTTLS") {
		t.Errorf("STARTTLS advertised again after TLS:\n%s", ehlo)
	}
	tlsID := queuedID(t, c.deliver("a@example.org", "b@example.test", "Subject: t\r\n\r\ntls\r\n.\r\n"))
	c.expect("QUIT", "221 ")

	if m := spooled(t, f, plainID); !strings.Contains(m, "from plain.example ([127.0.0.1])") || !strings.Contains(m, "with ESMTP id") {
		t.Errorf("plaintext Received header:\n%s", m)
	}
	m := spooled(t, f, tlsID)
	wantTLS := "(using TLSv1.3 with cipher " + cipherName(st.CipherSuite) + ")"
	if !strings.Contains(m, "from tls.example ([127.0.0.1])") || !strings.Contains(m, "with ESMTPS id "+tlsID) || !strings.Contains(m, wantTLS) {
		t.Errorf("TLS Received header lacks peer/ESMTPS/%s:\n%s", wantTLS, m)
	}
	if !strings.HasSuffix(m, "\r\n\r\ntls\r\n") {
		t.Errorf("body not stored as sent: %q", m)
	}
	waitFor(t, func() bool { return strings.Count(lb.String(), "msg=session") == 2 })
	logs := lb.String()
	for _, want := range []string{"tls=plaintext", "queued=" + plainID, `tls="TLSv1.3 ` + cipherName(st.CipherSuite) + `"`, "queued=" + tlsID, "result=delivered"} {
		if !strings.Contains(logs, want) {
			t.Errorf("session log lacks %s:\n%s", want, logs)
		}
	}
	for _, secret := range []string{"PRIVATE KEY", "BEGIN"} {
		if strings.Contains(logs, secret) {
			t.Errorf("log contains %q", secret)
		}
	}
}

func TestRequiredModeRefusesEverythingButTheGreetingSetBeforeTLS(t *testing.T) {
	f := newFixture(t)
	f.writeGen(testSettings(config.ModeRequired), nil)
	srv, lb := startServer(t, f)
	c := dial(t, srv.Addr().String())
	c.reply()
	ehlo := c.expect("EHLO client.example", "250-")
	if !ehloHas(ehlo, "STARTTLS") {
		t.Fatalf("required mode must advertise STARTTLS:\n%s", ehlo)
	}
	for _, cmd := range []string{
		"MAIL FROM:<a@example.org>", "mail from:<a@example.org>", "RCPT TO:<b@example.test>", "DATA",
		"BDAT 10 LAST", "VRFY postmaster", "EXPN staff", "AUTH PLAIN AGdvbGQAcGFzcw==", "ETRN example.org",
		"SAML FROM:<a@example.org>", "XFOO", "", "MAI", "MAILFROM:<a@example.org>",
	} {
		if got := c.cmd(cmd); got != mustTLS {
			t.Errorf("%q before TLS: got %q, want %q", cmd, got, mustTLS)
		}
	}
	c.expect("NOOP", "250 ")
	c.expect("RSET", "250 ")
	c.expect("HELP", "502 5.5.1 HELP command not implemented")
	c.expect("HELO again.example", "250 ")
	c.expect("EHLO again.example", "250-")

	c.starttls(f.roots)
	c.expect("EHLO client.example", "250-")
	id := queuedID(t, c.deliver("a@example.org", "b@example.test", "Subject: r\r\n\r\nsecret\r\n.\r\n"))
	if m := spooled(t, f, id); !strings.Contains(m, "ESMTPS") {
		t.Errorf("not recorded as ESMTPS:\n%s", m)
	}
	c.expect("VRFY postmaster", "252 ")
	c.expect("QUIT", "221 ")

	// A peer that QUITs before TLS is allowed to.
	c = dial(t, srv.Addr().String())
	c.reply()
	c.expect("QUIT", "221 ")
	waitFor(t, func() bool { return strings.Count(lb.String(), "msg=session") == 2 })
	if !strings.Contains(lb.String(), "before STARTTLS") {
		t.Errorf("refusals not in the session log:\n%s", lb.String())
	}
}

// A pipelined batch before TLS in required mode gets one reply per command,
// in order, and nothing is accepted.
func TestRequiredModePipelinedBatchBeforeTLS(t *testing.T) {
	f := newFixture(t)
	f.writeGen(testSettings(config.ModeRequired), nil)
	srv, _ := startServer(t, f)
	c := dial(t, srv.Addr().String())
	c.reply()
	c.send("EHLO x.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.test>\r\nDATA\r\nSubject: x\r\n\r\nbody\r\n.\r\nNOOP\r\n")
	if r := c.reply(); !strings.HasPrefix(r, "250-") {
		t.Fatalf("EHLO: %q", r)
	}
	// MAIL, RCPT, DATA, then the three body lines and the dot: each is a
	// refused command line, never message data.
	for i := 0; i < 7; i++ {
		if r := c.reply(); r != mustTLS {
			t.Fatalf("reply %d: %q, want %q", i+2, r, mustTLS)
		}
	}
	if r := c.reply(); !strings.HasPrefix(r, "250 ") {
		t.Fatalf("NOOP: %q", r)
	}
	entries, _ := os.ReadDir(filepath.Join(f.dir, "spool", "new"))
	if len(entries) != 0 {
		t.Fatalf("required mode spooled %d plaintext messages", len(entries))
	}
}

func TestMultiLineReplyLeavesInOneWrite(t *testing.T) {
	f := newFixture(t)
	f.writeGen(testSettings(config.ModeAvailable), nil)
	srv, _ := startServer(t, f)
	c := dial(t, srv.Addr().String())
	c.reply()
	c.send("EHLO one.example\r\n")
	// One recv, as sslscan does: the whole EHLO reply must be in it.
	buf := make([]byte, 4096)
	n, err := c.c.Read(buf)
	must(t, err)
	got := string(buf[:n])
	if !strings.Contains(got, "250-STARTTLS") || !strings.Contains(got, "250 LIMITS") {
		t.Fatalf("one read got a partial EHLO reply: %q", got)
	}
}

func TestRequiredModeHangsUpAfterTooManyRefusals(t *testing.T) {
	f := newFixture(t)
	f.writeGen(testSettings(config.ModeRequired), nil)
	srv, _ := startServer(t, f)
	c := dial(t, srv.Addr().String())
	c.reply()
	for i := 0; i < maxRefusedBeforeTLS; i++ {
		c.expect("MAIL FROM:<a@example.org>", mustTLS)
	}
	c.expect("MAIL FROM:<a@example.org>", "421 4.7.0 Too many commands before STARTTLS")
	if line, err := c.r.ReadString('\n'); err == nil {
		t.Fatalf("connection still open, got %q", line)
	}
}
