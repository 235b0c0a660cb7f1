package smtpd

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smtptls/smtptls/config"
	"github.com/smtptls/smtptls/internal/testpki"
)

// servedFingerprint does a fresh STARTTLS and returns the leaf's SHA-256.
func servedFingerprint(t testing.TB, addr string, f *fixture) string {
	t.Helper()
	c := dial(t, addr)
	defer c.close()
	c.reply()
	c.expect("EHLO fp.example", "250-")
	st := c.starttls(f.roots)
	return Fingerprint(st.PeerCertificates[0].Raw)
}

// newChainSameRoot issues a fresh leaf under the fixture's intermediate,
// so clients that trust the test root trust both.
func (f *fixture) newChainSameRoot(t testing.TB) *testpki.Chain {
	t.Helper()
	leaf, err := f.chain.Intermediate.Issue(testpki.Template{CommonName: testHost, DNSNames: []string{testHost}})
	must(t, err)
	return &testpki.Chain{Root: f.chain.Root, Intermediate: f.chain.Intermediate, Leaf: leaf}
}

func TestReloadSwapsCertificateForNextHandshakeOnly(t *testing.T) {
	f := newFixture(t)
	f.writeGen(testSettings(config.ModeAvailable), nil)
	srv, _ := startServer(t, f)
	addr := srv.Addr().String()

	// A session in the middle of a transaction under the old certificate.
	open := dial(t, addr)
	open.reply()
	open.expect("EHLO open.example", "250-")
	st := open.starttls(f.roots)
	oldFP := Fingerprint(st.PeerCertificates[0].Raw)
	open.expect("EHLO open.example", "250-")
	open.expect("MAIL FROM:<a@example.org>", "250 ")

	ch2 := f.newChainSameRoot(t)
	gen := f.writeGen(testSettings(config.ModeAvailable), ch2)
	res, err := ReloadDir(srv, f.dir, testHostEnv())
	must(t, err)
	newFP := Fingerprint(ch2.Leaf.Cert.Raw)
	if !res.OK || res.Fingerprint != newFP || res.Generation != gen || res.Listen != addr || res.Mode != "available" {
		t.Fatalf("reload result %+v, want OK, %s, %s, %s", res, gen, newFP, addr)
	}
	if got := servedFingerprint(t, addr, f); got != newFP {
		t.Fatalf("served %s right after reload, want %s", got, newFP)
	}
	if oldFP == newFP {
		t.Fatal("test chains share a leaf")
	}
	open.expect("RCPT TO:<b@example.test>", "250 ")
	open.expect("DATA", "354 ")
	open.send("Subject: x\r\n\r\nx\r\n.\r\n")
	queuedID(t, open.reply())
}

func TestReloadModeSwitchLetsOpenSessionsFinishUnderTheirMode(t *testing.T) {
	f := newFixture(t)
	f.writeGen(testSettings(config.ModeAvailable), nil)
	srv, _ := startServer(t, f)
	addr := srv.Addr().String()

	old := dial(t, addr)
	old.reply()
	old.expect("EHLO old.example", "250-")

	f.writeGen(testSettings(config.ModeRequired), nil)
	res, err := ReloadDir(srv, f.dir, testHostEnv())
	must(t, err)
	if res.Mode != "required" {
		t.Fatalf("mode after reload %q", res.Mode)
	}
	// New peers get required mode...
	nc := dial(t, addr)
	nc.reply()
	nc.expect("EHLO new.example", "250-")
	nc.expect("MAIL FROM:<a@example.org>", mustTLS)
	// ...while the session that started under available mode keeps it.
	id := queuedID(t, old.deliver("a@example.org", "b@example.test", "Subject: o\r\n\r\no\r\n.\r\n"))
	spooled(t, f, id)

	// And back to disabled: STARTTLS disappears for new peers.
	f.writeGen(testSettings(config.ModeDisabled), nil)
	res, err = ReloadDir(srv, f.dir, testHostEnv())
	must(t, err)
	if res.Fingerprint != "" {
		t.Fatalf("disabled mode reports fingerprint %q", res.Fingerprint)
	}
	d := dial(t, addr)
	d.reply()
	if ehlo := d.expect("EHLO d.example", "250-"); ehloHas(ehlo, "STARTTLS") {
		t.Fatal("STARTTLS still advertised after switching to disabled")
	}
}

func TestReloadRefusesBadConfigAndKeepsServing(t *testing.T) {
	f := newFixture(t)
	f.writeGen(testSettings(config.ModeRequired), nil)
	srv, _ := startServer(t, f)
	addr := srv.Addr().String()
	want := Fingerprint(f.chain.Leaf.Cert.Raw)

	other := testpki.MustChain(time.Now(), testpki.ECDSAP256, testHost)
	mismatch := &testpki.Chain{Root: f.chain.Root, Intermediate: f.chain.Intermediate,
		Leaf: &testpki.Cert{Cert: f.chain.Leaf.Cert, Key: other.Leaf.Key}}
	cases := map[string]func() string{
		"key does not match": func() string { return f.writeGen(testSettings(config.ModeRequired), mismatch) },
		"listen address taken": func() string {
			s := testSettings(config.ModeRequired)
			l, err := net.Listen("tcp", "127.0.0.1:0")
			must(t, err)
			t.Cleanup(func() { l.Close() })
			s.Listen = l.Addr().String()
			return f.writeGen(s, nil)
		},
		"wrong intermediate": func() string {
			return f.writeGen(testSettings(config.ModeAvailable), &testpki.Chain{Root: other.Root, Intermediate: other.Intermediate, Leaf: f.chain.Leaf})
		},
	}
	for name, write := range cases {
		t.Run(name, func(t *testing.T) {
			write()
			res, err := ReloadDir(srv, f.dir, testHostEnv())
			if err == nil || res.OK {
				t.Fatalf("bad config accepted: %+v", res)
			}
			if !strings.Contains(res.Message, "reload refused") || res.Fingerprint != want || res.Mode != "required" {
				t.Fatalf("result %+v does not describe the still-served config", res)
			}
			if got := servedFingerprint(t, addr, f); got != want {
				t.Fatalf("serving %s after a refused reload", got)
			}
		})
	}
}

func TestReloadNewListenAddressBindsBeforeReleasingOld(t *testing.T) {
	f := newFixture(t)
	f.writeGen(testSettings(config.ModeAvailable), nil)
	srv, _ := startServer(t, f)
	oldAddr := srv.Addr().String()
	open := dial(t, oldAddr)
	open.reply()
	open.expect("EHLO open.example", "250-")

	s := testSettings(config.ModeAvailable)
	s.Listen = "127.0.0.1:0"
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	free := l.Addr().String()
	l.Close()
	s.Listen = free
	f.writeGen(s, nil)
	res, err := ReloadDir(srv, f.dir, testHostEnv())
	must(t, err)
	if res.Listen != free || srv.Addr().String() != free {
		t.Fatalf("listening on %s / %s, want %s", res.Listen, srv.Addr(), free)
	}
	c := dial(t, free)
	if r := c.reply(); !strings.HasPrefix(r, "220 ") {
		t.Fatalf("new address: %q", r)
	}
	if _, err := net.DialTimeout("tcp", oldAddr, time.Second); err == nil {
		t.Fatal("old address still accepts")
	}
	queuedID(t, open.deliver("a@example.org", "b@example.test", "Subject: o\r\n\r\no\r\n.\r\n"))
}

// Many peers deliver over STARTTLS while the certificate is swapped again
// and again and the mode flips between available and required: no session
// may fail, and each reload's certificate is served once Reload returns.
func TestReloadUnderLoad(t *testing.T) {
	f := newFixture(t)
	f.writeGen(testSettings(config.ModeAvailable), nil)
	srv, _ := startServer(t, f)
	addr := srv.Addr().String()

	ctx, cancel := context.WithCancel(context.Background())
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	const workers = 16
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if err := tlsSession(addr, f); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				} else {
					ok.Add(1)
				}
			}
		}()
	}
	modes := []config.Mode{config.ModeRequired, config.ModeAvailable}
	for i := 0; i < 12; i++ {
		ch := f.newChainSameRoot(t)
		mode := config.ModeAvailable
		if i%3 == 2 {
			mode = modes[(i/3)%2]
		}
		f.writeGen(testSettings(mode), ch)
		res, err := ReloadDir(srv, f.dir, testHostEnv())
		must(t, err)
		if got := servedFingerprint(t, addr, f); got != res.Fingerprint || got != Fingerprint(ch.Leaf.Cert.Raw) {
			t.Fatalf("reload %d: served %s, reload said %s", i, got, res.Fingerprint)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d sessions failed; first: %v", failed.Load(), ok.Load()+failed.Load(), firstErr.Load())
	}
	if ok.Load() < workers {
		t.Fatalf("only %d sessions ran", ok.Load())
	}
	t.Logf("%d sessions, 12 reloads, 0 failures", ok.Load())
}

// tlsSession is one complete STARTTLS delivery, as a sending MTA does it.
func tlsSession(addr string, f *fixture) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	p := &peer{c: c}
	steps := []struct{ send, want string }{
		{"", "220 "}, {"EHLO load.example\r\n", "250 "}, {"STARTTLS\r\n", "220 "},
	}
	for _, s := range steps {
		if err := p.step(s.send, s.want); err != nil {
			return err
		}
	}
	tc := tls.Client(c, &tls.Config{ServerName: testHost, RootCAs: f.roots})
	if err := tc.Handshake(); err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	p = &peer{c: tc}
	for _, s := range []struct{ send, want string }{
		{"EHLO load.example\r\n", "250 "}, {"MAIL FROM:<a@example.org>\r\n", "250 "},
		{"RCPT TO:<b@example.test>\r\n", "250 "}, {"DATA\r\n", "354 "},
		{"Subject: load\r\n\r\n" + strings.Repeat("x", 1000) + "\r\n.\r\n", "250 2.0.0 Ok: queued as "},
		{"QUIT\r\n", "221 "},
	} {
		if err := p.step(s.send, s.want); err != nil {
			return err
		}
	}
	return nil
}

func TestReloadSamePortOtherAddressExplainsRestart(t *testing.T) {
	f := newFixture(t)
	s := testSettings(config.ModeAvailable)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s.Listen = fmt.Sprintf("127.0.0.1:%d", port)
	f.writeGen(s, nil)
	srv, _ := startServer(t, f)
	s.Listen = fmt.Sprintf(":%d", port) // all addresses, same port
	f.writeGen(s, nil)
	res, err := ReloadDir(srv, f.dir, testHostEnv())
	if err == nil || !strings.Contains(res.Message, "restart it") || res.Listen != fmt.Sprintf("127.0.0.1:%d", port) {
		t.Fatalf("got %+v, %v", res, err)
	}
}

func TestReloadWarnsAboutExpiredOrMismatchedCertificate(t *testing.T) {
	f := newFixture(t)
	f.writeGen(testSettings(config.ModeAvailable), nil)
	srv, _ := startServer(t, f)
	old := time.Now().AddDate(-2, 0, 0)
	leaf, err := f.chain.Intermediate.Issue(testpki.Template{CommonName: "other.example", DNSNames: []string{"other.example"},
		Now: old, NotBefore: old, NotAfter: old.AddDate(1, 0, 0)})
	must(t, err)
	f.writeGen(testSettings(config.ModeAvailable), &testpki.Chain{Root: f.chain.Root, Intermediate: f.chain.Intermediate, Leaf: leaf})
	res, err := ReloadDir(srv, f.dir, testHostEnv())
	must(t, err)
	w := strings.Join(res.Warnings, "\n")
	if !res.OK || !strings.Contains(w, "the certificate expired on") || !strings.Contains(w, "does not cover the host name "+testHost) {
		t.Fatalf("warnings %q (ok %v)", w, res.OK)
	}
	f.writeGen(testSettings(config.ModeAvailable), nil)
	res, err = ReloadDir(srv, f.dir, testHostEnv())
	must(t, err)
	if len(res.Warnings) != 0 {
		t.Fatalf("good certificate warned: %q", res.Warnings)
	}
}
