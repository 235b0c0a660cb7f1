package smtpd

import (
	"context"
	"crypto/tls"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smtptls/smtptls/config"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// handshakeWith runs EHLO, STARTTLS and a handshake with cc.
func handshakeWith(t *testing.T, addr string, cc *tls.Config) (tls.ConnectionState, error) {
	t.Helper()
	c := dial(t, addr)
	c.reply()
	c.expect("EHLO policy.example", "250-")
	c.expect("STARTTLS", "220 ")
	tc := tls.Client(c.c, cc)
	err := tc.Handshake()
	if err == nil {
		// TLS 1.3 tickets arrive after the handshake: read the EHLO reply
		// so the client has them.
		_, _ = tc.Write([]byte("EHLO policy.example\r\n"))
		buf := make([]byte, 4096)
		_, _ = tc.Read(buf)
	}
	st := tc.ConnectionState()
	c.close()
	return st, err
}

func policyServer(t *testing.T, f *fixture, pol config.TLSPolicy, clock *fakeClock) *Server {
	t.Helper()
	s := testSettings(config.ModeAvailable)
	s.TLS = pol
	f.writeGen(s, nil)
	opts := Options{Logger: slog.New(slog.NewTextHandler(&logBuf{}, nil))}
	if clock != nil {
		opts.Now = clock.now
	}
	srv, err := New(f.config(), opts)
	must(t, err)
	must(t, srv.Start())
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	return srv
}

var cbcOnly = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA}

// TLS policy (issue 9, finding 7): TLS 1.2 offers AEAD suites only unless
// tls.cbc_suites is set; tls.min_version = 1.3 refuses TLS 1.2.
func TestTLSPolicyVersionsAndSuites(t *testing.T) {
	f := newFixture(t)
	def := config.DefaultSettings(false, testHost).TLS
	srv := policyServer(t, f, def, nil)
	addr := srv.Addr().String()
	tls12 := func(suites []uint16) *tls.Config {
		return &tls.Config{ServerName: testHost, RootCAs: f.roots, MaxVersion: tls.VersionTLS12, CipherSuites: suites}
	}
	if _, err := handshakeWith(t, addr, tls12(cbcOnly)); err == nil {
		t.Fatal("a TLS 1.2 client offering only CBC suites got a session by default")
	}
	st, err := handshakeWith(t, addr, tls12(nil))
	if err != nil || st.Version != tls.VersionTLS12 || !strings.Contains(tls.CipherSuiteName(st.CipherSuite), "GCM") && !strings.Contains(tls.CipherSuiteName(st.CipherSuite), "CHACHA20") {
		t.Fatalf("TLS 1.2 with Go's suites: %v, %s", err, tls.CipherSuiteName(st.CipherSuite))
	}

	// Reloads change the policy for the next handshake.
	cfg := f.config()
	cfg.TLS = config.TLSPolicy{MinVersion: config.TLS12, CBCSuites: true, SessionTickets: true}
	must(t, srv.Reload(cfg))
	if st, err := handshakeWith(t, addr, tls12(cbcOnly)); err != nil || !strings.Contains(tls.CipherSuiteName(st.CipherSuite), "CBC") {
		t.Fatalf("with tls.cbc_suites = true a CBC-only client failed: %v", err)
	}
	cfg.TLS = config.TLSPolicy{MinVersion: config.TLS13, SessionTickets: true}
	must(t, srv.Reload(cfg))
	if _, err := handshakeWith(t, addr, tls12(nil)); err == nil {
		t.Fatal("with tls.min_version = 1.3 a TLS 1.2 client got a session")
	}
	if st, err := handshakeWith(t, addr, &tls.Config{ServerName: testHost, RootCAs: f.roots}); err != nil || st.Version != tls.VersionTLS13 {
		t.Fatalf("TLS 1.3 client: %v", err)
	}
	// Key exchange stays Go's default: a modern client gets the hybrid.
	if st, _ := handshakeWith(t, addr, &tls.Config{ServerName: testHost, RootCAs: f.roots}); st.CurveID != tls.X25519MLKEM768 {
		t.Fatalf("key exchange %v, want X25519MLKEM768", st.CurveID)
	}
}

func TestTLSSessionTicketsRotateDailyAndCanBeOff(t *testing.T) {
	for _, maxV := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		f := newFixture(t)
		clock := &fakeClock{t: time.Now()}
		srv := policyServer(t, f, config.DefaultSettings(false, testHost).TLS, clock)
		addr := srv.Addr().String()
		cc := func(cache tls.ClientSessionCache) *tls.Config {
			return &tls.Config{ServerName: testHost, RootCAs: f.roots, MaxVersion: maxV, ClientSessionCache: cache,
				Time: clock.now}
		}
		ticket := func() tls.ClientSessionCache {
			cache := tls.NewLRUClientSessionCache(4)
			if _, err := handshakeWith(t, addr, cc(cache)); err != nil {
				t.Fatal(err)
			}
			return cache
		}
		name := tls.VersionName(maxV)
		a := ticket()
		clock.add(23 * time.Hour)
		if st, _ := handshakeWith(t, addr, cc(a)); !st.DidResume {
			t.Fatalf("%s: no resumption with a ticket of the same day", name)
		}
		b := ticket()
		clock.add(24 * time.Hour) // 47 h: the key of b's ticket is now the previous one
		if st, _ := handshakeWith(t, addr, cc(b)); !st.DidResume {
			t.Fatalf("%s: the previous day's key no longer opens its tickets", name)
		}
		c := ticket()
		clock.add(49 * time.Hour)              // 96 h: c's key was replaced at 48 h, dropped at 72 h
		_, _ = handshakeWith(t, addr, cc(nil)) // someone else's handshake
		if st, _ := handshakeWith(t, addr, cc(c)); st.DidResume {
			t.Fatalf("%s: a ticket resumed two days after its key was replaced", name)
		}

		cfg := f.config()
		cfg.TLS.SessionTickets = false
		must(t, srv.Reload(cfg))
		d := tls.NewLRUClientSessionCache(4)
		_, _ = handshakeWith(t, addr, cc(d))
		if st, _ := handshakeWith(t, addr, cc(d)); st.DidResume {
			t.Fatalf("%s: resumed with tls.session_tickets = false", name)
		}
	}
}
