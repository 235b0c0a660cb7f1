package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"github.com/smtptls/smtptls/internal/loopback"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/smtptls/smtptls/internal/testpki"
)

// applyTestBinary builds smtptls into the test's temp dir: apply starts the
// listener detached from it, and crash tests kill it.
func applyTestBinary(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "smtptls")
	out, err := exec.Command("go", "build", "-o", path, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return path
}

// applyEnv is one config directory driven through the real binary, with
// its listener stopped when the test ends.
type applyEnv struct {
	t    testing.TB
	bin  string
	dir  string
	port int
}

func newApplyEnv(t testing.TB) *applyEnv {
	t.Helper()
	a := &applyEnv{t: t, bin: applyTestBinary(t), dir: filepath.Join(t.TempDir(), "cfg"), port: loopback.FreePort(t)}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		exec.CommandContext(ctx, a.bin, "stop", "--config-dir", a.dir).Run()
		// A listener left by a killed apply still has its pid file.
		if b, err := os.ReadFile(filepath.Join(a.dir, "smtpd.pid")); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
				if p, err := os.FindProcess(pid); err == nil && p.Signal(syscall.Signal(0)) == nil {
					p.Kill()
				}
			}
		}
	})
	return a
}

func (a *applyEnv) listen() string { return "127.0.0.1:" + strconv.Itoa(a.port) }

// cmd makes a command of the binary on this env's config dir.
func (a *applyEnv) cmd(ctx context.Context, args ...string) *exec.Cmd {
	return binCmd(ctx, a.bin, a.dir, args...)
}

// run runs the binary to the end and returns its output and exit status.
func (a *applyEnv) run(args ...string) (stdout, stderr string, code int) {
	a.t.Helper()
	return runBin(a.t, 60*time.Second, a.bin, a.dir, args...)
}

// binCmd makes a command of the smtptls binary bin on config dir dir,
// without color.
func binCmd(ctx context.Context, bin, dir string, args ...string) *exec.Cmd {
	c := exec.CommandContext(ctx, bin, args...)
	c.Env = append(os.Environ(), "NO_COLOR=1", "SMTPTLS_CONFIG_DIR="+dir)
	return c
}

// runBin runs binCmd to the end, within timeout, and returns its output
// and exit status.
func runBin(t testing.TB, timeout time.Duration, bin, dir string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c := binCmd(ctx, bin, dir, args...)
	var o, e bytes.Buffer
	c.Stdout, c.Stderr = &o, &e
	err := c.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("run %v: %v", args, err)
	}
	return o.String(), e.String(), code
}

// pki is one certificate chain written to files the way an admin has them.
type pki struct {
	ch                  *testpki.Chain
	cert, key, ca, name string
	fp                  string
}

func writePKI(t testing.TB, tag string) pki {
	t.Helper()
	ch := testpki.MustChain(time.Now(), testpki.ECDSAP256, "mail.example.test")
	d := t.TempDir()
	p := pki{ch: ch, name: "mail.example.test",
		cert: filepath.Join(d, tag+"-cert.pem"), key: filepath.Join(d, tag+"-key.pem"), ca: filepath.Join(d, tag+"-ca.pem")}
	for path, data := range map[string][]byte{p.cert: ch.Leaf.PEM(), p.key: ch.Leaf.KeyPEM(), p.ca: ch.Bundle()} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	sum := sha256.Sum256(ch.Leaf.Cert.Raw)
	p.fp = hex.EncodeToString(sum[:])
	return p
}

// applyArgs are the flags of an apply of p in mode on this env.
// mustApply runs apply with applyArgs and ends the test unless it exits 0.
func (a *applyEnv) mustApply(mode string, p pki, extra ...string) {
	a.t.Helper()
	if o, e, code := a.run(a.applyArgs(mode, p, extra...)...); code != exitOK {
		a.t.Fatalf("apply: exit %d\n%s%s", code, o, e)
	}
}

func (a *applyEnv) applyArgs(mode string, p pki, extra ...string) []string {
	args := []string{"apply", "--config-dir", a.dir, "--mode", mode, "--cert", p.cert, "--key", p.key, "--ca", p.ca,
		"--hostname", p.name, "--listen", a.listen()}
	if mode == "required" {
		args = append(args, "--yes")
	}
	return append(args, extra...)
}

// opensslServed connects with openssl s_client -starttls smtp, verifying
// against caFile and the host name, and returns the SHA-256 of the leaf the
// server sent.
func opensslServed(t testing.TB, addr, caFile, name string) string {
	t.Helper()
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed: apt-get install openssl")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, openssl, "s_client", "-connect", addr, "-starttls", "smtp", "-CAfile", caFile,
		"-verify_return_error", "-verify_hostname", name, "-servername", name)
	c.Stdin = strings.NewReader("")
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("openssl s_client %s: %v\n%s", addr, err, out)
	}
	if !bytes.Contains(out, []byte("Verify return code: 0 (ok)")) {
		t.Fatalf("openssl did not verify the chain:\n%s", out)
	}
	i := bytes.Index(out, []byte("-----BEGIN CERTIFICATE-----"))
	if i < 0 {
		t.Fatalf("openssl printed no server certificate:\n%s", out)
	}
	b, _ := pem.Decode(out[i:])
	if b == nil {
		t.Fatalf("openssl printed an unreadable certificate:\n%s", out)
	}
	sum := sha256.Sum256(b.Bytes)
	return hex.EncodeToString(sum[:])
}

// assertNoKeyIn fails when any 16-character run of the key's base64 body
// appears in out.
func assertNoKeyIn(t testing.TB, what, out string, keyPEM []byte) {
	t.Helper()
	b, _ := pem.Decode(keyPEM)
	if b == nil {
		t.Fatal("test key is not PEM")
	}
	var body []string
	for _, line := range strings.Split(string(keyPEM), "\n") {
		if line != "" && !strings.HasPrefix(line, "-----") {
			body = append(body, line)
		}
	}
	flat := strings.Join(body, "")
	for i := 0; i+16 <= len(flat); i += 8 {
		if strings.Contains(out, flat[i:i+16]) {
			t.Fatalf("%s contains private key material (%q)", what, flat[i:i+16])
		}
	}
}

// leafFP is the SHA-256 hex of the first certificate in certPEM.
func leafFP(t testing.TB, certPEM []byte) string {
	t.Helper()
	b, _ := pem.Decode(certPEM)
	if b == nil {
		t.Fatalf("no certificate in %q", certPEM)
	}
	sum := sha256.Sum256(b.Bytes)
	return hex.EncodeToString(sum[:])
}
