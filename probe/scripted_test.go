package probe_test

import (
	"bufio"
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/smtptls/smtptls/internal/testpki"
	"github.com/smtptls/smtptls/probe"
	"github.com/smtptls/smtptls/probe/probetest"
)

// scripted is a server that answers each command verb with a canned reply
// ("" means: say nothing and hang), for the misbehaviours go-smtp can't
// be made to show.
func scripted(t *testing.T, banner string, replies map[string]string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	conns := make(chan net.Conn, 16)
	t.Cleanup(func() {
		l.Close()
		<-done
		close(conns)
		for c := range conns {
			c.Close()
		}
	})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns <- c
			go func() {
				c.Write([]byte(banner))
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					verb := strings.ToUpper(strings.Fields(line + " x")[0])
					rep, ok := replies[verb]
					if !ok {
						rep = "502 5.5.2 not implemented\r\n"
					}
					if rep == "" {
						return // hang: leave the connection open and silent
					}
					c.Write([]byte(rep))
					if verb == "STARTTLS" && strings.HasPrefix(rep, "220") {
						return // never answer the ClientHello
					}
				}
			}()
		}
	}()
	return l.Addr().String()
}

func TestSTARTTLSRefused(t *testing.T) {
	addr := scripted(t, "220 test ESMTP\r\n", map[string]string{
		"EHLO":     "250-test\r\n250-PIPELINING\r\n250 STARTTLS\r\n",
		"STARTTLS": "454 4.7.0 TLS not available due to temporary reason\r\n",
		"MAIL":     "250 2.1.0 ok\r\n",
		"QUIT":     "221 bye\r\n",
	})
	r := run(t, probe.Options{Target: addr, Hostname: host})
	expect(t, r, probe.StageSTARTTLS, probe.Fail, "offered but refused: 454 4.7.0 TLS not available")
	expect(t, r, probe.StageRequired, probe.Pass, "plaintext MAIL accepted")
}

func TestHandshakeStallTimesOut(t *testing.T) {
	addr := scripted(t, "220 test ESMTP\r\n", map[string]string{
		"EHLO":     "250-test\r\n250 STARTTLS\r\n",
		"STARTTLS": "220 go ahead\r\n",
		"MAIL":     "250 ok\r\n",
	})
	r := run(t, probe.Options{Target: addr, Hostname: host, Timeout: 300 * time.Millisecond})
	expect(t, r, probe.StageHandshake, probe.Fail, "no answer within 300ms")
	expect(t, r, probe.StageChain, probe.Skip, "not reached: handshake failed")
}

func TestEHLORefusedFallsBackToHELO(t *testing.T) {
	addr := scripted(t, "220 old ESMTP\r\n", map[string]string{
		"EHLO": "500 5.5.1 what?\r\n",
		"HELO": "250 old\r\n",
		"MAIL": "250 ok\r\n",
		"QUIT": "221 bye\r\n",
	})
	r := run(t, probe.Options{Target: addr})
	expect(t, r, probe.StageEHLO, probe.Warn, "HELO accepted: no extensions")
	expect(t, r, probe.StageSTARTTLS, probe.Fail, "not offered")
}

func TestMultilineBannerAndReplyLimits(t *testing.T) {
	addr := scripted(t, "220-first line\r\n220-second\r\n220 ready\r\n", map[string]string{
		"EHLO": "250-a\r\n251 b\r\n",
	})
	r := run(t, probe.Options{Target: addr, Timeout: 2 * time.Second})
	expect(t, r, probe.StageBanner, probe.Pass, "220 first line")
	expect(t, r, probe.StageEHLO, probe.Fail, "reply changes code from 250 to 251")
}

func TestPlaintextMAILRefusedWithoutThe530(t *testing.T) {
	addr := scripted(t, "220 test ESMTP\r\n", map[string]string{
		"EHLO": "250 test\r\n",
		"MAIL": "550 5.7.1 go away\r\n",
		"QUIT": "221 bye\r\n",
	})
	r := run(t, probe.Options{Target: addr, ExpectRequired: true})
	expect(t, r, probe.StageRequired, probe.Warn, "not 530 5.7.0")
}

func TestOldTLSVersionWarns(t *testing.T) {
	ch := testpki.MustChain(time.Now(), testpki.ECDSAP256, host)
	srv := probetest.Start(t, probetest.Config{Chain: []*testpki.Cert{ch.Leaf, ch.Intermediate},
		MinTLSVersion: tls.VersionTLS10, MaxTLSVersion: tls.VersionTLS10})
	r := run(t, probe.Options{Target: srv.Addr, Hostname: host, Roots: rootsOf(ch)})
	expect(t, r, probe.StageHandshake, probe.Warn, "TLS 1.0")
	expect(t, r, probe.StageHandshake, probe.Warn, "obsolete TLS version")
	if r.Hosts[0].TLSVersion != "TLS 1.0" {
		t.Errorf("TLSVersion = %q", r.Hosts[0].TLSVersion)
	}

	srv12 := probetest.Start(t, probetest.Config{Chain: []*testpki.Cert{ch.Leaf, ch.Intermediate}, MaxTLSVersion: tls.VersionTLS12})
	r = run(t, probe.Options{Target: srv12.Addr, Hostname: host, Roots: rootsOf(ch)})
	expect(t, r, probe.StageHandshake, probe.Pass, "TLS 1.2, TLS_ECDHE_ECDSA_WITH")
}

func TestRSAKeyExchangeWarns(t *testing.T) {
	root, err := testpki.NewRoot(testpki.Template{CommonName: "RSA root"})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := root.Issue(testpki.Template{CommonName: host, DNSNames: []string{host}, KeyType: testpki.RSA2048})
	if err != nil {
		t.Fatal(err)
	}
	srv := probetest.Start(t, probetest.Config{Chain: []*testpki.Cert{leaf}, MaxTLSVersion: tls.VersionTLS12,
		CipherSuites: []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256}})
	pool := rootsOf(&testpki.Chain{Root: root})
	r := run(t, probe.Options{Target: srv.Addr, Hostname: host, Roots: pool})
	expect(t, r, probe.StageHandshake, probe.Warn, "no forward secrecy")
	expect(t, r, probe.StageTrust, probe.Pass, "RSA root")
}

func TestIPv6Loopback(t *testing.T) {
	l, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	l.Close()
	addr := probetest.DeadAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	r := run(t, probe.Options{Target: "[::1]:" + port})
	expect(t, r, probe.StageConnect, probe.Fail, "[::1]:"+port)
}
