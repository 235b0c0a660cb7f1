package probe_test

import (
	"context"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smtptls/smtptls/internal/testpki"
	"github.com/smtptls/smtptls/probe"
	"github.com/smtptls/smtptls/probe/probetest"
)

const host = "mail.example.test"

func rootsOf(ch *testpki.Chain) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ch.Root.Cert)
	return p
}

func run(t *testing.T, o probe.Options) probe.Report {
	t.Helper()
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return probe.Run(ctx, o)
}

// stage returns the named stage of the only host, failing the test when
// the report has another shape.
func stage(t *testing.T, r probe.Report, name string) probe.Stage {
	t.Helper()
	if len(r.Hosts) != 1 {
		t.Fatalf("want 1 host, got %d: %+v", len(r.Hosts), r)
	}
	s, ok := r.Hosts[0].Stage(name)
	if !ok {
		t.Fatalf("no stage %q in %+v", name, r.Hosts[0].Stages)
	}
	return s
}

func expect(t *testing.T, r probe.Report, name string, want probe.Status, detailHas string) {
	t.Helper()
	s := stage(t, r, name)
	if s.Status != want || !strings.Contains(s.Detail, detailHas) {
		t.Errorf("stage %s = %s %q; want %s containing %q", name, s.Status, s.Detail, want, detailHas)
	}
}

func TestGoodServerPassesEveryStage(t *testing.T) {
	ch := testpki.MustChain(time.Now(), testpki.ECDSAP256, host)
	srv := probetest.Start(t, probetest.Config{Chain: []*testpki.Cert{ch.Leaf, ch.Intermediate}})
	r := run(t, probe.Options{Target: srv.Addr, Hostname: host, Roots: rootsOf(ch)})
	for _, s := range r.Hosts[0].Stages {
		if s.Status != probe.Pass {
			t.Errorf("stage %s = %s %q, want pass", s.Name, s.Status, s.Detail)
		}
	}
	if r.Failed() || r.Score != 100 {
		t.Errorf("Failed() = %v, score %d; want false, 100", r.Failed(), r.Score)
	}
	h := r.Hosts[0]
	if h.TLSVersion != "TLS 1.3" || h.Cipher == "" || h.Group == "" {
		t.Errorf("handshake facts: version %q cipher %q group %q", h.TLSVersion, h.Cipher, h.Group)
	}
	if len(h.Served) != 2 || !strings.Contains(h.Served[0].Subject, host) || h.Served[1].IsCA != true {
		t.Errorf("served = %+v", h.Served)
	}
	if h.Served[0].SHA256 != probe.Fingerprint(ch.Leaf.Cert) {
		t.Errorf("served fingerprint %s, want %s", h.Served[0].SHA256, probe.Fingerprint(ch.Leaf.Cert))
	}
	expect(t, r, probe.StageRequired, probe.Pass, "plaintext MAIL accepted")
	expect(t, r, probe.StageMail, probe.Pass, "accepted over TLS")
	expect(t, r, probe.StageTrust, probe.Pass, "smtptls Test Root CA")
	if srv.Messages.Load() != 0 {
		t.Errorf("the probe started %d messages; it must never send DATA", srv.Messages.Load())
	}
	if got := srv.Mails.Load(); got != 2 {
		t.Errorf("server saw %d MAIL commands, want 2 (one over TLS, one plaintext)", got)
	}
}

func TestMissingIntermediate(t *testing.T) {
	ch := testpki.MustChain(time.Now(), testpki.ECDSAP256, host)
	srv := probetest.Start(t, probetest.Config{Chain: []*testpki.Cert{ch.Leaf}})

	t.Run("bundle in --ca names the missing certificate", func(t *testing.T) {
		ca := filepath.Join(t.TempDir(), "ca.pem")
		if err := os.WriteFile(ca, ch.Bundle(), 0o644); err != nil {
			t.Fatal(err)
		}
		r := run(t, probe.Options{Target: srv.Addr, Hostname: host, Roots: x509.NewCertPool(), CAFile: ca})
		expect(t, r, probe.StageTrust, probe.Fail, `missing intermediate: the server does not send "smtptls Test Intermediate CA"`)
		expect(t, r, probe.StageChain, probe.Pass, "no intermediate sent")
		if !r.Failed() {
			t.Error("Failed() = false")
		}
	})
	t.Run("root only", func(t *testing.T) {
		r := run(t, probe.Options{Target: srv.Addr, Hostname: host, Roots: rootsOf(ch)})
		expect(t, r, probe.StageTrust, probe.Fail, "lacks its intermediate")
	})
}

func TestExpiredCertificate(t *testing.T) {
	now := time.Now()
	ch := testpki.MustChain(now, testpki.ECDSAP256, host)
	leaf, err := ch.Intermediate.Issue(testpki.Template{CommonName: host, DNSNames: []string{host},
		NotBefore: now.AddDate(-1, 0, 0), NotAfter: now.AddDate(0, 0, -3)})
	if err != nil {
		t.Fatal(err)
	}
	srv := probetest.Start(t, probetest.Config{Chain: []*testpki.Cert{leaf, ch.Intermediate}})
	r := run(t, probe.Options{Target: srv.Addr, Hostname: host, Roots: rootsOf(ch)})
	expect(t, r, probe.StageExpiry, probe.Fail, "expired on "+leaf.Cert.NotAfter.UTC().Format("2006-01-02"))
	// Trust is judged apart from dates, so the admin sees one problem, not two.
	expect(t, r, probe.StageTrust, probe.Pass, "dates aside")
	if r.Score != 60 {
		t.Errorf("score %d, want 60 (expiry fail costs 40)", r.Score)
	}
}

func TestExpiringSoonWarns(t *testing.T) {
	now := time.Now()
	ch := testpki.MustChain(now, testpki.ECDSAP256, host)
	for _, tc := range []struct {
		days int
		want string
	}{{10, "renew it now"}, {20, "renew it soon"}} {
		leaf, err := ch.Intermediate.Issue(testpki.Template{CommonName: host, DNSNames: []string{host},
			NotAfter: now.Add(time.Duration(tc.days)*24*time.Hour + time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		srv := probetest.Start(t, probetest.Config{Chain: []*testpki.Cert{leaf, ch.Intermediate}})
		r := run(t, probe.Options{Target: srv.Addr, Hostname: host, Roots: rootsOf(ch)})
		expect(t, r, probe.StageExpiry, probe.Warn, "expires in "+strconv.Itoa(tc.days)+" days")
		expect(t, r, probe.StageExpiry, probe.Warn, tc.want)
		if r.Failed() {
			t.Errorf("%d days left: Failed() = true, want only a warning", tc.days)
		}
	}
}

func TestWrongHostname(t *testing.T) {
	ch := testpki.MustChain(time.Now(), testpki.ECDSAP256, "other.example.test", "www.other.example.test")
	srv := probetest.Start(t, probetest.Config{Chain: []*testpki.Cert{ch.Leaf, ch.Intermediate}})
	r := run(t, probe.Options{Target: srv.Addr, Hostname: host, Roots: rootsOf(ch)})
	expect(t, r, probe.StageHostname, probe.Fail, "is for other.example.test, www.other.example.test, not for "+host)
	expect(t, r, probe.StageTrust, probe.Pass, "trusted")

	// Without --hostname an IP target can't be matched: a hint, not a failure.
	r = run(t, probe.Options{Target: srv.Addr, Roots: rootsOf(ch)})
	expect(t, r, probe.StageHostname, probe.Warn, "pass --hostname")
}

func TestSTARTTLSNotOffered(t *testing.T) {
	srv := probetest.Start(t, probetest.Config{})
	r := run(t, probe.Options{Target: srv.Addr, Hostname: host})
	expect(t, r, probe.StageSTARTTLS, probe.Fail, "not offered")
	expect(t, r, probe.StageHandshake, probe.Skip, "no STARTTLS")
	expect(t, r, probe.StageMail, probe.Skip, "no STARTTLS")
	expect(t, r, probe.StageRequired, probe.Pass, "plaintext MAIL accepted")
	if r.Score != 0 || !r.Failed() {
		t.Errorf("score %d failed %v, want 0 and true", r.Score, r.Failed())
	}
}

func TestDisabledModeExpectation(t *testing.T) {
	plain := probetest.Start(t, probetest.Config{})
	r := run(t, probe.Options{Target: plain.Addr, ExpectDisabled: true})
	expect(t, r, probe.StageSTARTTLS, probe.Pass, "as expected in disabled mode")
	expect(t, r, probe.StageMail, probe.Pass, "accepted in plaintext")
	if r.Failed() {
		t.Errorf("disabled listener without STARTTLS failed: %+v", r.Hosts[0].Stages)
	}

	ch := testpki.MustChain(time.Now(), testpki.ECDSAP256, host)
	tlsSrv := probetest.Start(t, probetest.Config{Chain: []*testpki.Cert{ch.Leaf, ch.Intermediate}})
	r = run(t, probe.Options{Target: tlsSrv.Addr, ExpectDisabled: true})
	expect(t, r, probe.StageSTARTTLS, probe.Fail, "should be in disabled mode")
}

func TestRootSentWarns(t *testing.T) {
	ch := testpki.MustChain(time.Now(), testpki.ECDSAP256, host)
	srv := probetest.Start(t, probetest.Config{Chain: []*testpki.Cert{ch.Leaf, ch.Intermediate, ch.Root}})
	r := run(t, probe.Options{Target: srv.Addr, Hostname: host, Roots: rootsOf(ch)})
	expect(t, r, probe.StageChain, probe.Warn, `the root CA "smtptls Test Root CA" is sent too`)
	if r.Failed() || r.Score != 95 {
		t.Errorf("failed %v score %d, want false and 95", r.Failed(), r.Score)
	}
}

func TestLeafNotFirst(t *testing.T) {
	ch := testpki.MustChain(time.Now(), testpki.ECDSAP256, host)
	srv := probetest.Start(t, probetest.Config{Chain: []*testpki.Cert{ch.Intermediate, ch.Leaf}, Key: ch.Leaf.Key})
	r := run(t, probe.Options{Target: srv.Addr, Hostname: host, Roots: rootsOf(ch)})
	// The handshake itself fails (the key belongs to the second
	// certificate), but the chain stage still says what is wrong.
	expect(t, r, probe.StageHandshake, probe.Fail, "handshake failed")
	expect(t, r, probe.StageChain, probe.Fail, "the first certificate is the CA")
	if len(r.Hosts[0].Served) != 2 {
		t.Errorf("served = %+v, want both certificates listed", r.Hosts[0].Served)
	}
}

func TestUnrelatedCertificateInChain(t *testing.T) {
	ch := testpki.MustChain(time.Now(), testpki.ECDSAP256, host)
	other := testpki.MustChain(time.Now(), testpki.ECDSAP256, host)
	srv := probetest.Start(t, probetest.Config{Chain: []*testpki.Cert{ch.Leaf, other.Intermediate}})
	r := run(t, probe.Options{Target: srv.Addr, Hostname: host, Roots: rootsOf(ch)})
	expect(t, r, probe.StageChain, probe.Fail, "was not issued by certificate 2")
}

func TestRequiredMode(t *testing.T) {
	ch := testpki.MustChain(time.Now(), testpki.ECDSAP256, host)
	chain := []*testpki.Cert{ch.Leaf, ch.Intermediate}
	required := probetest.Start(t, probetest.Config{Chain: chain, RequireTLS: true})
	available := probetest.Start(t, probetest.Config{Chain: chain})

	r := run(t, probe.Options{Target: required.Addr, Hostname: host, Roots: rootsOf(ch), ExpectRequired: true})
	expect(t, r, probe.StageRequired, probe.Pass, "530 5.7.0")
	expect(t, r, probe.StageMail, probe.Pass, "accepted over TLS")
	if r.Failed() {
		t.Errorf("required server failed: %+v", r.Hosts[0].Stages)
	}
	if got := required.Mails.Load(); got != 1 {
		t.Errorf("required server accepted %d MAIL, want 1 (only over TLS)", got)
	}

	r = run(t, probe.Options{Target: available.Addr, Hostname: host, Roots: rootsOf(ch), ExpectRequired: true})
	expect(t, r, probe.StageRequired, probe.Fail, "TLS is not required")
	if !r.Failed() {
		t.Error("available server passed a required-mode test")
	}
}

func TestDeadPortFailsAtConnect(t *testing.T) {
	addr := probetest.DeadAddr(t)
	r := run(t, probe.Options{Target: addr})
	expect(t, r, probe.StageConnect, probe.Fail, "cannot connect to "+addr+": connection refused")
	expect(t, r, probe.StageBanner, probe.Skip, "not reached: connect failed")
	expect(t, r, probe.StageRequired, probe.Skip, "not reached")
	if r.Score != 0 || !r.Failed() {
		t.Errorf("score %d failed %v", r.Score, r.Failed())
	}
}

func TestFingerprint(t *testing.T) {
	ch := testpki.MustChain(time.Now(), testpki.ECDSAP256, host)
	srv := probetest.Start(t, probetest.Config{Chain: []*testpki.Cert{ch.Leaf, ch.Intermediate}})
	fp := probe.Fingerprint(ch.Leaf.Cert)
	// openssl's form: upper case with colons.
	var colons []string
	for i := 0; i < len(fp); i += 2 {
		colons = append(colons, strings.ToUpper(fp[i:i+2]))
	}
	r := run(t, probe.Options{Target: srv.Addr, Hostname: host, Roots: rootsOf(ch), ExpectFingerprint: strings.Join(colons, ":")})
	expect(t, r, probe.StageFingerprint, probe.Pass, "expected certificate")

	old := testpki.MustChain(time.Now(), testpki.ECDSAP256, host)
	r = run(t, probe.Options{Target: srv.Addr, Hostname: host, Roots: rootsOf(ch), ExpectFingerprint: probe.Fingerprint(old.Leaf.Cert)})
	expect(t, r, probe.StageFingerprint, probe.Fail, "not reloaded?")

	r = run(t, probe.Options{Target: srv.Addr, Hostname: host, Roots: rootsOf(ch)})
	if _, ok := r.Hosts[0].Stage(probe.StageFingerprint); ok {
		t.Error("fingerprint stage present without ExpectFingerprint")
	}
}

func TestMailDomainTestsEveryMXInOrder(t *testing.T) {
	// Both MX names point at 127.0.0.1, so they share a port: serve a cert
	// valid for mx1 only and expect mx2's host name check to fail.
	ch := testpki.MustChain(time.Now(), testpki.ECDSAP256, "mx1.example.test")
	srv := probetest.Start(t, probetest.Config{Chain: []*testpki.Cert{ch.Leaf, ch.Intermediate}})
	_, portStr, _ := net.SplitHostPort(srv.Addr)
	port, _ := strconv.Atoi(portStr)
	res := &probetest.Resolver{
		MX: map[string][]*net.MX{"example.test": {
			{Host: "mx2.example.test.", Pref: 20},
			{Host: "mx1.example.test.", Pref: 10},
		}},
		Hosts: map[string][]string{"mx1.example.test": {"127.0.0.1"}, "mx2.example.test": {"127.0.0.1"}},
	}
	r := run(t, probe.Options{Target: "example.test", Port: port, Resolver: res, Roots: rootsOf(ch)})
	if len(r.Hosts) != 2 {
		t.Fatalf("want 2 hosts, got %+v", r.Hosts)
	}
	if r.Hosts[0].Name != "mx1.example.test" || r.Hosts[1].Name != "mx2.example.test" {
		t.Errorf("hosts in order %s, %s; want mx1 then mx2 (preference order)", r.Hosts[0].Name, r.Hosts[1].Name)
	}
	if r.Hosts[0].Via != "MX 10 of example.test" {
		t.Errorf("via = %q", r.Hosts[0].Via)
	}
	if r.Hosts[0].Target != "mx1.example.test:"+portStr {
		t.Errorf("target = %q", r.Hosts[0].Target)
	}
	h1, _ := r.Hosts[0].Stage(probe.StageHostname)
	h2, _ := r.Hosts[1].Stage(probe.StageHostname)
	if h1.Status != probe.Pass || h2.Status != probe.Fail {
		t.Errorf("hostname stages: mx1 %s %q, mx2 %s %q", h1.Status, h1.Detail, h2.Status, h2.Detail)
	}
	if r.Score != r.Hosts[1].Score || r.Score != 70 {
		t.Errorf("report score %d, want the worst host's (70), hosts %d and %d", r.Score, r.Hosts[0].Score, r.Hosts[1].Score)
	}
}

func TestResolveFailures(t *testing.T) {
	ch := testpki.MustChain(time.Now(), testpki.ECDSAP256, "example.test")
	srv := probetest.Start(t, probetest.Config{Chain: []*testpki.Cert{ch.Leaf, ch.Intermediate}})
	_, portStr, _ := net.SplitHostPort(srv.Addr)
	port, _ := strconv.Atoi(portStr)

	t.Run("implicit MX", func(t *testing.T) {
		res := &probetest.Resolver{Hosts: map[string][]string{"example.test": {"127.0.0.1"}}}
		r := run(t, probe.Options{Target: "example.test", Port: port, Resolver: res, Roots: rootsOf(ch)})
		expect(t, r, probe.StageResolve, probe.Pass, "implicit MX")
		if r.Failed() {
			t.Errorf("implicit MX host failed: %+v", r.Hosts[0].Stages)
		}
	})
	t.Run("no such domain", func(t *testing.T) {
		r := run(t, probe.Options{Target: "nowhere.example.test", Resolver: &probetest.Resolver{}})
		expect(t, r, probe.StageResolve, probe.Fail, "nowhere.example.test has no address records")
		expect(t, r, probe.StageConnect, probe.Skip, "not reached")
	})
	t.Run("null MX", func(t *testing.T) {
		res := &probetest.Resolver{MX: map[string][]*net.MX{"example.test": {{Host: ".", Pref: 0}}}}
		r := run(t, probe.Options{Target: "example.test", Resolver: res})
		expect(t, r, probe.StageResolve, probe.Fail, "null MX")
	})
	t.Run("DNS failure", func(t *testing.T) {
		res := &probetest.Resolver{MXErr: &net.DNSError{Err: "server misbehaving", Name: "example.test", IsTemporary: true}}
		r := run(t, probe.Options{Target: "example.test", Resolver: res})
		expect(t, r, probe.StageResolve, probe.Fail, "MX lookup for example.test failed")
	})
}

// silentServer accepts connections and never speaks, like a firewall that
// lets SYNs through to a dead service, or an SMTPS port.
func silentServer(t *testing.T, greeting string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { l.Close(); <-done })
	go func() {
		defer close(done)
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
			if greeting != "" {
				c.Write([]byte(greeting))
			}
		}
	}()
	return l.Addr().String()
}

func TestSilentServerTimesOutAtBanner(t *testing.T) {
	addr := silentServer(t, "")
	r := run(t, probe.Options{Target: addr, Timeout: 200 * time.Millisecond})
	expect(t, r, probe.StageBanner, probe.Fail, "no answer within 200ms")
}

func TestNotSMTP(t *testing.T) {
	addr := silentServer(t, "HTTP/1.1 400 Bad Request\r\n\r\n")
	r := run(t, probe.Options{Target: addr, Timeout: 2 * time.Second})
	expect(t, r, probe.StageBanner, probe.Fail, "not an SMTP server?")
}

func TestRefusingBanner(t *testing.T) {
	addr := silentServer(t, "554 5.7.1 no service for you\r\n")
	r := run(t, probe.Options{Target: addr, Timeout: 2 * time.Second})
	expect(t, r, probe.StageBanner, probe.Fail, "refuses service (554): 554 5.7.1 no service for you")
}

func TestCancelledContextStopsAtOnce(t *testing.T) {
	addr := silentServer(t, "")
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	r := probe.Run(ctx, probe.Options{Target: addr, Timeout: time.Hour})
	s := stage(t, r, probe.StageBanner)
	if s.Status != probe.Fail || !strings.Contains(s.Detail, "cancelled") {
		t.Errorf("banner after cancel = %s %q, want fail saying cancelled", s.Status, s.Detail)
	}
}

func TestParseTarget(t *testing.T) {
	for _, tc := range []struct {
		in     string
		host   string
		port   int
		domain bool
		errHas string
	}{
		{in: "mail.example.org:587", host: "mail.example.org", port: 587},
		{in: "example.org", host: "example.org", port: 25, domain: true},
		{in: "example.org.", host: "example.org", port: 25, domain: true},
		{in: "127.0.0.1", host: "127.0.0.1", port: 25},
		{in: "[::1]:2525", host: "::1", port: 2525},
		{in: "[::1]", host: "::1", port: 25},
		{in: "::1", host: "::1", port: 25},
		{in: "localhost", host: "localhost", port: 25},
		{in: "", errHas: "no target"},
		{in: "smtp://example.org", errHas: "no URL"},
		{in: "postmaster@example.org", errHas: "no address"},
		{in: "example.org:99999", errHas: "not a number from 1 to 65535"},
		{in: "example.org:smtp", errHas: "not a number"},
		{in: ":25", errHas: "no host"},
	} {
		h, p, d, err := probe.ParseTarget(tc.in, 25)
		if tc.errHas != "" {
			if err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Errorf("ParseTarget(%q) err = %v, want %q", tc.in, err, tc.errHas)
			}
			continue
		}
		if err != nil || h != tc.host || p != tc.port || d != tc.domain {
			t.Errorf("ParseTarget(%q) = %q %d %v %v; want %q %d %v", tc.in, h, p, d, err, tc.host, tc.port, tc.domain)
		}
	}
}

func TestLoadCAFile(t *testing.T) {
	ch := testpki.MustChain(time.Now(), testpki.ECDSAP256, host)
	dir := t.TempDir()
	good := filepath.Join(dir, "ca.pem")
	os.WriteFile(good, ch.Bundle(), 0o644)
	roots, inters, err := probe.LoadCAFile(good)
	if err != nil || len(roots) != 1 || len(inters) != 1 {
		t.Errorf("LoadCAFile(bundle) = %d roots, %d intermediates, %v", len(roots), len(inters), err)
	}
	junk := filepath.Join(dir, "junk.pem")
	os.WriteFile(junk, []byte("hello"), 0o644)
	if _, _, err := probe.LoadCAFile(junk); err == nil || !strings.Contains(err.Error(), "holds no PEM certificate") {
		t.Errorf("LoadCAFile(junk) err = %v", err)
	}
	if _, _, err := probe.LoadCAFile(filepath.Join(dir, "missing.pem")); err == nil {
		t.Error("LoadCAFile(missing) succeeded")
	}
}
