package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/smtptls/smtptls/config"
	"github.com/smtptls/smtptls/internal/testpki"
)

// serveEnv is a config directory written the way the config store writes
// it, driven through the real binary.
type serveEnv struct {
	t   *testing.T
	bin string
	dir string
	ch  *testpki.Chain
	n   int
}

// TestServeCommands builds the binary once for all the serve, reload and
// stop scenarios.
func TestServeCommands(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "smtptls")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Run("detach reload stop", func(t *testing.T) { testServeDetachReloadStop(t, newServeEnv(t, bin)) })
	t.Run("foreground SIGTERM", func(t *testing.T) { testServeForegroundExitsZeroOnSIGTERM(t, newServeEnv(t, bin)) })
	t.Run("usage and start failure", func(t *testing.T) { testServeUsageAndStartFailure(t, newServeEnv(t, bin)) })
	t.Run("kill -9 after 250 and during DATA", func(t *testing.T) { testServeKilledKeepsAcknowledgedMail(t, newServeEnv(t, bin)) })
}

// The real binary, detached, killed with SIGKILL: right after it said 250
// the message is complete in spool/new; killed in the middle of a second
// DATA, nothing partial appears there; and it starts again afterwards.
func testServeKilledKeepsAcknowledgedMail(t *testing.T, s *serveEnv) {
	s.writeGen(config.ModeAvailable, nil)
	if out, e, code := s.run("serve", "--detach", "--config-dir", s.dir); code != 0 {
		t.Fatalf("serve --detach: %d %s%s", code, out, e)
	}
	pidB, err := os.ReadFile(filepath.Join(s.dir, config.PidFile))
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	fmt.Sscan(string(pidB), &pid)
	st := stateOf(t, s)
	c, err := net.DialTimeout("tcp", st, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(c)
	expect := func(send, want string) string {
		t.Helper()
		if send != "" {
			c.Write([]byte(send))
		}
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("after %q: %v", send, err)
			}
			if len(line) > 3 && line[3] == '-' {
				continue
			}
			if !strings.HasPrefix(line, want) {
				t.Fatalf("after %q: %q, want %q", send, line, want)
			}
			return strings.TrimSpace(line)
		}
	}
	expect("", "220 ")
	expect("EHLO kill.example\r\n", "250 ")
	expect("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n", "250 ")
	expect("", "250 ")
	expect("", "354 ")
	body := "Subject: acked\r\n\r\n" + strings.Repeat("line of the acknowledged message\r\n", 100) + "END\r\n"
	id := strings.TrimPrefix(expect(body+".\r\n", "250 2.0.0 Ok: queued as "), "250 2.0.0 Ok: queued as ")
	expect("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n", "250 ")
	expect("", "250 ")
	expect("", "354 ")
	c.Write([]byte("Subject: half\r\n\r\n" + strings.Repeat("partial\r\n", 1000)))
	tmp := filepath.Join(s.dir, "spool", "tmp")
	deadline := time.Now().Add(10 * time.Second)
	for {
		if e, _ := os.ReadDir(tmp); len(e) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the second message never reached spool/tmp")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for running(pid) {
		time.Sleep(5 * time.Millisecond)
	}
	newDir := filepath.Join(s.dir, "spool", "new")
	entries, _ := os.ReadDir(newDir)
	if len(entries) != 1 || entries[0].Name() != id {
		t.Fatalf("spool/new holds %v, want exactly the acknowledged %s", entries, id)
	}
	got, _ := os.ReadFile(filepath.Join(newDir, id))
	if !strings.HasSuffix(string(got), body) {
		t.Fatalf("acknowledged message incomplete: %d bytes", len(got))
	}
	// The stale socket and pid file do not stop a new start.
	if out, e, code := s.run("serve", "--detach", "--config-dir", s.dir, "--log-format", "json"); code != 0 {
		t.Fatalf("restart after kill -9: %d %s%s", code, out, e)
	}
	logB, _ := os.ReadFile(filepath.Join(s.dir, config.LogFile))
	if !strings.Contains(string(logB), `"msg":"listening"`) {
		t.Fatalf("--detach --log-format json did not log JSON:\n%s", logB)
	}
}

func stateOf(t *testing.T, s *serveEnv) string {
	t.Helper()
	out, e, code := s.run("reload", "--config-dir", s.dir, "--json")
	if code != 0 {
		t.Fatalf("reload: %d %s", code, e)
	}
	var res struct{ Listen string }
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Listen == "" {
		t.Fatalf("reload --json: %q %v", out, err)
	}
	return res.Listen
}

func newServeEnv(t *testing.T, bin string) *serveEnv {
	t.Helper()
	dir, err := os.MkdirTemp("", "serve") // short: Unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	s := &serveEnv{t: t, bin: bin, dir: dir, ch: testpki.MustChain(time.Now(), testpki.ECDSAP256, "mail.example.test")}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = exec.CommandContext(ctx, bin, "stop", "--config-dir", dir).Run()
		os.RemoveAll(dir)
	})
	return s
}

func (s *serveEnv) writeGen(mode config.Mode, leaf *testpki.Cert) string {
	s.t.Helper()
	st := config.DefaultSettings(false, "mail.example.test")
	st.Mode = mode
	st.Listen = "127.0.0.1:0"
	s.n++
	gen := fmt.Sprintf("20261128T120000Z-%04d", s.n)
	gdir := filepath.Join(s.dir, config.GenerationsDir, gen)
	if err := os.MkdirAll(gdir, 0o700); err != nil {
		s.t.Fatal(err)
	}
	data, _ := config.MarshalSettings(st)
	files := map[string][]byte{config.SettingsFile: data}
	if mode.NeedsCertificate() {
		if leaf == nil {
			leaf = s.ch.Leaf
		}
		files[config.CertFile] = leaf.PEM()
		files[config.KeyFile] = leaf.KeyPEM()
		files[config.ChainFile] = s.ch.Intermediate.PEM()
		files[config.CAFile] = s.ch.Root.PEM()
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(gdir, name), b, 0o600); err != nil {
			s.t.Fatal(err)
		}
	}
	link := filepath.Join(s.dir, config.CurrentLink)
	os.Remove(link + ".tmp")
	if err := os.Symlink(filepath.Join(config.GenerationsDir, gen), link+".tmp"); err != nil {
		s.t.Fatal(err)
	}
	if err := os.Rename(link+".tmp", link); err != nil {
		s.t.Fatal(err)
	}
	return gen
}

func (s *serveEnv) run(args ...string) (stdout, stderr string, code int) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.bin, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code = 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		s.t.Fatalf("run %v: %v", args, err)
	}
	return o.String(), e.String(), code
}

// served returns the SHA-256 of the leaf a fresh STARTTLS gets.
func (s *serveEnv) served(addr string) string {
	s.t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		s.t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4096)
	readReply := func() string {
		n, err := c.Read(buf)
		if err != nil {
			s.t.Fatal(err)
		}
		return string(buf[:n])
	}
	readReply()
	c.Write([]byte("EHLO t.example\r\n"))
	readReply()
	c.Write([]byte("STARTTLS\r\n"))
	if r := readReply(); !strings.HasPrefix(r, "220 ") {
		s.t.Fatalf("STARTTLS: %q", r)
	}
	roots := x509.NewCertPool()
	roots.AddCert(s.ch.Root.Cert)
	tc := tls.Client(c, &tls.Config{ServerName: "mail.example.test", RootCAs: roots})
	if err := tc.Handshake(); err != nil {
		s.t.Fatal(err)
	}
	sum := sha256.Sum256(tc.ConnectionState().PeerCertificates[0].Raw)
	return hex.EncodeToString(sum[:])
}

func fp(c *testpki.Cert) string {
	sum := sha256.Sum256(c.Cert.Raw)
	return hex.EncodeToString(sum[:])
}

func testServeDetachReloadStop(t *testing.T, s *serveEnv) {
	s.writeGen(config.ModeAvailable, nil)

	out, errOut, code := s.run("serve", "--detach", "--config-dir", s.dir)
	if code != 0 {
		t.Fatalf("serve --detach exit %d: %s%s", code, out, errOut)
	}
	if !strings.Contains(out, "listener started (pid ") || !strings.Contains(out, "mode available") {
		t.Fatalf("serve --detach said %q", out)
	}
	pidB, err := os.ReadFile(filepath.Join(s.dir, config.PidFile))
	if err != nil {
		t.Fatalf("no pid file: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(s.dir, config.ControlSocket)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("control socket: %v %v", fi, err)
	}
	// Detaching twice is refused.
	if _, e, code := s.run("serve", "--detach", "--config-dir", s.dir); code != 2 || !strings.Contains(e, "already running") {
		t.Fatalf("second detach: exit %d %q", code, e)
	}

	leaf2, err := s.ch.Intermediate.Issue(testpki.Template{CommonName: "mail.example.test", DNSNames: []string{"mail.example.test"}})
	if err != nil {
		t.Fatal(err)
	}
	gen2 := s.writeGen(config.ModeRequired, leaf2)
	out, errOut, code = s.run("reload", "--config-dir", s.dir)
	if code != 0 || !strings.Contains(out, "serving generation "+gen2+" in mode required") || !strings.Contains(out, fp(leaf2)) {
		t.Fatalf("reload exit %d: %s%s", code, out, errOut)
	}
	addr := strings.TrimSpace(out[strings.Index(out, " on ")+4 : strings.Index(out, "\n")])
	if got := s.served(addr); got != fp(leaf2) {
		t.Fatalf("served %s after reload", got)
	}

	// A key that does not match: refused, exit 1, and the reason.
	other := testpki.MustChain(time.Now(), testpki.ECDSAP256, "mail.example.test")
	s.writeGen(config.ModeRequired, &testpki.Cert{Cert: leaf2.Cert, Key: other.Leaf.Key})
	out, errOut, code = s.run("reload", "--config-dir", s.dir, "--json")
	if code != 1 || !strings.Contains(out, `"ok": false`) || !strings.Contains(out, "does not belong to the certificate") || !strings.Contains(out, gen2) {
		t.Fatalf("refused reload: exit %d\n%s%s", code, out, errOut)
	}
	if got := s.served(addr); got != fp(leaf2) {
		t.Fatal("a refused reload changed the served certificate")
	}
	_, errOut, code = s.run("reload", "--config-dir", s.dir)
	if code != 1 || !strings.Contains(errOut, "reload refused, still serving generation "+gen2) {
		t.Fatalf("refused reload (text): exit %d %q", code, errOut)
	}

	// SIGHUP to the pid reloads too.
	gen4 := s.writeGen(config.ModeAvailable, nil)
	var pid int
	fmt.Sscan(string(pidB), &pid)
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.served(addr) != fp(s.ch.Leaf) {
		if time.Now().After(deadline) {
			t.Fatalf("SIGHUP did not reload to %s", gen4)
		}
		time.Sleep(20 * time.Millisecond)
	}

	out, errOut, code = s.run("stop", "--config-dir", s.dir)
	if code != 0 || !strings.Contains(out, "listener stopped") {
		t.Fatalf("stop: exit %d %s%s", code, out, errOut)
	}
	if running(pid) {
		t.Fatal("listener process still alive after stop")
	}
	if _, err := os.Stat(filepath.Join(s.dir, config.PidFile)); !os.IsNotExist(err) {
		t.Fatal("pid file left after stop")
	}
	logB, _ := os.ReadFile(filepath.Join(s.dir, config.LogFile))
	if !strings.Contains(string(logB), "msg=reloaded") || !strings.Contains(string(logB), "msg=stopped") {
		t.Fatalf("log file lacks the reload and stop:\n%s", logB)
	}
	if bytes.Contains(logB, []byte("PRIVATE KEY")) {
		t.Fatal("key material in the log")
	}
	if _, errOut, code := s.run("stop", "--config-dir", s.dir); code != 2 || !strings.Contains(errOut, "no smtptls listener is running") {
		t.Fatalf("stop with none running: exit %d %q", code, errOut)
	}
	if _, errOut, code := s.run("reload", "--config-dir", s.dir); code != 2 || !strings.Contains(errOut, "serve --detach") {
		t.Fatalf("reload with none running: exit %d %q", code, errOut)
	}
}

func testServeForegroundExitsZeroOnSIGTERM(t *testing.T, s *serveEnv) {
	s.writeGen(config.ModeDisabled, nil)
	cmd := exec.Command(s.bin, "serve", "--config-dir", s.dir, "--log-format", "json")
	var errBuf bytes.Buffer
	cmd.Stderr = &errBuf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, _, code := s.run("reload", "--config-dir", s.dir); code == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("foreground listener never answered:\n%s", errBuf.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, errBuf.String())
	}
	logs := errBuf.String()
	if !strings.Contains(logs, `"msg":"listening"`) || !strings.Contains(logs, `"msg":"stopped"`) {
		t.Fatalf("JSON log lacks listening/stopped:\n%s", logs)
	}
}

func testServeUsageAndStartFailure(t *testing.T, s *serveEnv) {
	if _, e, code := s.run("serve", "--log-format", "xml", "--config-dir", s.dir); code != 2 || !strings.Contains(e, "use text or json") {
		t.Fatalf("bad --log-format: exit %d %q", code, e)
	}
	if _, _, code := s.run("serve", "--help"); code != 0 {
		t.Fatalf("serve --help exit %d", code)
	}
	for _, c := range []string{"reload", "stop"} {
		if _, _, code := s.run(c, "--help"); code != 0 {
			t.Fatalf("%s --help exit %d", c, code)
		}
		if _, _, code := s.run(c, "extra"); code != 2 {
			t.Fatalf("%s extra: exit %d", c, code)
		}
	}
	// A listen address already taken: --detach reports the listener's own
	// error from its log.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	st := config.DefaultSettings(false, "mail.example.test")
	st.Listen = l.Addr().String()
	gdir := filepath.Join(s.dir, config.GenerationsDir, "20261128T120000Z-0001")
	os.MkdirAll(gdir, 0o700)
	data, _ := config.MarshalSettings(st)
	os.WriteFile(filepath.Join(gdir, config.SettingsFile), data, 0o600)
	os.Symlink(filepath.Join(config.GenerationsDir, "20261128T120000Z-0001"), filepath.Join(s.dir, config.CurrentLink))
	_, e, code := s.run("serve", "--detach", "--config-dir", s.dir)
	if code != 2 || !strings.Contains(e, "exited at start") || !strings.Contains(e, "address already in use") || !strings.Contains(e, "ss -ltnp") {
		t.Fatalf("detach onto a taken port: exit %d %q", code, e)
	}
	if _, err := os.Stat(filepath.Join(s.dir, config.PidFile)); !os.IsNotExist(err) {
		t.Fatal("pid file left by a listener that never started")
	}
}

// running is true for a live process; an unreaped zombie (our container's
// init may not reap) has exited.
func running(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}
