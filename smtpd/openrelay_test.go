package smtpd

import (
	"net"
	"os"
	"strings"
	"testing"

	"github.com/smtptls/smtptls/config"
)

const pyRelayProbe = `
import smtplib, sys
s = smtplib.SMTP(sys.argv[1], int(sys.argv[2]), local_hostname="python.example", timeout=20)
try:
    s.sendmail("a@example.org", [sys.argv[3]], "Subject: open relay probe\r\n\r\nhi\r\n")
    print("SENT")
except smtplib.SMTPRecipientsRefused as e:
    for rcpt, (code, msg) in e.recipients.items():
        print("REFUSED", code, msg.decode())
s.quit()
`

// openRelayTargets are the two listeners that must refuse a recipient
// outside accept_domains: one relaying, one spooling with the list set.
func openRelayTargets(t *testing.T) map[string]struct {
	addr string
	f    *fixture
} {
	h := startHop(t, config.ModeDisabled, nil)
	relaySrv, _, relayF := startFront(t, config.ModeDisabled, "smtp://"+h.addr, nil)
	f := newFixture(t)
	s := testSettings(config.ModeDisabled)
	s.AcceptDomains = []string{"example.test"}
	f.writeGen(s, nil)
	spoolSrv, _ := startServer(t, f)
	return map[string]struct {
		addr string
		f    *fixture
	}{
		"relay":   {relaySrv.Addr().String(), relayF},
		"maildir": {spoolSrv.Addr().String(), f},
	}
}

func TestOpenRelayRefusedSmtplib(t *testing.T) {
	py := need(t, "python3", "python3")
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		py = "/usr/bin/python3"
	}
	for name, tg := range openRelayTargets(t) {
		t.Run(name, func(t *testing.T) {
			host, port, _ := net.SplitHostPort(tg.addr)
			out, err := runTool(t, py, "-c", pyRelayProbe, host, port, "victim@elsewhere.example")
			if err != nil {
				t.Fatalf("python: %v\n%s", err, out)
			}
			if strings.TrimSpace(out) != "REFUSED 550 5.7.1 Relay access denied" {
				t.Fatalf("smtplib to a foreign domain: %q", out)
			}
			out, err = runTool(t, py, "-c", pyRelayProbe, host, port, "b@example.test")
			if err != nil || strings.TrimSpace(out) != "SENT" {
				t.Fatalf("smtplib to an accepted domain: %v %q", err, out)
			}
		})
	}
}

func TestOpenRelayRefusedSwaks(t *testing.T) {
	swaks := need(t, "swaks", "swaks")
	for name, tg := range openRelayTargets(t) {
		t.Run(name, func(t *testing.T) {
			out, _ := runTool(t, swaks, "--server", tg.addr, "--from", "a@example.org",
				"--to", "victim@elsewhere.example", "--helo", "swaks.example")
			if !strings.Contains(out, "<** 550 5.7.1 Relay access denied") {
				t.Fatalf("swaks transcript lacks the refusal:\n%s", out)
			}
			if strings.Contains(out, "queued as") {
				t.Fatalf("a foreign recipient was accepted:\n%s", out)
			}
		})
	}
}

// postmaster at our host name is accepted whatever the list says; at
// another domain it is no exception (that would relay to any domain's
// postmaster). Domains match without regard to case. (A bare
// <postmaster> never reaches the policy: go-smtp v0.25.1's parser wants an
// @ and answers 501.)
func TestAcceptDomainsPostmasterAndCase(t *testing.T) {
	f := newFixture(t)
	s := testSettings(config.ModeDisabled)
	s.AcceptDomains = []string{"example.test"}
	f.writeGen(s, nil)
	srv, _ := startServer(t, f)
	c := greet(t, srv.Addr().String())
	c.expect("MAIL FROM:<a@example.org>", "250 ")
	for rcpt, want := range map[string]string{
		"PostMaster@" + testHost:       "250 ",
		"b@EXAMPLE.test":               "250 ",
		"postmaster@elsewhere.example": "550 5.7.1 Relay access denied",
		"b@sub.example.test":           "550 5.7.1 Relay access denied",
		"b@example.test.evil.example":  "550 5.7.1 Relay access denied",
	} {
		if r := c.cmd("RCPT TO:<" + rcpt + ">"); !strings.HasPrefix(r, want) {
			t.Errorf("RCPT TO:<%s>: %q, want %q", rcpt, r, want)
		}
	}
	if got := srv.RelayCounters().Denied; got != 3 {
		t.Errorf("denied counter %d, want 3", got)
	}
}
