// Package postfixtest starts private Postfix instances for tests: their own
// config, queue and data directories under a temp dir, smtpd on a free
// loopback port, every message discarded. The system Postfix (if any) is
// never touched; every process of an instance is ended when the test ends.
package postfixtest

import (
	"bytes"
	"context"
	"fmt"
	"github.com/smtptls/smtptls/internal/loopback"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Instance is one running private Postfix.
type Instance struct {
	t testing.TB
	// Base holds everything: etc/ (the config directory), queue/, data/,
	// maillog.
	Base      string
	ConfigDir string
	Port      int
	Log       string
}

// Addr is where its smtpd listens.
func (i *Instance) Addr() string { return "127.0.0.1:" + strconv.Itoa(i.Port) }

// Options shape an instance.
type Options struct {
	// Main are extra main.cf lines (name = value), applied after the base.
	Main map[string]string
	// NoStart leaves the instance configured but stopped.
	NoStart bool
	// SMTPDArgs are added to the smtpd command in master.cf (-o name=value).
	SMTPDArgs string
}

// Skip ends the test when no private Postfix can run here, with the reason.
func Skip(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("a private Postfix needs root (postfix start refuses others)")
	}
	for _, tool := range []string{"postfix", "postconf"} {
		if _, err := exec.LookPath(tool); err != nil {
			if _, err := exec.LookPath("/usr/sbin/" + tool); err != nil {
				t.Skipf("%s not installed (apt-get install postfix, preseeded with 'No configuration')", tool)
			}
		}
	}
}

// Postconf is the postconf to run.
func Postconf() string { return tool("postconf") }

// PostfixCmd is the postfix command to run.
func PostfixCmd() string { return tool("postfix") }

func tool(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	return "/usr/sbin/" + name
}

// services are the internal services a running instance needs; the smtpd
// line is put in front with its port.
const services = `pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
`

// Start configures and starts a private Postfix, skipping the test when
// none can run here. It is stopped, and every process of it killed, when
// the test ends.
func Start(t testing.TB, o Options) *Instance {
	t.Helper()
	Skip(t)
	base := privateTempDir(t)
	i := &Instance{t: t, Base: base, ConfigDir: filepath.Join(base, "etc"), Port: loopback.FreePort(t), Log: filepath.Join(base, "maillog")}
	for _, d := range []string{i.ConfigDir, filepath.Join(base, "queue"), filepath.Join(base, "data")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(filepath.Join(base, "data"), postfixUID(t), -1); err != nil {
		t.Fatal(err)
	}
	main := map[string]string{
		"compatibility_level":      "3.6",
		"queue_directory":          filepath.Join(base, "queue"),
		"data_directory":           filepath.Join(base, "data"),
		"mail_owner":               "postfix",
		"setgid_group":             "postdrop",
		"maillog_file":             i.Log,
		"maillog_file_prefixes":    base,
		"inet_interfaces":          "127.0.0.1",
		"inet_protocols":           "ipv4",
		"myhostname":               "mail.example.test",
		"mydestination":            "",
		"alias_maps":               "",
		"alias_database":           "",
		"local_recipient_maps":     "",
		"local_transport":          "discard",
		"default_transport":        "discard",
		"relay_transport":          "discard",
		"mynetworks":               "127.0.0.0/8",
		"smtpd_relay_restrictions": "permit_mynetworks, reject",
		"smtpd_tls_security_level": "none",
	}
	for k, v := range o.Main {
		main[k] = v
	}
	var mc bytes.Buffer
	for _, k := range sortedKeys(main) {
		fmt.Fprintf(&mc, "%s = %s\n", k, main[k])
	}
	master := strings.TrimSpace(fmt.Sprintf("127.0.0.1:%d inet n - n - - smtpd %s", i.Port, o.SMTPDArgs)) + "\n" + services
	if err := os.WriteFile(filepath.Join(i.ConfigDir, "main.cf"), mc.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(i.ConfigDir, "master.cf"), []byte(master), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(i.kill)
	if !o.NoStart {
		i.Start()
	}
	return i
}

// Start starts the instance and waits for smtpd to answer.
func (i *Instance) Start() {
	i.t.Helper()
	if out, err := i.postfix("start"); err != nil {
		i.t.Fatalf("postfix start: %v\n%s\nmaillog:\n%s", err, out, i.MailLog())
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", i.Addr(), time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			i.t.Fatalf("private postfix does not answer on %s: %v\nmaillog:\n%s", i.Addr(), err, i.MailLog())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop stops the instance (postfix stop).
func (i *Instance) Stop() {
	i.t.Helper()
	if out, err := i.postfix("stop"); err != nil {
		i.t.Fatalf("postfix stop: %v\n%s", err, out)
	}
}

func (i *Instance) postfix(args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return exec.CommandContext(ctx, PostfixCmd(), append([]string{"-c", i.ConfigDir}, args...)...).CombinedOutput()
}

// Postconf runs postconf -c DIR with args and returns its output.
func (i *Instance) Postconf(args ...string) string {
	i.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, Postconf(), append([]string{"-c", i.ConfigDir}, args...)...).CombinedOutput()
	if err != nil {
		i.t.Fatalf("postconf %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// MailLog is what the instance logged so far.
func (i *Instance) MailLog() string {
	b, _ := os.ReadFile(i.Log)
	return string(b)
}

// MainCF is main.cf as it is on disk now.
func (i *Instance) MainCF() []byte {
	i.t.Helper()
	b, err := os.ReadFile(filepath.Join(i.ConfigDir, "main.cf"))
	if err != nil {
		i.t.Fatal(err)
	}
	return b
}

// kill stops the instance and then ends, by pid, every process that still
// carries its MAIL_CONFIG (a master that did not stop, smtpd processes
// still in a session).
func (i *Instance) kill() {
	i.postfix("stop")
	for _, pid := range Pids(i.ConfigDir) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// Pids lists the processes whose environment names configDir as
// MAIL_CONFIG: every process a Postfix started with -c configDir runs.
func Pids(configDir string) []int {
	want := []byte("MAIL_CONFIG=" + configDir)
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue
		}
		for _, kv := range bytes.Split(env, []byte{0}) {
			if bytes.Equal(kv, want) {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// privateTempDir is a temp dir the postfix user can traverse (t.TempDir's
// are 0700 root): its queue and data directories live inside.
func privateTempDir(t testing.TB) string {
	t.Helper()
	d := t.TempDir()
	for p := d; p != os.TempDir() && p != "/" && p != "."; p = filepath.Dir(p) {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if filepath.Dir(p) == os.TempDir() {
			break
		}
	}
	return d
}

func postfixUID(t testing.TB) int {
	t.Helper()
	out, err := exec.Command("id", "-u", "postfix").Output()
	if err != nil {
		t.Skipf("no postfix user: %v", err)
	}
	uid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatal(err)
	}
	return uid
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
