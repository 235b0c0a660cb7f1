package smtpd

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smtptls/smtptls/config"
)

func TestServesLeafAndIntermediateButNotRoot(t *testing.T) {
	f := newFixture(t)
	f.writeGen(testSettings(config.ModeRequired), nil)
	srv, _ := startServer(t, f)
	c := dial(t, srv.Addr().String())
	c.reply()
	c.expect("EHLO x.example", "250-")
	st := c.starttls(f.roots)
	if len(st.PeerCertificates) != 2 {
		t.Fatalf("served %d certificates, want leaf + intermediate", len(st.PeerCertificates))
	}
	if !bytes.Equal(st.PeerCertificates[0].Raw, f.chain.Leaf.Cert.Raw) || !bytes.Equal(st.PeerCertificates[1].Raw, f.chain.Intermediate.Cert.Raw) {
		t.Fatal("served chain is not leaf, intermediate")
	}
	if st.Version != tls.VersionTLS13 {
		t.Errorf("negotiated %s with a modern client", tls.VersionName(st.Version))
	}
}

func TestRefusesTLSBelow12AndLogsWhy(t *testing.T) {
	f := newFixture(t)
	f.writeGen(testSettings(config.ModeAvailable), nil)
	srv, lb := startServer(t, f)
	c := dial(t, srv.Addr().String())
	c.reply()
	c.expect("EHLO old.example", "250-")
	c.expect("STARTTLS", "220 ")
	tc := tls.Client(c.c, &tls.Config{ServerName: testHost, RootCAs: f.roots, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
	if err := tc.Handshake(); err == nil {
		t.Fatal("a TLS 1.1 handshake succeeded")
	}
	waitFor(t, func() bool { return strings.Contains(lb.String(), "TLS handshake failed") })
	logs := lb.String()
	if !strings.Contains(logs, "protocol_version") || !strings.Contains(logs, "TLS 1.1") || !strings.Contains(logs, "peer=127.0.0.1:") {
		t.Fatalf("handshake failure log lacks peer and reason:\n%s", logs)
	}
}

func TestHandshakeFailureByUntrustingPeerIsLogged(t *testing.T) {
	// TLS 1.3 encrypts the peer's alert, so the log can only say when the
	// peer hung up; TLS 1.2 sends it in the clear and the log names it.
	for name, tc := range map[string]struct {
		max  uint16
		want string
	}{
		"TLS1.3": {tls.VersionTLS13, "after receiving our certificate (it probably does not trust it"},
		"TLS1.2": {tls.VersionTLS12, "the peer aborted with alert bad_certificate"},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			f.writeGen(testSettings(config.ModeRequired), nil)
			srv, lb := startServer(t, f)
			c := dial(t, srv.Addr().String())
			c.reply()
			c.expect("EHLO picky.example", "250-")
			c.expect("STARTTLS", "220 ")
			// No roots: the client rejects our chain, as a strict peer would.
			cl := tls.Client(c.c, &tls.Config{ServerName: testHost, MaxVersion: tc.max})
			if err := cl.Handshake(); err == nil {
				t.Fatal("handshake with an untrusted chain succeeded")
			}
			c.close()
			waitFor(t, func() bool { return strings.Contains(lb.String(), "result=\"tls handshake failed\"") })
			logs := lb.String()
			if !strings.Contains(logs, "msg=\"TLS handshake failed\" peer=127.0.0.1:") || !strings.Contains(logs, tc.want) {
				t.Fatalf("log does not say why the handshake failed (want %q):\n%s", tc.want, logs)
			}
		})
	}
}

func TestHandshakeTimeout(t *testing.T) {
	f := newFixture(t)
	s := testSettings(config.ModeAvailable)
	s.Limits.HandshakeTimeout = config.Duration{Duration: 300 * time.Millisecond}
	f.writeGen(s, nil)
	srv, lb := startServer(t, f)
	c := dial(t, srv.Addr().String())
	c.reply()
	c.expect("EHLO slow.example", "250-")
	c.expect("STARTTLS", "220 ")
	// Send nothing: the server must give up on its own.
	_ = c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := c.r.ReadString('\n')
	for err == nil {
		_, err = c.r.ReadString('\n')
	}
	waitFor(t, func() bool { return strings.Contains(lb.String(), "within 300ms") })
}

// Commands pipelined behind STARTTLS in the same packet must not run
// inside the TLS session (CVE-2011-0411 and friends).
func TestSTARTTLSCommandInjectionIsDropped(t *testing.T) {
	for _, mode := range []config.Mode{config.ModeAvailable, config.ModeRequired} {
		t.Run(string(mode), func(t *testing.T) {
			f := newFixture(t)
			f.writeGen(testSettings(mode), nil)
			srv, _ := startServer(t, f)
			c := dial(t, srv.Addr().String())
			c.reply()
			c.expect("EHLO inject.example", "250-")
			c.send("STARTTLS\r\nMAIL FROM:<evil@example.org>\r\nRCPT TO:<victim@example.test>\r\n")
			if r := c.reply(); !strings.HasPrefix(r, "220 ") {
				t.Fatalf("STARTTLS: %q", r)
			}
			c.tc = tls.Client(c.c, &tls.Config{ServerName: testHost, RootCAs: f.roots})
			must(t, c.tc.Handshake())
			c.r = bufio.NewReader(c.tc)
			// Had the injected MAIL run, RCPT would now be accepted and
			// the next reply read would be its 250.
			c.expect("RCPT TO:<b@example.test>", "502 5.5.1 Missing MAIL FROM")
			c.expect("EHLO inject.example", "250-")
			c.expect("RCPT TO:<b@example.test>", "502 5.5.1 Missing MAIL FROM")
			id := queuedID(t, c.deliver("a@example.org", "b@example.test", "Subject: ok\r\n\r\nok\r\n.\r\n"))
			if m := spooled(t, f, id); strings.Contains(m, "evil") || strings.Contains(m, "victim") {
				t.Fatalf("injected envelope reached the spool:\n%s", m)
			}
			entries, _ := os.ReadDir(filepath.Join(f.dir, "spool", "new"))
			if len(entries) != 1 {
				t.Fatalf("%d messages spooled, want 1", len(entries))
			}
		})
	}
}

func TestSessionLogRecordsTLSWithoutAnyCommand(t *testing.T) {
	f := newFixture(t)
	f.writeGen(testSettings(config.ModeRequired), nil)
	srv, lb := startServer(t, f)
	c := dial(t, srv.Addr().String())
	c.reply()
	c.expect("EHLO quiet.example", "250-")
	st := c.starttls(f.roots)
	c.tc.Close()
	waitFor(t, func() bool { return strings.Contains(lb.String(), "msg=session") })
	want := `tls="TLSv1.3 ` + tls.CipherSuiteName(st.CipherSuite) + `"`
	if !strings.Contains(lb.String(), want) || !strings.Contains(lb.String(), `result="no mail"`) {
		t.Fatalf("session log lacks %s:\n%s", want, lb.String())
	}
}
