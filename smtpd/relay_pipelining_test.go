package smtpd

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/smtptls/smtptls/config"
)

// scriptHop is a next hop written out line by line, for what a go-smtp
// server will not do: offer PIPELINING and answer MAIL only once the RCPT
// sent with it is in (RFC 2920 allows a server to), offer no PIPELINING
// at all, or hang up after the first message of a connection, as a next
// hop closing an idle session does.
type scriptHop struct {
	addr string
	opts scriptOpts
	ln   net.Listener

	mu       sync.Mutex
	sessions int      // connections greeted
	msgs     []string // messages taken, as received after DATA
}

type scriptOpts struct {
	noPipelining            bool
	hangUpAfterFirstMessage bool
	hangUpAfterFirstRcpt    bool
	// goneAfterFirstMessage: hang up and take no more connections.
	goneAfterFirstMessage bool
}

// scriptRefusal is the reply to MAIL FROM:<refused@...>.
const scriptRefusal = "553 5.7.1 Sender refused here"

func startScriptHop(t *testing.T, o scriptOpts) *scriptHop {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	h := &scriptHop{addr: ln.Addr().String(), opts: o, ln: ln}
	var wg sync.WaitGroup
	var conns []net.Conn
	var connsMu sync.Mutex
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			connsMu.Lock()
			conns = append(conns, c)
			connsMu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				h.serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		connsMu.Lock()
		for _, c := range conns {
			c.Close()
		}
		connsMu.Unlock()
		wg.Wait()
	})
	return h
}

func (h *scriptHop) serve(c net.Conn) {
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	h.mu.Lock()
	h.sessions++
	h.mu.Unlock()
	r := bufio.NewReader(c)
	say := func(s string) bool { _, err := c.Write([]byte(s)); return err == nil }
	if !say("220 script.example.test ESMTP\r\n") {
		return
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		verb := strings.ToUpper(strings.Fields(line + " x")[0])
		switch verb {
		case "EHLO":
			if h.opts.noPipelining {
				say("250-script.example.test\r\n250 8BITMIME\r\n")
			} else {
				say("250-script.example.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
			}
		case "MAIL":
			reply := "250 2.1.0 Ok\r\n"
			if strings.Contains(line, "<refused@") {
				reply = scriptRefusal + "\r\n"
			}
			if h.opts.noPipelining {
				say(reply)
				break
			}
			// Not a word until the RCPT pipelined with it has come.
			rcpt, err := r.ReadString('\n')
			if err != nil || !strings.HasPrefix(strings.ToUpper(rcpt), "RCPT ") {
				return
			}
			if reply != "250 2.1.0 Ok\r\n" {
				say(reply + "503 5.5.1 Error: need MAIL command\r\n")
				break
			}
			say(reply + "250 2.1.5 Ok\r\n")
			if h.opts.hangUpAfterFirstRcpt {
				return
			}
		case "RCPT":
			say("250 2.1.5 Ok\r\n")
		case "DATA":
			say("354 End data with <CR><LF>.<CR><LF>\r\n")
			var body strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				body.WriteString(l)
			}
			h.mu.Lock()
			h.msgs = append(h.msgs, body.String())
			h.mu.Unlock()
			say("250 2.0.0 Ok: queued as SCRIPT\r\n")
			if h.opts.goneAfterFirstMessage {
				h.ln.Close()
			}
			if h.opts.hangUpAfterFirstMessage || h.opts.goneAfterFirstMessage {
				return
			}
		case "RSET":
			say("250 2.0.0 Ok\r\n")
		case "QUIT":
			say("221 2.0.0 Bye\r\n")
			return
		default:
			say("502 5.5.2 Error: command not recognized\r\n")
		}
	}
}

func (h *scriptHop) counts() (sessions, msgs int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.sessions, len(h.msgs)
}

// A next hop offering PIPELINING gets MAIL in one write with the first
// RCPT: one round trip for both, where a relay that waits for the reply to
// MAIL first waits here until its command timeout (and says 451).
func TestRelaySendsMailWithFirstRcpt(t *testing.T) {
	h := startScriptHop(t, scriptOpts{})
	srv, _, _ := startFront(t, config.ModeDisabled, "smtp://"+h.addr, func(s *config.Settings) {
		s.Limits.CommandTimeout = config.Duration{Duration: 2 * time.Second}
	})
	c := greet(t, srv.Addr().String())
	if r := c.cmd("MAIL FROM:<a@example.org>"); r != "250 2.0.0 Roger, accepting mail from <a@example.org>" {
		t.Fatalf("MAIL: %q", r)
	}
	c.expect("RCPT TO:<b@example.test>", "250 ")
	c.expect("RCPT TO:<c@example.test>", "250 ")
	c.expect("DATA", "354 ")
	c.send(dotStuff("Subject: pipelined\r\n\r\nbody\r\n"))
	if r := c.reply(); r != "250 2.0.0 Ok: queued as SCRIPT" {
		t.Fatalf("final reply: %q", r)
	}
	// A second transaction in the same session holds MAIL again.
	if r := sendMessage(t, c, "a@example.org", []string{"b@example.test"}, "Subject: again\r\n\r\nbody\r\n"); r != "250 2.0.0 Ok: queued as SCRIPT" {
		t.Fatalf("second message: %q", r)
	}
	c.expect("QUIT", "221 ")
	if sessions, msgs := h.counts(); sessions != 1 || msgs != 2 {
		t.Fatalf("next hop saw %d sessions and %d messages, want 1 and 2", sessions, msgs)
	}
}

// The next hop refuses MAIL: the sender had its 250 (MAIL waited for a
// RCPT to go with), so each RCPT of the transaction gets the next hop's
// refusal word for word, nothing is relayed, and after RSET the session
// carries mail again without a RSET the next hop never needed.
func TestRelayNextHopRefusalOfMailReachesTheSenderAtRcpt(t *testing.T) {
	h := startWireHop(t, "tcp", false)
	srv, _, _ := startFront(t, config.ModeDisabled, "smtp://"+h.addr, nil)
	c := greet(t, srv.Addr().String())
	c.expect("MAIL FROM:<refused@example.org>", "250 ")
	const refusal = "553 5.7.1 Sender refused here"
	for _, rcpt := range []string{"b@example.test", "c@example.test"} {
		if r := c.cmd("RCPT TO:<" + rcpt + ">"); r != refusal {
			t.Fatalf("RCPT TO:<%s> after the next hop refused MAIL: %q, want %q", rcpt, r, refusal)
		}
	}
	if r := c.cmd("DATA"); !strings.HasPrefix(r, "5") {
		t.Fatalf("DATA with no recipient accepted: %q", r)
	}
	c.expect("RSET", "250 ")
	if r := sendMessage(t, c, "a@example.org", []string{"b@example.test"}, "Subject: ok\r\n\r\nok\r\n"); !strings.HasPrefix(r, "250 2.0.0 OK: queued") {
		t.Fatalf("transaction after the refused one: %q", r)
	}
	c.expect("QUIT", "221 ")
	waitCommands(t, h, []string{
		"EHLO " + testHost,
		"MAIL FROM:<refused@example.org> BODY=8BITMIME",
		"RCPT TO:<b@example.test>",
		"MAIL FROM:<a@example.org> BODY=8BITMIME",
		"RCPT TO:<b@example.test>",
		"DATA",
		"QUIT",
	})
	if cn := srv.RelayCounters(); cn.Relayed != 1 || cn.Refused != 1 {
		t.Fatalf("counters %+v, want 1 relayed and 1 refused", cn)
	}
}

// The next hop closes the outbound session after a message, while the
// sender's stays open: the next MAIL, held for its RCPT, finds the session
// gone at RCPT and goes once more on a new one. The sender sees 250s only.
func TestRelayHeldMailRetriesOnANewSessionWhenTheIdleOneClosed(t *testing.T) {
	h := startScriptHop(t, scriptOpts{hangUpAfterFirstMessage: true})
	srv, _, _ := startFront(t, config.ModeDisabled, "smtp://"+h.addr, nil)
	c := greet(t, srv.Addr().String())
	for i := range 3 {
		if r := sendMessage(t, c, "a@example.org", []string{"b@example.test"}, fmt.Sprintf("Subject: %d\r\n\r\nbody\r\n", i)); r != "250 2.0.0 Ok: queued as SCRIPT" {
			t.Fatalf("message %d: %q", i, r)
		}
		// Let the hang-up arrive before the next MAIL.
		waitFor(t, func() bool { s, _ := h.counts(); return s == i+1 })
		time.Sleep(20 * time.Millisecond)
	}
	c.expect("QUIT", "221 ")
	if sessions, msgs := h.counts(); sessions != 3 || msgs != 3 {
		t.Fatalf("next hop saw %d sessions and %d messages, want 3 and 3", sessions, msgs)
	}
}

// Without PIPELINING on offer, MAIL goes alone and the next hop's refusal
// is the reply to MAIL, as it always was.
func TestRelayMailWaitsForItsReplyWithoutPipelining(t *testing.T) {
	h := startScriptHop(t, scriptOpts{noPipelining: true})
	srv, _, _ := startFront(t, config.ModeDisabled, "smtp://"+h.addr, nil)
	c := greet(t, srv.Addr().String())
	if r := c.cmd("MAIL FROM:<refused@example.org>"); r != scriptRefusal {
		t.Fatalf("MAIL refused by a next hop without PIPELINING: %q, want %q", r, scriptRefusal)
	}
	if r := sendMessage(t, c, "a@example.org", []string{"b@example.test"}, "Subject: ok\r\n\r\nok\r\n"); r != "250 2.0.0 Ok: queued as SCRIPT" {
		t.Fatalf("message after the refused MAIL: %q", r)
	}
}

// A SIZE over the next hop's announced limit is refused at MAIL with 552:
// held back for RCPT, the next hop's own 552 would come at RCPT, where
// senders take it for a 452 and retry (RFC 5321 4.5.3.1.10).
func TestRelayRefusesAtMailWhatTheNextHopCannotTake(t *testing.T) {
	h := startWireHop(t, "tcp", false, func(s *smtp.Server) { s.MaxMessageBytes = 1000 })
	srv, _, _ := startFront(t, config.ModeDisabled, "smtp://"+h.addr, nil)
	c := greet(t, srv.Addr().String())
	if r := c.cmd("MAIL FROM:<a@example.org> SIZE=5000"); r != "552 5.3.4 Message size exceeds the limit of the next hop" {
		t.Fatalf("MAIL with a SIZE the next hop cannot take: %q", r)
	}
	c.expect("MAIL FROM:<a@example.org> SIZE=900", "250 ")
	c.expect("RCPT TO:<b@example.test>", "250 ")
	c.expect("QUIT", "221 ")
	waitCommands(t, h, []string{
		"EHLO " + testHost,
		"MAIL FROM:<a@example.org> BODY=8BITMIME SIZE=900",
		"RCPT TO:<b@example.test>",
		"QUIT",
	})
	if cn := srv.RelayCounters(); cn.Refused != 1 {
		t.Fatalf("counters %+v, want 1 refused", cn)
	}
}

// RSET mid-transaction is passed on, and the next transaction's MAIL is
// held as the first was: go-smtp's client says EHLO again after RSET (our
// end answers it), which must not be taken for the MAIL to hold.
func TestRelayHoldsMailAgainAfterRset(t *testing.T) {
	h := startWireHop(t, "tcp", false)
	srv, _, _ := startFront(t, config.ModeDisabled, "smtp://"+h.addr, nil)
	c := greet(t, srv.Addr().String())
	c.expect("MAIL FROM:<a@example.org>", "250 ")
	c.expect("RCPT TO:<b@example.test>", "250 ")
	c.expect("RSET", "250 ")
	if r := sendMessage(t, c, "c@example.org", []string{"d@example.test"}, "Subject: after RSET\r\n\r\nok\r\n"); !strings.HasPrefix(r, "250 2.0.0 OK: queued") {
		t.Fatalf("transaction after RSET: %q", r)
	}
	c.expect("QUIT", "221 ")
	waitCommands(t, h, []string{
		"EHLO " + testHost,
		"MAIL FROM:<a@example.org> BODY=8BITMIME",
		"RCPT TO:<b@example.test>",
		"RSET",
		"MAIL FROM:<c@example.org> BODY=8BITMIME",
		"RCPT TO:<d@example.test>",
		"DATA",
		"QUIT",
	})
}

// The next hop hangs up in the middle of the recipients: the RCPT that
// meets the loss and every later one of the transaction get 451, never a
// 503 (which would have the sender bounce what a retry delivers), and the
// next transaction goes on a new session.
func TestRelaySessionLostAmongRecipientsIsTemporaryForEachRcpt(t *testing.T) {
	h := startScriptHop(t, scriptOpts{hangUpAfterFirstRcpt: true})
	srv, _, _ := startFront(t, config.ModeDisabled, "smtp://"+h.addr, nil)
	c := greet(t, srv.Addr().String())
	c.expect("MAIL FROM:<a@example.org>", "250 ")
	c.expect("RCPT TO:<b@example.test>", "250 ")
	waitFor(t, func() bool { s, _ := h.counts(); return s == 1 })
	time.Sleep(20 * time.Millisecond) // the hang-up on its way
	for _, rcpt := range []string{"c@example.test", "d@example.test", "e@example.test"} {
		if r := c.cmd("RCPT TO:<" + rcpt + ">"); !strings.HasPrefix(r, "451 4.4.2 ") {
			t.Fatalf("RCPT TO:<%s> after the next hop hung up: %q, want 451 4.4.2", rcpt, r)
		}
	}
	c.expect("RSET", "250 ")
	c.expect("MAIL FROM:<a@example.org>", "250 ")
	c.expect("RCPT TO:<b@example.test>", "250 ")
	c.expect("QUIT", "221 ")
	if cn := srv.RelayCounters(); cn.TempFailed != 1 {
		t.Fatalf("counters %+v, want the loss counted once", cn)
	}
}

// The next hop hangs up after a message and takes no new connection: the
// next transaction's MAIL, held for its RCPT, finds the session closed, the
// new one cannot be opened, and that RCPT and every later one get 451.
func TestRelayNextHopGoneBetweenTransactionsIsTemporaryForEachRcpt(t *testing.T) {
	h := startScriptHop(t, scriptOpts{goneAfterFirstMessage: true})
	srv, _, _ := startFront(t, config.ModeDisabled, "smtp://"+h.addr, nil)
	c := greet(t, srv.Addr().String())
	if r := sendMessage(t, c, "a@example.org", []string{"b@example.test"}, "Subject: 1\r\n\r\nbody\r\n"); r != "250 2.0.0 Ok: queued as SCRIPT" {
		t.Fatalf("first message: %q", r)
	}
	time.Sleep(20 * time.Millisecond) // the hang-up on its way
	c.expect("MAIL FROM:<a@example.org>", "250 ")
	for _, rcpt := range []string{"b@example.test", "c@example.test"} {
		if r := c.cmd("RCPT TO:<" + rcpt + ">"); !strings.HasPrefix(r, "451 4.4.1 ") {
			t.Fatalf("RCPT TO:<%s> with the next hop gone: %q, want 451 4.4.1", rcpt, r)
		}
	}
	c.expect("QUIT", "221 ")
}
