package smtpd

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/smtptls/smtptls/config"
)

// hop is a next hop: a real smtptls listener process in maildir mode.
type hop struct {
	f    *fixture
	addr string
	cmd  *exec.Cmd
}

const hopHost = "hop.example.test"

func startHop(t *testing.T, mode config.Mode, mutate func(*config.Settings)) *hop {
	t.Helper()
	f := newFixture(t)
	s := testSettings(mode)
	if !mode.NeedsCertificate() {
		s.Hostname = hopHost // its certificate names testHost
	}
	if mutate != nil {
		mutate(&s)
	}
	f.writeGen(s, nil)
	cmd, addr := startProcess(t, f)
	return &hop{f: f, addr: addr, cmd: cmd}
}

// stored returns the messages in the hop's spool, by id.
func (h *hop) stored(t *testing.T) map[string]string {
	t.Helper()
	return spoolContents(t, h.f)
}

func spoolContents(t *testing.T, f *fixture) map[string]string {
	t.Helper()
	dir := filepath.Join(f.dir, "spool", "new")
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	must(t, err)
	out := map[string]string{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		must(t, err)
		out[e.Name()] = string(b)
	}
	return out
}

// startFront runs a listener in relay mode to next, accepting example.test.
func startFront(t *testing.T, mode config.Mode, next string, mutate func(*config.Settings)) (*Server, *logBuf, *fixture) {
	t.Helper()
	f := newFixture(t)
	s := testSettings(mode)
	s.Delivery = config.DeliveryRelay
	s.AcceptDomains = []string{"example.test"}
	s.Relay.NextHop = next
	if mutate != nil {
		mutate(&s)
	}
	f.writeGen(s, nil)
	srv, lb := startServer(t, f)
	return srv, lb, f
}

// dotStuff turns a message into DATA lines, final dot included.
func dotStuff(msg string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(msg, "\r\n") {
		if strings.HasPrefix(line, ".") {
			b.WriteByte('.')
		}
		b.WriteString(line)
	}
	b.WriteString(".\r\n")
	return b.String()
}

func sendMessage(t *testing.T, c *client, from string, to []string, msg string) string {
	t.Helper()
	c.expect("MAIL FROM:<"+from+">", "250 ")
	for _, r := range to {
		c.expect("RCPT TO:<"+r+">", "250 ")
	}
	c.expect("DATA", "354 ")
	c.send(dotStuff(msg))
	return c.reply()
}

var queuedAs = regexp.MustCompile(`^250 2\.0\.0 Ok: queued as (\w+)$`)

// The message arrives at the next hop byte for byte, with one Received:
// line of ours added: dot-stuffed lines, 8-bit bytes and CRLF ends intact.
// The sender's 250 is the next hop's own, naming its queue id.
func TestRelayDeliversByteIdentical(t *testing.T) {
	h := startHop(t, config.ModeDisabled, nil)
	srv, _, front := startFront(t, config.ModeDisabled, "smtp://"+h.addr, nil)
	msg := "Subject: relay test\r\nFrom: <a@example.org>\r\n\r\n" +
		".one leading dot\r\n..two leading dots\r\n.\r\n" + // a lone dot line, stuffed on the wire
		"8-bit: caf\xc3\xa9 \xff\x80\x00 end\r\n" +
		"trailing spaces   \r\n\r\n\r\nlast line\r\n"
	c := greet(t, srv.Addr().String())
	reply := sendMessage(t, c, "a@example.org", []string{"b@example.test"}, msg)
	m := queuedAs.FindStringSubmatch(reply)
	if m == nil {
		t.Fatalf("reply to the final dot: %q, want the next hop's 250 naming its queue id", reply)
	}
	c.expect("QUIT", "221 ")
	got, ok := h.stored(t)[m[1]]
	if !ok {
		t.Fatalf("next hop has no message %s; has %d", m[1], len(h.stored(t)))
	}
	want := regexp.MustCompile(`^Return-Path: <a@example\.org>\r\n` +
		`X-Original-To: <b@example\.test>\r\n` +
		`Received: from mail\.example\.test \(\[127\.0\.0\.1\]\)\r\n\tby hop\.example\.test \(smtptls\) with ESMTP id \w+\r\n\tfor <b@example\.test>;\r\n\t[^\r\n]+\r\n` +
		`Received: from client\.example \(\[127\.0\.0\.1\]\)\r\n\tby mail\.example\.test \(smtptls\) with ESMTP id \w+\r\n\tfor <b@example\.test>;\r\n\t[^\r\n]+\r\n` +
		`(?s:(.*))$`)
	parts := want.FindStringSubmatch(got)
	if parts == nil {
		t.Fatalf("stored message does not have the next hop's headers, then ours, then the body:\n%q", got)
	}
	if parts[1] != msg {
		t.Fatalf("body changed on the way:\n got %q\nwant %q", parts[1], msg)
	}
	if n := len(spoolContents(t, front)); n != 0 {
		t.Fatalf("the relaying listener stored %d messages itself", n)
	}
	if c := srv.RelayCounters(); c.Relayed != 1 || c.Refused != 0 || c.TempFailed != 0 {
		t.Fatalf("counters %+v, want 1 relayed", c)
	}
}

// A 35 MB message streams through: it arrives whole and intact.
func TestRelayStreamsLargeMessage(t *testing.T) {
	h := startHop(t, config.ModeDisabled, nil)
	srv, _, _ := startFront(t, config.ModeDisabled, "smtp://"+h.addr, nil)
	line := strings.Repeat("0123456789", 9) + "abcdefgh\r\n" // 100 bytes
	var body strings.Builder
	body.WriteString("Subject: big\r\n\r\n")
	for body.Len() < 35_000_000 {
		body.WriteString(line)
	}
	msg := body.String()
	c := greet(t, srv.Addr().String())
	c.expect(fmt.Sprintf("MAIL FROM:<a@example.org> SIZE=%d", len(msg)), "250 ")
	c.expect("RCPT TO:<b@example.test>", "250 ")
	c.expect("DATA", "354 ")
	w := bufio.NewWriterSize(c.c, 64<<10)
	_, _ = w.WriteString(msg)
	_, _ = w.WriteString(".\r\n")
	must(t, w.Flush())
	m := queuedAs.FindStringSubmatch(c.reply())
	if m == nil {
		t.Fatal("no 250 for the 35 MB message")
	}
	got := h.stored(t)[m[1]]
	if !strings.HasSuffix(got, msg) || sha256.Sum256([]byte(got[len(got)-len(msg):])) != sha256.Sum256([]byte(msg)) {
		t.Fatalf("stored message (%d bytes) does not end with the %d bytes sent", len(got), len(msg))
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// Next hop down: 451 4.4.1 at MAIL, nothing stored anywhere, and the
// reason in the log.
func TestRelayNextHopDownGets451(t *testing.T) {
	srv, lb, front := startFront(t, config.ModeDisabled, "smtp://"+freeAddr(t), nil)
	c := greet(t, srv.Addr().String())
	if r := c.cmd("MAIL FROM:<a@example.org>"); r != "451 4.4.1 Next hop not reachable, try again later" {
		t.Fatalf("MAIL with the next hop down: %q", r)
	}
	if r := c.cmd("RCPT TO:<b@example.test>"); !strings.HasPrefix(r, "5") || strings.HasPrefix(r, "250") {
		t.Fatalf("RCPT after a failed MAIL: %q", r)
	}
	c.expect("QUIT", "221 ")
	if n := len(spoolContents(t, front)); n != 0 {
		t.Fatalf("%d messages stored", n)
	}
	waitFor(t, func() bool { return strings.Contains(lb.String(), "connection refused") })
	if c := srv.RelayCounters(); c.TempFailed != 1 || c.Relayed != 0 {
		t.Fatalf("counters %+v, want 1 temp-failed", c)
	}
}

// The next hop's refusals reach the sender as they are: 550 for a
// recipient it does not take, 452 over its recipient limit.
func TestRelayPassesNextHopRefusals(t *testing.T) {
	h := startHop(t, config.ModeDisabled, func(s *config.Settings) {
		s.AcceptDomains = []string{"example.test"}
		s.Limits.MaxRecipients = 2
	})
	srv, _, _ := startFront(t, config.ModeDisabled, "smtp://"+h.addr, func(s *config.Settings) {
		s.AcceptDomains = []string{"example.test", "other.test"}
	})
	c := greet(t, srv.Addr().String())
	c.expect("MAIL FROM:<a@example.org>", "250 ")
	if r := c.cmd("RCPT TO:<x@other.test>"); r != "550 5.7.1 Relay access denied" {
		t.Fatalf("RCPT the next hop refuses: %q", r)
	}
	c.expect("RCPT TO:<b@example.test>", "250 ")
	c.expect("RCPT TO:<c@example.test>", "250 ")
	if r := c.cmd("RCPT TO:<d@example.test>"); r != "452 4.5.3 Maximum limit of 2 recipients reached" {
		t.Fatalf("RCPT over the next hop's limit: %q", r)
	}
	c.expect("DATA", "354 ")
	c.send(dotStuff("Subject: two of four\r\n\r\nhi\r\n"))
	m := queuedAs.FindStringSubmatch(c.reply())
	if m == nil {
		t.Fatal("no 250 after DATA")
	}
	got := h.stored(t)[m[1]]
	if !strings.Contains(got, "X-Original-To: <b@example.test>\r\nX-Original-To: <c@example.test>\r\nReceived") {
		t.Fatalf("next hop stored other recipients than it accepted:\n%s", got)
	}
	if c := srv.RelayCounters(); c.Refused != 1 || c.TempFailed != 1 || c.Relayed != 1 || c.Denied != 0 {
		t.Fatalf("counters %+v, want 1 relayed, 1 refused, 1 temp-failed, 0 denied here", c)
	}
}

// The next hop dies in the middle of DATA: the sender gets a 4xx, never
// a 250, and the next hop stored nothing.
func TestRelayNextHopDropsDuringData(t *testing.T) {
	h := startHop(t, config.ModeDisabled, nil)
	srv, lb, _ := startFront(t, config.ModeDisabled, "smtp://"+h.addr, nil)
	c := greet(t, srv.Addr().String())
	c.expect("MAIL FROM:<a@example.org>", "250 ")
	c.expect("RCPT TO:<b@example.test>", "250 ")
	c.expect("DATA", "354 ")
	chunk := strings.Repeat(strings.Repeat("x", 98)+"\r\n", 20000) // 2 MB
	c.send("Subject: cut\r\n\r\n" + chunk)
	must(t, h.cmd.Process.Kill())
	_ = h.cmd.Wait()
	c.send(chunk)
	c.send(".\r\n")
	r := c.reply()
	if !strings.HasPrefix(r, "451 4.4.2 ") {
		t.Fatalf("reply after the next hop died during DATA: %q, want 451 4.4.2", r)
	}
	if n := len(h.stored(t)); n != 0 {
		t.Fatalf("next hop stored %d messages", n)
	}
	waitFor(t, func() bool { return strings.Contains(lb.String(), "relay: next hop failed at") })
}

// relay.tls = verify against a certificate that does not carry the
// expected name: 4xx and a log line that says why; the right name relays
// over TLS.
func TestRelayVerifyWrongNameRefuses(t *testing.T) {
	h := startHop(t, config.ModeAvailable, nil)
	srv, lb, _ := startFront(t, config.ModeDisabled, "smtp://"+h.addr, func(s *config.Settings) {
		s.Relay.TLS = config.RelayTLSVerify
		s.Relay.CAFile = h.f.caFile()
		s.Relay.ServerName = "wrong.example.test"
	})
	c := greet(t, srv.Addr().String())
	r := c.cmd("MAIL FROM:<a@example.org>")
	if !strings.HasPrefix(r, "451 4.7.5 ") {
		t.Fatalf("MAIL with an unverifiable next hop: %q", r)
	}
	waitFor(t, func() bool {
		l := lb.String()
		return strings.Contains(l, "TLS handshake with "+h.addr) && strings.Contains(l, "wrong.example.test") &&
			strings.Contains(l, "certificate is valid for mail.example.test")
	})
	if n := len(h.stored(t)); n != 0 {
		t.Fatalf("next hop stored %d messages", n)
	}
}

func TestRelayTLSModesToNextHop(t *testing.T) {
	h := startHop(t, config.ModeAvailable, nil)
	for _, tc := range []struct {
		tls, name string
		want      string
	}{
		{config.RelayTLSVerify, testHost, "with ESMTPS"},
		{config.RelayTLSMay, "", "with ESMTPS"},
		{config.RelayTLSNone, "", "with ESMTP id"},
	} {
		t.Run(tc.tls, func(t *testing.T) {
			srv, _, _ := startFront(t, config.ModeDisabled, "smtp://"+h.addr, func(s *config.Settings) {
				s.Relay.TLS = tc.tls
				s.Relay.ServerName = tc.name
				if tc.tls == config.RelayTLSVerify {
					s.Relay.CAFile = h.f.caFile()
				}
			})
			c := greet(t, srv.Addr().String())
			m := queuedAs.FindStringSubmatch(sendMessage(t, c, "a@example.org", []string{"b@example.test"}, "Subject: tls\r\n\r\nhi\r\n"))
			if m == nil {
				t.Fatal("not relayed")
			}
			got := h.stored(t)[m[1]]
			// The next hop's own Received: line is first.
			first := got[strings.Index(got, "Received:"):]
			first = first[:strings.Index(first, ";")]
			if !strings.Contains(first, tc.want) {
				t.Fatalf("next hop recorded %q, want %q", first, tc.want)
			}
		})
	}
}

// The inbound modes hold with relay on: required refuses MAIL before
// STARTTLS and relays after it; disabled offers no STARTTLS.
func TestRelayInboundModesHold(t *testing.T) {
	h := startHop(t, config.ModeDisabled, nil)
	t.Run("required", func(t *testing.T) {
		srv, _, f := startFront(t, config.ModeRequired, "smtp://"+h.addr, nil)
		c := greet(t, srv.Addr().String())
		c.expect("MAIL FROM:<a@example.org>", "530 5.7.0 ")
		c.starttls(f.roots)
		c.expect("EHLO client.example", "250-")
		m := queuedAs.FindStringSubmatch(sendMessage(t, c, "a@example.org", []string{"b@example.test"}, "Subject: s\r\n\r\nhi\r\n"))
		if m == nil {
			t.Fatal("not relayed after STARTTLS")
		}
		if got := h.stored(t)[m[1]]; !strings.Contains(got, "by mail.example.test (smtptls) with ESMTPS") {
			t.Fatalf("our Received: line does not record TLS:\n%s", got)
		}
	})
	t.Run("disabled", func(t *testing.T) {
		srv, _, _ := startFront(t, config.ModeDisabled, "smtp://"+h.addr, nil)
		c := dial(t, srv.Addr().String())
		c.reply()
		if r := c.cmd("EHLO client.example"); strings.Contains(r, "STARTTLS") {
			t.Fatalf("disabled mode offers STARTTLS:\n%s", r)
		}
		c.expect("STARTTLS", "502 ")
	})
	t.Run("available", func(t *testing.T) {
		srv, _, _ := startFront(t, config.ModeAvailable, "smtp://"+h.addr, nil)
		c := dial(t, srv.Addr().String())
		c.reply()
		if r := c.cmd("EHLO client.example"); !strings.Contains(r, "STARTTLS") {
			t.Fatalf("available mode does not offer STARTTLS:\n%s", r)
		}
		if queuedAs.FindStringSubmatch(sendMessage(t, c, "a@example.org", []string{"b@example.test"}, "Subject: p\r\n\r\nhi\r\n")) == nil {
			t.Fatal("plaintext not relayed in mode available")
		}
	})
}
