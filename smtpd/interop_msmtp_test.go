package smtpd

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smtptls/smtptls/config"
)

// msmtp, a sendmail replacement many admins relay through, delivers with
// verified STARTTLS in both modes that offer it, and is refused without
// TLS in required mode.
func TestInteropMsmtp(t *testing.T) {
	msmtp := need(t, "msmtp", "msmtp")
	for _, mode := range []config.Mode{config.ModeAvailable, config.ModeRequired} {
		t.Run(string(mode), func(t *testing.T) {
			f := newFixture(t)
			f.writeGen(testSettings(mode), nil)
			srv, _ := startServer(t, f)
			_, port, _ := net.SplitHostPort(srv.Addr().String())
			send := func(tlsOn string) (string, error) {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				cmd := exec.CommandContext(ctx, msmtp, "-C", "/dev/null", "--host=127.0.0.1", "--port="+port,
					"--tls="+tlsOn, "--tls-starttls=on", "--tls-trust-file="+f.caFile(), "--tls-host-override="+testHost,
					"--domain=msmtp.example", "--auth=off", "--from=a@example.org", "-v", "b@example.test")
				cmd.Stdin = strings.NewReader("Subject: from msmtp\r\n\r\nhello\r\n")
				out, err := cmd.CombinedOutput()
				return string(out), err
			}
			out, err := send("on")
			if err != nil || !strings.Contains(out, "250 2.0.0 Ok: queued as ") {
				t.Fatalf("msmtp with STARTTLS (%v):\n%s", err, out)
			}
			if len(newMessages(t, f)) != 1 {
				t.Fatal("msmtp's message not spooled")
			}
			out, err = send("off")
			if mode == config.ModeRequired {
				if err == nil || !strings.Contains(out, "530 5.7.0 Must issue a STARTTLS command first") {
					t.Fatalf("msmtp without TLS in required mode (%v):\n%s", err, out)
				}
			} else if err != nil {
				t.Fatalf("msmtp without TLS in available mode: %v\n%s", err, out)
			}
		})
	}
}

// posttls-finger is Postfix's own TLS probe: it verifies the served chain
// against the CA file and the name, as a Postfix with
// smtp_tls_security_level = secure would.
func TestInteropPosttlsFinger(t *testing.T) {
	ptf := need(t, "posttls-finger", "postfix")
	// It reads main.cf for its defaults: give it an empty one.
	mc := t.TempDir()
	must(t, os.WriteFile(filepath.Join(mc, "main.cf"), nil, 0o644))
	probe := func(addr string, extra ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, port, _ := net.SplitHostPort(addr)
		cmd := exec.CommandContext(ctx, ptf, append(append([]string{"-c", "-l", "secure", "-F", filepath.Join(mc, "ca.pem")}, extra...),
			"[127.0.0.1]:"+port, testHost)...)
		cmd.Env = append(os.Environ(), "MAIL_CONFIG="+mc)
		out, _ := cmd.CombinedOutput() // exits 0 even when verification fails: the output says
		return string(out)
	}
	for _, mode := range []config.Mode{config.ModeAvailable, config.ModeRequired} {
		t.Run(string(mode), func(t *testing.T) {
			f := newFixture(t)
			must(t, os.WriteFile(filepath.Join(mc, "ca.pem"), f.chain.Root.PEM(), 0o644))
			f.writeGen(testSettings(mode), nil)
			srv, _ := startServer(t, f)
			out := probe(srv.Addr().String())
			if !strings.Contains(out, "Verified TLS connection established") {
				t.Fatalf("posttls-finger did not verify:\n%s", out)
			}
			// Held to TLS 1.2 it gets an AEAD suite (tls.cbc_suites off).
			out = probe(srv.Addr().String(), "-p", "<=TLSv1.2")
			if !strings.Contains(out, "TLSv1.2 with cipher") || !(strings.Contains(out, "GCM") || strings.Contains(out, "CHACHA20")) {
				t.Fatalf("posttls-finger over TLS 1.2:\n%s", out)
			}
		})
	}
}
