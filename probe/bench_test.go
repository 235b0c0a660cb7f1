package probe_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smtptls/smtptls/config"
	"github.com/smtptls/smtptls/internal/testpki"
	"github.com/smtptls/smtptls/probe"
	"github.com/smtptls/smtptls/probe/probetest"
)

// The figure: verify against a local listener in under 100 ms, and
// in less time than openssl s_client alone takes for the same connection.
// Each benchmark runs against our own listener (smtpd, available mode) and
// a bare go-smtp server, both with an ECDSA P-256 leaf plus intermediate,
// so `go test -bench Local ./probe` prints the four numbers side by side.

func benchTargets(b *testing.B) (map[string]string, *testpki.Chain) {
	ch := testpki.MustChain(time.Now(), testpki.ECDSAP256, host)
	own := startOwn(b, config.ModeAvailable, ch)
	bare := probetest.Start(b, probetest.Config{Chain: []*testpki.Cert{ch.Leaf, ch.Intermediate}})
	return map[string]string{"smtpd": own.addr, "gosmtp": bare.Addr}, ch
}

// BenchmarkVerifyLocal is a full probe: two connections (TLS and the
// plaintext MAIL check), every stage, fingerprint included.
func BenchmarkVerifyLocal(b *testing.B) {
	targets, ch := benchTargets(b)
	for _, name := range []string{"smtpd", "gosmtp"} {
		b.Run(name, func(b *testing.B) {
			o := probe.Options{Target: targets[name], Hostname: host, Roots: rootsOf(ch), Timeout: 5 * time.Second,
				ExpectFingerprint: probe.Fingerprint(ch.Leaf.Cert)}
			ctx := context.Background()
			for b.Loop() {
				if r := probe.Run(ctx, o); r.Failed() {
					b.Fatalf("probe failed: %+v", r.Hosts[0].Stages)
				}
			}
		})
	}
}

// BenchmarkOpenSSLSClientLocal is `openssl s_client -starttls smtp` alone:
// one connection, EHLO, STARTTLS, handshake and chain verification.
func BenchmarkOpenSSLSClientLocal(b *testing.B) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		b.Skip("openssl not installed: apt-get install openssl")
	}
	targets, ch := benchTargets(b)
	ca := filepath.Join(b.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, ch.Root.PEM(), 0o644); err != nil {
		b.Fatal(err)
	}
	for _, name := range []string{"smtpd", "gosmtp"} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				cmd := exec.Command(openssl, "s_client", "-starttls", "smtp", "-connect", targets[name],
					"-CAfile", ca, "-verify_return_error", "-verify_hostname", host, "-servername", host, "-brief")
				cmd.Stdin = strings.NewReader("")
				out, err := cmd.CombinedOutput()
				if err != nil || !strings.Contains(string(out), "Verification: OK") {
					b.Fatalf("openssl s_client: %v\n%s", err, out)
				}
			}
		})
	}
}
