package smtpd

import (
	"bufio"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/smtptls/smtptls/config"
	"github.com/smtptls/smtptls/postfix/postfixtest"
)

// postcat prints a queued message of a private Postfix, headers and body.
func postcat(t *testing.T, pf *postfixtest.Instance, id string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bin := "postcat"
	if _, err := exec.LookPath(bin); err != nil {
		bin = "/usr/sbin/postcat"
	}
	out, err := exec.CommandContext(ctx, bin, "-c", pf.ConfigDir, "-bh", "-q", id).CombinedOutput()
	if err != nil {
		t.Fatalf("postcat %s: %v\n%s", id, err, out)
	}
	return string(out)
}

// Next hop = a private Postfix that holds every message: what it queued is
// the message as sent, after its own Received: line and ours. Its refusal
// of a recipient reaches the sender as Postfix phrased it.
func TestRelayToPostfix(t *testing.T) {
	pf := postfixtest.Start(t, postfixtest.Options{Main: map[string]string{
		// Keep each message in the hold queue, where postcat reads it.
		"smtpd_end_of_data_restrictions": "check_client_access static:HOLD",
		"local_header_rewrite_clients":   "",
		"smtpd_recipient_restrictions":   "check_recipient_access inline:{ { nobody@example.test = 550 5.1.1 No such user here } }, permit_mynetworks, reject",
		// Postfix 3.9's default: the relay's pipelining of MAIL with
		// RCPT must stay within what RFC 2920 allows.
		"smtpd_forbid_unauth_pipelining": "yes",
	}})
	srv, _, _ := startFront(t, config.ModeDisabled, "smtp://"+pf.Addr(), nil)
	c := greet(t, srv.Addr().String())
	c.expect("MAIL FROM:<a@example.org>", "250 ")
	if r := c.cmd("RCPT TO:<nobody@example.test>"); r != "550 5.1.1 <nobody@example.test>: Recipient address rejected: No such user here" {
		t.Fatalf("Postfix's refusal as the sender sees it: %q", r)
	}
	c.expect("RCPT TO:<b@example.test>", "250 ")
	c.expect("DATA", "354 ")
	msg := "Date: Tue, 1 Dec 2026 12:00:00 +0000\r\nMessage-ID: <relay-test@example.org>\r\nFrom: <a@example.org>\r\nTo: <b@example.test>\r\nSubject: through to Postfix\r\n\r\n" +
		".one leading dot\r\n..two leading dots\r\n.\r\n" +
		"8-bit: caf\xc3\xa9 \xff\x80 end\r\n" +
		"trailing spaces   \r\n\r\nlast line\r\n"
	c.send(dotStuff(msg))
	r := c.reply()
	id, ok := strings.CutPrefix(r, "250 2.0.0 Ok: queued as ")
	if !ok {
		t.Fatalf("reply to the final dot: %q, want Postfix's own 250", r)
	}
	c.expect("QUIT", "221 ")
	got := postcat(t, pf, id)
	// postcat prints lines without their CRLF, and Postfix's own
	// Received: line first.
	want := strings.ReplaceAll(msg, "\r\n", "\n")
	sc := bufio.NewScanner(strings.NewReader(got))
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	text := strings.Join(lines, "\n") + "\n"
	ours := strings.Index(text, "Received: from client.example ([127.0.0.1])\n\tby mail.example.test (smtptls) with ESMTP id ")
	pfs := strings.Index(text, "Received: from mail.example.test (")
	if ours < 0 || pfs < 0 || pfs > ours {
		t.Fatalf("Postfix's Received: then ours expected:\n%s", got)
	}
	rest := text[ours:]
	end := strings.Index(rest, "Date: ")
	if end < 0 || !strings.HasSuffix(text, want) || !strings.HasPrefix(rest[end:], want) {
		t.Fatalf("message changed on the way to Postfix:\n got %q\nwant after our Received: %q", text, want)
	}
}

// Postfix refusing the sender at MAIL (smtpd_delay_reject = no): MAIL went
// out with the first RCPT, so the sender meets Postfix's refusal, as
// Postfix phrased it, at that RCPT; Postfix queued nothing, and the next
// transaction of the session goes through.
func TestRelayPostfixRefusingTheSenderAtMail(t *testing.T) {
	pf := postfixtest.Start(t, postfixtest.Options{Main: map[string]string{
		"smtpd_end_of_data_restrictions": "check_client_access static:HOLD",
		"smtpd_delay_reject":             "no",
		"smtpd_sender_restrictions":      "check_sender_access inline:{ { refused@example.org = 553 5.7.1 Not from this sender } }",
		"smtpd_forbid_unauth_pipelining": "yes",
	}})
	srv, _, _ := startFront(t, config.ModeDisabled, "smtp://"+pf.Addr(), nil)
	c := greet(t, srv.Addr().String())
	c.expect("MAIL FROM:<refused@example.org>", "250 ")
	const want = "553 5.7.1 <refused@example.org>: Sender address rejected: Not from this sender"
	for _, rcpt := range []string{"b@example.test", "c@example.test"} {
		if r := c.cmd("RCPT TO:<" + rcpt + ">"); r != want {
			t.Fatalf("RCPT TO:<%s> after Postfix refused the sender: %q, want %q", rcpt, r, want)
		}
	}
	c.expect("RSET", "250 ")
	r := sendMessage(t, c, "a@example.org", []string{"b@example.test"}, "Subject: ok\r\n\r\nok\r\n")
	if !strings.HasPrefix(r, "250 2.0.0 Ok: queued as ") {
		t.Fatalf("transaction after the refused one: %q", r)
	}
	c.expect("QUIT", "221 ")
	log := pf.MailLog()
	if !strings.Contains(log, "reject: MAIL from ") || !strings.Contains(log, "<refused@example.org>: Sender address rejected") {
		t.Fatalf("Postfix's log does not show the refusal of the sender:\n%s", log)
	}
	if n := strings.Count(log, "HOLD"); n != 1 {
		t.Fatalf("Postfix held %d messages, want 1:\n%s", n, log)
	}
}
