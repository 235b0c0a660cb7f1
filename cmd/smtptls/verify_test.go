package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
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
	"github.com/smtptls/smtptls/smtpd"
)

const verifyTestHost = "mail.example.test"

// verifyRun runs `smtptls verify args...` in-process.
func verifyRun(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{
		stdin:  strings.NewReader(""),
		stdout: &out,
		stderr: &errb,
		host:   config.Host{Getenv: func(string) string { return "" }},
		now:    time.Now,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code = run(ctx, e, append([]string{"verify"}, args...))
	return code, out.String(), errb.String()
}

// verifyFixture starts a test server serving chain and writes its root to
// a CA file for --ca.
func verifyFixture(t *testing.T, cfg probetest.Config, ch *testpki.Chain) (addr, caFile string) {
	t.Helper()
	srv := probetest.Start(t, cfg)
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, ch.Root.PEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	return srv.Addr, caFile
}

func TestVerifyCommandPassesGoodServer(t *testing.T) {
	ch := testpki.MustChain(time.Now(), testpki.ECDSAP256, verifyTestHost)
	addr, ca := verifyFixture(t, probetest.Config{Chain: []*testpki.Cert{ch.Leaf, ch.Intermediate}}, ch)

	code, out, errOut := verifyRun(t, "--ca", ca, "--hostname", verifyTestHost, addr)
	if code != exitOK {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{"score 100/100", "✓ PASS", "TLS 1.3", "PASSED"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b[") {
		t.Error("color escapes written to a non-terminal")
	}

	// Flags after the target work too, and --json prints one object.
	code, out, _ = verifyRun(t, addr, "--json", "--ca", ca, "--hostname", verifyTestHost,
		"--expect-fingerprint", probe.Fingerprint(ch.Leaf.Cert))
	if code != exitOK {
		t.Fatalf("--json exit %d:\n%s", code, out)
	}
	var r probe.Report
	dec := json.NewDecoder(strings.NewReader(out))
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, out)
	}
	if dec.More() {
		t.Error("more than one JSON value on stdout")
	}
	if r.Target != addr || r.Score != 100 || len(r.Hosts) != 1 {
		t.Errorf("report = %+v", r)
	}
	if s, ok := r.Hosts[0].Stage(probe.StageFingerprint); !ok || s.Status != probe.Pass {
		t.Errorf("fingerprint stage = %+v", s)
	}
}

func TestVerifyCommandFailuresExit1(t *testing.T) {
	ch := testpki.MustChain(time.Now(), testpki.ECDSAP256, verifyTestHost)
	addr, ca := verifyFixture(t, probetest.Config{Chain: []*testpki.Cert{ch.Leaf, ch.Intermediate}}, ch)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"wrong host name", []string{"--ca", ca, "--hostname", "other.example.test", addr}, "not for other.example.test"},
		{"untrusted without --ca", []string{"--hostname", verifyTestHost, addr}, "trust"},
		{"required but plaintext accepted", []string{"--ca", ca, "--hostname", verifyTestHost, "--required", addr}, "TLS is not required"},
		{"another certificate expected", []string{"--ca", ca, "--hostname", verifyTestHost,
			"--expect-fingerprint", strings.Repeat("ab", 32), addr}, "expected abababababababab"},
		{"dead port", []string{"--timeout", "2s", probetest.DeadAddr(t)}, "connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, _ := verifyRun(t, tc.args...)
			if code != exitFail {
				t.Errorf("exit %d, want 1:\n%s", code, out)
			}
			if !strings.Contains(out, tc.want) || !strings.Contains(out, "✗ FAIL") || !strings.Contains(out, "FAILED") {
				t.Errorf("output lacks %q or FAIL:\n%s", tc.want, out)
			}
		})
	}

	// The same in JSON: exit 1, and the failure is in the object.
	code, out, _ := verifyRun(t, "--json", "--timeout", "2s", probetest.DeadAddr(t))
	var r probe.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil || code != exitFail || !r.Failed() || r.Score != 0 {
		t.Errorf("dead port --json: exit %d, err %v, report %+v", code, err, r)
	}
}

func TestVerifyCommandUsageErrorsExit2(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.pem")
	os.WriteFile(junk, []byte("not a certificate"), 0o644)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no target", nil, "give a TARGET"},
		{"two targets", []string{"a.example", "b.example"}, "give one TARGET, got 2"},
		{"unknown flag", []string{"--bogus", "a.example"}, "flag provided but not defined: -bogus"},
		{"URL target", []string{"smtp://a.example"}, "no URL"},
		{"bad port", []string{"a.example:0"}, "not a number from 1 to 65535"},
		{"zero timeout", []string{"--timeout", "0s", "a.example"}, "--timeout 0s"},
		{"bad timeout", []string{"--timeout", "soon", "a.example"}, "invalid value \"soon\""},
		{"missing --ca file", []string{"--ca", filepath.Join(dir, "nope.pem"), "a.example"}, "--ca: read CA file"},
		{"--ca without certificates", []string{"--ca", junk, "a.example"}, "holds no PEM certificate"},
		{"bad fingerprint", []string{"--expect-fingerprint", "abc", "a.example"}, "64 hex digits"},
		{"bad --port", []string{"--port", "70000", "a.example"}, "--port 70000"},
		{"--helo with a second command", []string{"--helo", "x\r\nRSET", "a.example"}, "without spaces or control characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := verifyRun(t, tc.args...)
			if code != exitUsage {
				t.Errorf("exit %d, want 2", code)
			}
			if out != "" {
				t.Errorf("usage error wrote to stdout: %q", out)
			}
			if !strings.Contains(errOut, tc.want) {
				t.Errorf("stderr lacks %q:\n%s", tc.want, errOut)
			}
		})
	}
	code, _, errOut := verifyRun(t, "--help")
	if code != exitOK || !strings.Contains(errOut, "Usage: smtptls verify [flags] TARGET") || !strings.Contains(errOut, "-expect-fingerprint") {
		t.Errorf("--help: exit %d\n%s", code, errOut)
	}
}

// BenchmarkVerifyCommandExec times `smtptls verify` as an admin runs it (a
// new process, system roots loaded, two connections), to set beside
// probe's BenchmarkOpenSSLSClientLocal, which also pays a process start.
func BenchmarkVerifyCommandExec(b *testing.B) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		b.Skip("go tool not in PATH: cannot build the binary to exec")
	}
	exe := filepath.Join(b.TempDir(), "smtptls")
	if out, err := exec.Command(goTool, "build", "-o", exe, ".").CombinedOutput(); err != nil {
		b.Fatalf("build smtptls: %v\n%s", err, out)
	}
	ch := testpki.MustChain(time.Now(), testpki.ECDSAP256, verifyTestHost)
	srv := probetest.Start(b, probetest.Config{Chain: []*testpki.Cert{ch.Leaf, ch.Intermediate}})
	ca := filepath.Join(b.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, ch.Root.PEM(), 0o644); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		out, err := exec.Command(exe, "verify", "--ca", ca, "--hostname", verifyTestHost, srv.Addr).CombinedOutput()
		if err != nil {
			b.Fatalf("smtptls verify: %v\n%s", err, out)
		}
	}
}

// The command against our own listener in required mode, as an admin runs
// it after apply: exit 0 with --required, and the 530 is in the report.
func TestVerifyCommandOwnListenerRequired(t *testing.T) {
	ch := testpki.MustChain(time.Now(), testpki.ECDSAP256, verifyTestHost)
	cfg := smtpd.Config{
		Generation:      "20261128T120000Z-0001",
		Mode:            config.ModeRequired,
		Hostname:        verifyTestHost,
		Listen:          "127.0.0.1:0",
		SpoolDir:        t.TempDir(),
		BareLineEndings: config.BareReject,
		Limits:          config.DefaultSettings(false, verifyTestHost).Limits,
		Certificate: &tls.Certificate{
			Certificate: [][]byte{ch.Leaf.Cert.Raw, ch.Intermediate.Cert.Raw},
			PrivateKey:  ch.Leaf.Key,
			Leaf:        ch.Leaf.Cert,
		},
		Fingerprint: smtpd.Fingerprint(ch.Leaf.Cert.Raw),
	}
	srv, err := smtpd.New(cfg, smtpd.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, ch.Bundle(), 0o644)
	code, out, errOut := verifyRun(t, "--ca", ca, "--hostname", verifyTestHost, "--required",
		"--expect-fingerprint", cfg.Fingerprint, srv.Addr().String())
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"plaintext MAIL refused with 530", "expected certificate", "PASSED", "score 100/100"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
