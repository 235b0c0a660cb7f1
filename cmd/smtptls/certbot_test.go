package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smtptls/smtptls/config"
)

// readmeDeployHook is the certbot deploy hook exactly as the README gives
// it, so the documented line is the tested one.
func readmeDeployHook(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`certbot certonly .*--deploy-hook '([^']+)'`).FindSubmatch(b)
	if m == nil {
		t.Fatal("README.md has no certbot line with --deploy-hook '...'")
	}
	return string(m[1])
}

func TestCertbotDeployHookInstallsThroughApply(t *testing.T) {
	t.Parallel()
	certbot, err := exec.LookPath("certbot")
	if err != nil {
		t.Skip("certbot not installed (Debian package certbot: apt-get install certbot)")
	}
	hook := readmeDeployHook(t)
	a := newACMEEnv(t)
	// The gateway's own settings, before any certificate.
	if out, errOut, code := a.run("apply", "--config-dir", a.dir, "--mode", "disabled", "--hostname", acmeName, "--listen", a.listen()); code != exitOK {
		t.Fatalf("apply disabled: exit %d\n%s%s", code, out, errOut)
	}

	cb := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, certbot, "certonly", "--non-interactive", "--agree-tos", "-m", "postmaster@example.test",
		"--server", a.p.DirURL, "--standalone", "--http-01-address", "127.0.0.1", "--http-01-port", strconv.Itoa(a.p.HTTPPort),
		"-d", acmeName, "--config-dir", filepath.Join(cb, "config"), "--work-dir", filepath.Join(cb, "work"), "--logs-dir", filepath.Join(cb, "logs"),
		"--deploy-hook", hook)
	c.Env = append(os.Environ(), "REQUESTS_CA_BUNDLE="+a.p.ListenerCAFile, "SMTPTLS_CONFIG_DIR="+a.dir, "NO_COLOR=1",
		"PATH="+filepath.Dir(a.bin)+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("certbot: %v\n%s", err, out)
	}
	lineage := filepath.Join(cb, "config", "live", acmeName)
	issued, err := os.ReadFile(filepath.Join(lineage, "cert.pem"))
	if err != nil {
		t.Fatalf("certbot wrote no certificate: %v\n%s", err, out)
	}
	l := a.installed()
	if l.Settings.Mode != config.ModeAvailable {
		t.Errorf("after the hook the mode is %s, want available", l.Settings.Mode)
	}
	if leafFP(t, l.CertPEM) != leafFP(t, issued) {
		t.Fatalf("the hook did not install certbot's certificate\n%s", out)
	}
	if got := a.served(); got != leafFP(t, issued) {
		t.Errorf("openssl sees %s, want certbot's %s", got, leafFP(t, issued))
	}

	// The hook run again with the same files writes nothing.
	gens, _ := config.ListGenerations(a.dir)
	again := exec.CommandContext(ctx, "sh", "-c", hook)
	again.Env = append(c.Env, "RENEWED_LINEAGE="+lineage)
	out2, err := again.CombinedOutput()
	if err != nil {
		t.Fatalf("hook again: %v\n%s", err, out2)
	}
	if !strings.Contains(string(out2), "nothing was written") {
		t.Errorf("the second run does not say nothing was written:\n%s", out2)
	}
	if after, _ := config.ListGenerations(a.dir); len(after) != len(gens) {
		t.Errorf("the second run wrote a generation: %d, then %d", len(gens), len(after))
	}
}
