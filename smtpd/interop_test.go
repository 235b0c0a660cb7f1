package smtpd

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/smtptls/smtptls/config"
)

func need(t *testing.T, tool, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		t.Skipf("%s not installed: apt-get install %s", tool, pkg)
	}
	return p
}

func runTool(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = strings.NewReader("")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestInteropOpenSSLVerifiesChain(t *testing.T) {
	openssl := need(t, "openssl", "openssl")
	for _, mode := range []config.Mode{config.ModeAvailable, config.ModeRequired} {
		t.Run(string(mode), func(t *testing.T) {
			f := newFixture(t)
			f.writeGen(testSettings(mode), nil)
			srv, _ := startServer(t, f)
			_, port, _ := net.SplitHostPort(srv.Addr().String())
			out, err := runTool(t, openssl, "s_client", "-connect", "127.0.0.1:"+port, "-starttls", "smtp",
				"-CAfile", f.caFile(), "-verify_return_error", "-verify_hostname", testHost,
				"-servername", testHost, "-showcerts")
			if err != nil {
				t.Fatalf("openssl s_client failed: %v\n%s", err, out)
			}
			if !strings.Contains(out, "Verify return code: 0 (ok)") {
				t.Fatalf("chain did not verify:\n%s", out)
			}
			if n := strings.Count(out, "-----BEGIN CERTIFICATE-----"); n != 2 {
				t.Fatalf("openssl saw %d certificates, want leaf + intermediate:\n%s", n, out)
			}
			if strings.Contains(out, "s:CN=smtptls Test Root CA") || strings.Contains(out, "s:O=smtptls test, CN=smtptls Test Root CA") {
				t.Fatalf("root served:\n%s", out)
			}
		})
	}
	t.Run("TLS 1.1 refused", func(t *testing.T) {
		f := newFixture(t)
		f.writeGen(testSettings(config.ModeAvailable), nil)
		srv, _ := startServer(t, f)
		_, port, _ := net.SplitHostPort(srv.Addr().String())
		out, err := runTool(t, openssl, "s_client", "-connect", "127.0.0.1:"+port, "-starttls", "smtp", "-tls1_1")
		if err == nil && strings.Contains(out, "Protocol  : TLSv1.1") {
			t.Fatalf("TLS 1.1 negotiated:\n%s", out)
		}
	})
}

// pySend is python3's smtplib delivering one message; it prints the
// outcome as one word and the server's reply.
const pySend = `
import smtplib, ssl, sys
host, port, cafile, tls = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4] == "tls"
s = smtplib.SMTP(host, port, local_hostname="py.example", timeout=20)
try:
    s.ehlo()
    if tls:
        s._host = "mail.example.test"  # the name to verify; we dialled an IP
        s.starttls(context=ssl.create_default_context(cafile=cafile))
        s.ehlo()
    s.sendmail("a@example.org", ["b@example.test"], "Subject: py\r\n\r\nfrom python\r\n")
    print("SENT")
except smtplib.SMTPNotSupportedError as e:
    print("NOTLS", e)
except smtplib.SMTPSenderRefused as e:
    print("REFUSED", e.smtp_code, e.smtp_error.decode())
finally:
    try:
        s.quit()
    except Exception:
        pass
`

func TestInteropPythonSmtplibEachMode(t *testing.T) {
	py := need(t, "python3", "python3")
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		py = "/usr/bin/python3" // a pyenv shim costs seconds per start
	}
	cases := []struct {
		mode      config.Mode
		tls       bool
		wantFirst string
	}{
		{config.ModeDisabled, false, "SENT"},
		{config.ModeDisabled, true, "NOTLS"},
		{config.ModeAvailable, false, "SENT"},
		{config.ModeAvailable, true, "SENT"},
		{config.ModeRequired, false, "REFUSED 530 5.7.0 Must issue a STARTTLS command first"},
		{config.ModeRequired, true, "SENT"},
	}
	for _, tc := range cases {
		name := string(tc.mode) + "/plaintext"
		arg := "plain"
		if tc.tls {
			name, arg = string(tc.mode)+"/starttls", "tls"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			f.writeGen(testSettings(tc.mode), nil)
			srv, _ := startServer(t, f)
			_, port, _ := net.SplitHostPort(srv.Addr().String())
			out, err := runTool(t, py, "-c", pySend, "127.0.0.1", port, f.caFile(), arg)
			if err != nil {
				t.Fatalf("python: %v\n%s", err, out)
			}
			if !strings.HasPrefix(out, tc.wantFirst) {
				t.Fatalf("python said %q, want %q", strings.TrimSpace(out), tc.wantFirst)
			}
			msgs := newMessages(t, f)
			if tc.wantFirst == "SENT" {
				if len(msgs) != 1 {
					t.Fatalf("%d messages spooled", len(msgs))
				}
				m := spooled(t, f, msgs[0])
				if tc.tls != strings.Contains(m, "ESMTPS") || !strings.Contains(m, "from python") {
					t.Fatalf("stored message:\n%s", m)
				}
			} else if len(msgs) != 0 {
				t.Fatalf("%d messages spooled after a refusal", len(msgs))
			}
		})
	}
}

func TestInteropGnuTLS(t *testing.T) {
	gnutls := need(t, "gnutls-cli", "gnutls-bin")
	f := newFixture(t)
	f.writeGen(testSettings(config.ModeRequired), nil)
	srv, _ := startServer(t, f)
	_, port, _ := net.SplitHostPort(srv.Addr().String())
	out, err := runTool(t, gnutls, "--starttls-proto=smtp", "--x509cafile="+f.caFile(), "--port="+port,
		"--verify-hostname="+testHost, "127.0.0.1")
	if !strings.Contains(out, "Handshake was completed") || strings.Contains(out, "certificate is NOT trusted") {
		t.Fatalf("gnutls-cli (%v):\n%s", err, out)
	}
}

func TestInteropSwaks(t *testing.T) {
	swaks := need(t, "swaks", "swaks")
	for _, mode := range []config.Mode{config.ModeAvailable, config.ModeRequired} {
		t.Run(string(mode), func(t *testing.T) {
			f := newFixture(t)
			f.writeGen(testSettings(mode), nil)
			srv, _ := startServer(t, f)
			out, err := runTool(t, swaks, "--server", srv.Addr().String(), "--tls", "--tls-verify",
				"--tls-ca-path", f.caFile(), "--tls-sni", testHost, "--from", "a@example.org", "--to", "b@example.test",
				"--helo", "swaks.example")
			if err != nil {
				if strings.Contains(out, "Can't locate") || strings.Contains(out, "requires Net::SSLeay") {
					t.Skipf("swaks lacks its TLS modules: apt-get install libnet-ssleay-perl libio-socket-ssl-perl\n%s", out)
				}
				t.Fatalf("swaks: %v\n%s", err, out)
			}
			if !strings.Contains(out, "<~  250 2.0.0 Ok: queued as ") {
				t.Fatalf("swaks transcript lacks the queued reply:\n%s", out)
			}
			if len(newMessages(t, f)) != 1 {
				t.Fatal("swaks message not spooled")
			}
		})
	}
	_ = os.Getenv
}
