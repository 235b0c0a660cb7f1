package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smtptls/smtptls/apply"
	"github.com/smtptls/smtptls/config"
	"github.com/smtptls/smtptls/postfix"
	"github.com/smtptls/smtptls/postfix/postfixtest"
)

// pfCmd is the smtptls binary configuring a private running Postfix.
type pfCmd struct {
	t   *testing.T
	bin string
	pf  *postfixtest.Instance
	dir string
}

func newPFCmd(t *testing.T, o postfixtest.Options) *pfCmd {
	t.Helper()
	postfixtest.Skip(t)
	// Each has its own Postfix and mostly waits on it: run side by side.
	t.Parallel()
	pf := postfixtest.Start(t, o)
	return &pfCmd{t: t, bin: applyTestBinary(t), pf: pf, dir: filepath.Join(t.TempDir(), "smtptls")}
}

func (c *pfCmd) cmd(ctx context.Context, args ...string) *exec.Cmd {
	return binCmd(ctx, c.bin, c.dir, args...)
}

func (c *pfCmd) run(args ...string) (stdout, stderr string, code int) {
	c.t.Helper()
	return runBin(c.t, 2*time.Minute, c.bin, c.dir, args...)
}

func (c *pfCmd) applyArgs(mode string, p pki) []string {
	args := []string{"apply", "--config-dir", c.dir, "--target", "postfix", "--postfix-dir", c.pf.ConfigDir,
		"--mode", mode, "--cert", p.cert, "--key", p.key, "--ca", p.ca, "--hostname", p.name}
	if mode == "required" {
		args = append(args, "--yes")
	}
	return args
}

// status shows a hand edit of smtpd_tls_security_level with both values
// and exits 1; all well before it.
func TestPostfixStatusHandEditExitsOne(t *testing.T) {
	c := newPFCmd(t, postfixtest.Options{})
	one := writePKI(t, "one")
	if o, e, code := c.run(c.applyArgs("available", one)...); code != exitOK {
		t.Fatalf("apply: exit %d\n%s%s\nmaillog:\n%s", code, o, e, c.pf.MailLog())
	}
	out, errOut, code := c.run("status", "--config-dir", c.dir)
	if code != exitOK || !strings.Contains(out, "All well.") || !strings.Contains(out, "Postfix, main.cf in "+c.pf.ConfigDir) {
		t.Fatalf("status after apply: exit %d\n%s%s", code, out, errOut)
	}
	c.pf.Postconf("-e", "smtpd_tls_security_level=none")
	out, errOut, code = c.run("status", "--config-dir", c.dir)
	if code != exitFail {
		t.Errorf("status after a hand edit: exit %d, want 1", code)
	}
	if !strings.Contains(out, "main.cf smtpd_tls_security_level is none, but smtptls set may") {
		t.Errorf("status does not name both values:\n%s%s", out, errOut)
	}
	out, _, _ = c.run("status", "--config-dir", c.dir, "--json")
	var st apply.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Target != "postfix" || st.ServesInstalled {
		t.Errorf("status --json: %v %+v", err, st)
	}
}

// Postfix must run: apply refuses before writing, with exit 2.
func TestPostfixApplyRefusedWhenStopped(t *testing.T) {
	c := newPFCmd(t, postfixtest.Options{NoStart: true})
	before := c.pf.MainCF()
	one := writePKI(t, "one")
	out, errOut, code := c.run(c.applyArgs("available", one)...)
	if code != exitUsage || !strings.Contains(out+errOut, "start Postfix first") {
		t.Fatalf("apply to a stopped Postfix: exit %d\n%s%s", code, out, errOut)
	}
	if !bytes.Equal(before, c.pf.MainCF()) {
		t.Error("main.cf changed")
	}
	if gens, _ := config.ListGenerations(c.dir); len(gens) != 0 {
		t.Errorf("generations written: %v", gens)
	}
}

// checkMainCFConsistent: every file main.cf names for TLS exists, holds a
// key and a certificate that belong together, and postfix check passes;
// when it names the store, the store's current generation is what it
// holds.
func checkMainCFConsistent(t *testing.T, c *pfCmd, label string) {
	t.Helper()
	vals := map[string]string{}
	for _, line := range strings.Split(c.pf.Postconf("-n"), "\n") {
		if k, v, ok := strings.Cut(line, " = "); ok {
			vals[k] = v
		}
	}
	for _, p := range []string{"smtpd_tls_chain_files", "smtpd_tls_cert_file", "smtpd_tls_key_file"} {
		f := vals[p]
		if f == "" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("%s: main.cf %s names %s, which cannot be read: %v", label, p, f, err)
		}
		cert, err := tls.X509KeyPair(b, b)
		if err != nil {
			t.Fatalf("%s: %s (%s) is not a matching key and certificate: %v", label, f, p, err)
		}
		if strings.HasPrefix(f, c.dir) {
			l, err := config.Load(c.dir, config.Host{Getenv: func(string) string { return "" }, UserConfigDir: os.UserConfigDir})
			if err != nil {
				t.Fatalf("%s: the store does not load: %v", label, err)
			}
			if got, want := leafFP(t, pemCert(cert.Certificate[0])), leafFP(t, l.CertPEM); got != want {
				t.Fatalf("%s: the chain file holds %s but generation %s has %s", label, got, l.Generation, want)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, postfixtest.PostfixCmd(), "-c", c.pf.ConfigDir, "check").CombinedOutput(); err != nil {
		t.Fatalf("%s: postfix check: %v\n%s", label, err, out)
	}
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// kill -9 of apply right after each step reports done, and at delays spread
// over an apply: main.cf always names files that exist and belong together,
// postfix check passes, and the next apply succeeds.
func TestPostfixApplyKilledAtEachStep(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a subprocess a dozen times")
	}
	c := newPFCmd(t, postfixtest.Options{})
	one, two := writePKI(t, "one"), writePKI(t, "two")
	argsFor := map[bool][]string{false: c.applyArgs("available", one), true: c.applyArgs("required", two)}
	checkMainCFConsistent(t, c, "before any apply")
	start := time.Now()
	if o, e, code := c.run(argsFor[false]...); code != exitOK {
		t.Fatalf("first apply: exit %d\n%s%s", code, o, e)
	}
	full := time.Since(start)
	checkMainCFConsistent(t, c, "after the first apply")

	points := crashPoints(full, 0) // after each step
	for i := 1; i <= 4; i++ {
		points = append(points, killAt{delay: full * time.Duration(i) / 5})
	}
	h := config.Host{Getenv: func(string) string { return "" }, UserConfigDir: os.UserConfigDir}
	for i, p := range points {
		before, err := config.Load(c.dir, h)
		if err != nil {
			t.Fatalf("kill %d: store does not load before: %v", i, err)
		}
		_ = killBinDuring(t, 2*time.Minute, c.bin, c.dir, p, argsFor[before.Settings.Mode != config.ModeRequired]...)
		label := fmt.Sprintf("kill %d (%+v)", i, p)
		if _, err := config.Load(c.dir, h); err != nil {
			t.Fatalf("%s: the store does not load: %v", label, err)
		}
		checkMainCFConsistent(t, c, label)
		// A kill between the switch and postconf leaves main.cf's mode
		// behind the store's; apply puts that right, and must succeed.
		if o, e, code := c.run(argsFor[false]...); code != exitOK {
			t.Fatalf("%s: the apply after it failed: exit %d\n%s%s", label, code, o, e)
		}
		checkMainCFConsistent(t, c, label+", then applied")
	}
	if o, e, code := c.run("status", "--config-dir", c.dir); code != exitOK {
		t.Errorf("status after the kills and a good apply: exit %d\n%s%s", code, o, e)
	}
}

// A real Postfix client instance relays to the configured one with
// smtp_tls_security_level = verify: it trusts the chain smtptls installed.
func TestPostfixClientDeliversWithVerify(t *testing.T) {
	c := newPFCmd(t, postfixtest.Options{})
	one := writePKI(t, "one")
	if o, e, code := c.run(c.applyArgs("available", one)...); code != exitOK {
		t.Fatalf("apply: exit %d\n%s%s", code, o, e)
	}
	caDir := t.TempDir()
	os.Chmod(caDir, 0o755)
	ca := filepath.Join(caDir, "ca.pem")
	if err := os.WriteFile(ca, one.ch.Root.PEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	next := "[127.0.0.1]:" + fmt.Sprint(c.pf.Port)
	client := postfixtest.Start(t, postfixtest.Options{Main: map[string]string{
		"myhostname":              "client.example.test",
		"default_transport":       "smtp",
		"relay_transport":         "smtp",
		"relayhost":               next,
		"smtp_tls_security_level": "verify",
		"smtp_tls_CAfile":         ca,
		"smtp_tls_loglevel":       "1", // logs "Verified TLS connection established"
		// The next hop is an address, so say which name its certificate
		// must carry.
		"smtp_tls_policy_maps": "inline:{ { " + next + " = verify match=mail.example.test } }",
	}})
	r := smtpSession(t, client.Addr(), "EHLO test.example", "MAIL FROM:<a@example.org>", "RCPT TO:<b@example.net>", "DATA")
	if !strings.HasPrefix(r[3], "354") {
		t.Fatalf("client instance refused the message: %q", r)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		log := client.MailLog()
		if strings.Contains(log, "status=sent") && strings.Contains(log, "Verified TLS connection established to 127.0.0.1") {
			break
		}
		if strings.Contains(log, "status=deferred") || strings.Contains(log, "status=bounced") || time.Now().After(deadline) {
			t.Fatalf("the client did not deliver with verify:\n%s", tail(log, 30))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// smtpSession sends the commands and, after DATA, a short message; it
// returns each reply's last line.
func smtpSession(t *testing.T, addr string, cmds ...string) []string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(conn)
	read := func() string {
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			line = strings.TrimRight(line, "\r\n")
			if len(line) < 4 || line[3] != '-' {
				return line
			}
		}
	}
	read()
	var out []string
	for _, cmd := range cmds {
		fmt.Fprintf(conn, "%s\r\n", cmd)
		out = append(out, read())
	}
	if strings.HasPrefix(out[len(out)-1], "354") {
		fmt.Fprintf(conn, "Subject: smtptls postfix test\r\n\r\nhello\r\n.\r\n")
		if reply := read(); !strings.HasPrefix(reply, "250") {
			t.Fatalf("message not accepted: %q", reply)
		}
		fmt.Fprintf(conn, "QUIT\r\n")
	}
	return out
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// The target is stored in the generation: `smtptls set` chooses it, a
// later apply without --target configures Postfix, and status and reload
// work on it (a renewal switched in but never reloaded is found and fixed).
func TestPostfixTargetKeptForLaterCommands(t *testing.T) {
	c := newPFCmd(t, postfixtest.Options{})
	one, two := writePKI(t, "one"), writePKI(t, "two")
	if o, e, code := c.run("set", "--config-dir", c.dir, "target=postfix", "postfix.config_dir="+c.pf.ConfigDir, "hostname=mail.example.test"); code != exitOK {
		t.Fatalf("set target=postfix: exit %d\n%s%s", code, o, e)
	}
	args := []string{"apply", "--config-dir", c.dir, "--mode", "available", "--cert", one.cert, "--key", one.key, "--ca", one.ca}
	if o, e, code := c.run(args...); code != exitOK || !strings.Contains(o, "postfix check passed") {
		t.Fatalf("apply without --target: exit %d\n%s%s", code, o, e)
	}
	if got := strings.TrimSpace(c.pf.Postconf("-h", "smtpd_tls_chain_files")); got != filepath.Join(c.dir, "current", config.PostfixChainFile) {
		t.Fatalf("main.cf chain file %q", got)
	}

	// A deploy hook that switches the store and never reloads.
	h := config.Host{Getenv: func(string) string { return "" }, UserConfigDir: os.UserConfigDir}
	l, err := config.Load(c.dir, h)
	if err != nil {
		t.Fatal(err)
	}
	st, err := config.OpenStore(c.dir, h)
	if err != nil {
		t.Fatal(err)
	}
	m := config.Material{CertPEM: two.ch.Leaf.PEM(), KeyPEM: two.ch.Leaf.KeyPEM(), ChainPEM: two.ch.Intermediate.PEM(), CAPEM: two.ch.Root.PEM()}
	chain, err := postfix.ChainPEM(m)
	if err != nil {
		t.Fatal(err)
	}
	m.TargetFiles = map[string][]byte{config.PostfixChainFile: chain}
	gen, err := st.Stage(l.Settings, m)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Activate(gen); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := c.run("status", "--config-dir", c.dir)
	if code != exitFail || !strings.Contains(out, "smtptls reload") || !strings.Contains(out, one.fp[:16]) || !strings.Contains(out, two.fp[:16]) {
		t.Fatalf("status with a renewal never reloaded: exit %d\n%s%s", code, out, errOut)
	}
	if o, e, code := c.run("reload", "--config-dir", c.dir); code != exitOK || !strings.Contains(o, "Postfix reloaded") {
		t.Fatalf("reload: exit %d\n%s%s", code, o, e)
	}
	if o, e, code := c.run("status", "--config-dir", c.dir); code != exitOK {
		t.Fatalf("status after reload: exit %d\n%s%s", code, o, e)
	}
}
