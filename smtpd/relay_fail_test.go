package smtpd

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/smtptls/smtptls/config"
	"github.com/smtptls/smtptls/smtpd/relay"
)

// The sender vanishes in the middle of DATA: the next hop must not get a
// message, not even a truncated one (no final dot is sent for it).
func TestRelaySenderVanishesMidData(t *testing.T) {
	h := startHop(t, config.ModeDisabled, nil)
	srv, _, _ := startFront(t, config.ModeDisabled, "smtp://"+h.addr, nil)
	c := greet(t, srv.Addr().String())
	c.expect("MAIL FROM:<a@example.org>", "250 ")
	c.expect("RCPT TO:<b@example.test>", "250 ")
	c.expect("DATA", "354 ")
	c.send("Subject: half\r\n\r\n" + strings.Repeat("half a message\r\n", 1000))
	c.close()
	// A second sender completes a message, so the first has surely been
	// dealt with by the time it is stored.
	c2 := greet(t, srv.Addr().String())
	if queuedAs.FindStringSubmatch(sendMessage(t, c2, "a@example.org", []string{"b@example.test"}, "Subject: whole\r\n\r\nx\r\n")) == nil {
		t.Fatal("second message not relayed")
	}
	waitFor(t, func() bool { return srv.RelayCounters().Relayed == 1 })
	for id, m := range h.stored(t) {
		if strings.Contains(m, "half a message") {
			t.Fatalf("next hop stored the truncated message %s", id)
		}
	}
}

// A body with a bare LF is refused before anything is completed at the
// next hop: the smuggling guard holds with relay too.
func TestRelayBareLFRefusedNothingForwarded(t *testing.T) {
	h := startHop(t, config.ModeDisabled, nil)
	srv, _, _ := startFront(t, config.ModeDisabled, "smtp://"+h.addr, nil)
	c := greet(t, srv.Addr().String())
	c.expect("MAIL FROM:<a@example.org>", "250 ")
	c.expect("RCPT TO:<b@example.test>", "250 ")
	c.expect("DATA", "354 ")
	c.send("Subject: smuggle\r\n\r\nx\n.\nMAIL FROM:<admin@bank.example>\r\n.\r\n")
	if r := c.reply(); r != bareReply {
		t.Fatalf("bare LF: %q", r)
	}
	// The session goes on, on a new outbound session.
	if queuedAs.FindStringSubmatch(sendMessage(t, c, "a@example.org", []string{"b@example.test"}, "Subject: clean\r\n\r\nx\r\n")) == nil {
		t.Fatal("clean message after the refusal not relayed")
	}
	msgs := h.stored(t)
	if len(msgs) != 1 {
		t.Fatalf("next hop stored %d messages, want only the clean one", len(msgs))
	}
	for _, m := range msgs {
		if strings.Contains(m, "smuggle") {
			t.Fatal("the refused message reached the next hop")
		}
	}
}

// stallHop accepts connections and never says a word.
func stallHop(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// A next hop that accepts the connection and then says nothing: 451 at
// MAIL once the command timeout passes, never a hang and never a 250.
func TestRelayNextHopSilentGets451(t *testing.T) {
	addr := stallHop(t)
	srv, lb, _ := startFront(t, config.ModeDisabled, "smtp://"+addr, func(s *config.Settings) {
		s.Limits.CommandTimeout = config.Duration{Duration: time.Second}
	})
	c := greet(t, srv.Addr().String())
	if r := c.cmd("MAIL FROM:<a@example.org>"); r != "451 4.4.1 Next hop not reachable, try again later" {
		t.Fatalf("MAIL with a silent next hop: %q", r)
	}
	waitFor(t, func() bool { return strings.Contains(lb.String(), "greeting from "+addr) })
}

// A next hop that takes the message but does not answer the final dot in
// time: 451 4.4.2, not 250 (the sender retries; a duplicate beats a loss).
func TestRelayNextHopSlowFinalReplyGets451(t *testing.T) {
	h := startWireHop(t, "tcp", false, func(s *smtp.Server) { s.ReadTimeout = time.Minute })
	srv, _, _ := startFront(t, config.ModeDisabled, "smtp://"+h.addr, func(s *config.Settings) {
		s.Limits.DataTimeout = config.Duration{Duration: time.Second}
	})
	c := greet(t, srv.Addr().String())
	c.expect("MAIL FROM:<a@example.org>", "250 ")
	c.expect("RCPT TO:<b@example.test>", "250 ")
	c.expect("DATA", "354 ")
	c.send(dotStuff("Subject: slow\r\n\r\nSLOW-ME\r\n"))
	if r := c.reply(); r != "451 4.4.2 The next hop did not answer in time, try again later" {
		t.Fatalf("reply when the next hop is slow after the dot: %q", r)
	}
	if n := srv.RelayCounters().TempFailed; n != 1 {
		t.Fatalf("temp-failed %d, want 1", n)
	}
}

// relay.Check is what apply's verify and status run: EHLO, and STARTTLS
// with a verified certificate when relay.tls = verify.
func TestRelayCheck(t *testing.T) {
	tlsHop := startHop(t, config.ModeAvailable, nil)
	plainHop := startHop(t, config.ModeDisabled, nil)
	check := func(r config.Relay) relay.CheckResult {
		tg, err := relay.TargetFrom(r)
		must(t, err)
		return relay.Check(context.Background(), tg, "gw.example.test", 5*time.Second)
	}
	ok := check(config.Relay{NextHop: "smtp://" + tlsHop.addr, TLS: config.RelayTLSVerify, CAFile: tlsHop.f.caFile(), ServerName: testHost})
	if !ok.Reachable || !strings.HasPrefix(ok.TLS, "TLS 1.3") || !strings.Contains(ok.Detail, "certificate verified for "+testHost) {
		t.Errorf("verify against the right name: %+v", ok)
	}
	wrong := check(config.Relay{NextHop: "smtp://" + tlsHop.addr, TLS: config.RelayTLSVerify, CAFile: tlsHop.f.caFile(), ServerName: "wrong.example.test"})
	if wrong.Reachable || !strings.Contains(wrong.Detail, "wrong.example.test") || !strings.Contains(wrong.Detail, "certificate is valid for") {
		t.Errorf("verify against a wrong name: %+v", wrong)
	}
	noTLS := check(config.Relay{NextHop: "smtp://" + plainHop.addr, TLS: config.RelayTLSVerify, ServerName: hopHost})
	if noTLS.Reachable || !strings.Contains(noTLS.Detail, "does not offer STARTTLS") {
		t.Errorf("verify against a next hop without STARTTLS: %+v", noTLS)
	}
	may := check(config.Relay{NextHop: "smtp://" + plainHop.addr, TLS: config.RelayTLSMay})
	if !may.Reachable || may.TLS != "" {
		t.Errorf("may against a next hop without STARTTLS: %+v", may)
	}
}

// BDAT (CHUNKING) from the sender becomes DATA to the next hop; a RSET
// between chunks leaves nothing at the next hop.
func TestRelayBDAT(t *testing.T) {
	h := startHop(t, config.ModeDisabled, nil)
	srv, _, _ := startFront(t, config.ModeDisabled, "smtp://"+h.addr, nil)
	c := greet(t, srv.Addr().String())
	c.expect("MAIL FROM:<a@example.org>", "250 ")
	c.expect("RCPT TO:<b@example.test>", "250 ")
	c.send("BDAT 22\r\nSubject: dropped\r\n\r\nab")
	if r := c.reply(); !strings.HasPrefix(r, "250 ") {
		t.Fatalf("first chunk: %q", r)
	}
	c.expect("RSET", "250 ")
	c.expect("QUIT", "221 ")
	// A new session for the whole message: go-smtp v0.25.1 races with
	// itself (c.dataResult) on a BDAT after a RSET that cut one short.
	c = dial(t, srv.Addr().String())
	c.reply()
	c.expect("EHLO client.example", "250-")
	c.expect("MAIL FROM:<a@example.org>", "250 ")
	c.expect("RCPT TO:<b@example.test>", "250 ")
	first, last := "Subject: chunks\r\n\r\n.dot", "\r\nend\r\n"
	c.send(fmt.Sprintf("BDAT %d\r\n%s", len(first), first))
	if r := c.reply(); !strings.HasPrefix(r, "250 ") {
		t.Fatalf("chunk: %q", r)
	}
	c.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(last), last))
	m := queuedAs.FindStringSubmatch(c.reply())
	if m == nil {
		t.Fatal("BDAT message not relayed")
	}
	msgs := h.stored(t)
	if len(msgs) != 1 || !strings.HasSuffix(msgs[m[1]], first+last) {
		t.Fatalf("next hop stored %d messages; want only %q", len(msgs), first+last)
	}
}
