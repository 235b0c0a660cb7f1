package main

import (
	"bufio"
	"context"
	"encoding/json"
	"github.com/smtptls/smtptls/internal/loopback"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smtptls/smtptls/config"
)

// secondEnv is another config directory driven by the same binary: the
// next hop of a relaying gateway.
func secondEnv(t *testing.T, a *applyEnv) *applyEnv {
	t.Helper()
	// Not a's port, which a may not have bound yet.
	b := &applyEnv{t: t, bin: a.bin, dir: filepath.Join(t.TempDir(), "hop"), port: loopback.FreePorts(t, 1, a.port)[0]}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		exec.CommandContext(ctx, b.bin, "stop", "--config-dir", b.dir).Run()
	})
	return b
}

// smtpSend delivers one message in plaintext and returns the final reply.
func smtpSend(t *testing.T, addr, rcpt string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(c)
	reply := func() string {
		var last string
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			last = strings.TrimRight(l, "\r\n")
			if len(l) < 4 || l[3] != '-' {
				return last
			}
		}
	}
	reply()
	for _, cmd := range []string{"EHLO client.example", "MAIL FROM:<a@example.org>", "RCPT TO:<" + rcpt + ">", "DATA"} {
		if _, err := c.Write([]byte(cmd + "\r\n")); err != nil {
			t.Fatal(err)
		}
		if rep := reply(); rep[0] != '2' && rep[0] != '3' {
			return rep
		}
	}
	_, _ = c.Write([]byte("Subject: through the gateway\r\n\r\nhello\r\n.\r\n"))
	rep := reply()
	_, _ = c.Write([]byte("QUIT\r\n"))
	return rep
}

func generationCount(t *testing.T, dir string) int {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, config.GenerationsDir))
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// An admin puts the gateway in front of a mail server: apply with
// --delivery relay verifies the next hop, mail flows through it, status
// shows the next hop and the counters, and says so when the next hop is
// gone.
func TestApplyRelayThenStatus(t *testing.T) {
	front := newApplyEnv(t)
	hop := secondEnv(t, front)
	if o, e, code := hop.run("apply", "--config-dir", hop.dir, "--mode", "disabled", "--hostname", "hop.example.test", "--listen", hop.listen()); code != exitOK {
		t.Fatalf("next hop apply: %s%s", o, e)
	}
	next := "smtp://" + hop.listen()
	out, errOut, code := front.run("apply", "--config-dir", front.dir, "--mode", "disabled", "--hostname", "gw.example.test",
		"--listen", front.listen(), "--delivery", "relay", "--next-hop", next, "--accept-domains", "example.test, Example.NET")
	if code != exitOK {
		t.Fatalf("relay apply exit %d:\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "next hop: "+next+" answers EHLO") {
		t.Errorf("verify does not report the next hop:\n%s", out)
	}
	if rep := smtpSend(t, front.listen(), "b@example.test"); !strings.HasPrefix(rep, "250 2.0.0 Ok: queued as ") {
		t.Fatalf("relayed message: %q", rep)
	}
	if rep := smtpSend(t, front.listen(), "b@gmail.example"); rep != "550 5.7.1 Relay access denied" {
		t.Fatalf("foreign recipient: %q", rep)
	}
	stored, _ := os.ReadDir(filepath.Join(hop.dir, "spool", "new"))
	if len(stored) != 1 {
		t.Fatalf("next hop stored %d messages, want 1", len(stored))
	}

	out, errOut, code = front.run("status", "--config-dir", front.dir)
	if code != exitOK {
		t.Fatalf("status exit %d:\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"delivery      relay to " + next + " (tls may)",
		"accepts       example.test, example.net",
		"next hop      reachable: " + next + " answers EHLO (no TLS)",
		"relay         1 relayed, 0 refused by next hop, 0 temp-failed, 1 relay denied",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}

	if o, e, code := hop.run("stop", "--config-dir", hop.dir); code != exitOK {
		t.Fatalf("stop next hop: %s%s", o, e)
	}
	if rep := smtpSend(t, front.listen(), "b@example.test"); rep != "451 4.4.1 Next hop not reachable, try again later" {
		t.Fatalf("with the next hop down: %q", rep)
	}
	out, errOut, code = front.run("status", "--config-dir", front.dir, "--json")
	if code != exitFail {
		t.Fatalf("status with the next hop down: exit %d, want %d\n%s%s", code, exitFail, out, errOut)
	}
	var st struct {
		NextHop struct {
			Reachable bool   `json:"reachable"`
			Detail    string `json:"detail"`
		} `json:"next_hop"`
		Listener struct {
			Relay map[string]int `json:"relay"`
		} `json:"listener"`
		NeedsAttention []string `json:"needs_attention"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	if st.NextHop.Reachable || !strings.Contains(st.NextHop.Detail, "connection refused") ||
		st.Listener.Relay["temp_failed"] != 1 || st.Listener.Relay["relayed"] != 1 ||
		!strings.Contains(strings.Join(st.NeedsAttention, "\n"), "the next hop "+next+" is not reachable") {
		t.Errorf("status --json with the next hop down:\n%s", out)
	}
}

// Bad relay input is refused with what is wrong, and nothing is written;
// a next hop that fails verify rolls the apply back.
func TestApplyRelayRefusals(t *testing.T) {
	a := newApplyEnv(t)
	if o, e, code := a.run("apply", "--config-dir", a.dir, "--mode", "disabled", "--hostname", "gw.example.test", "--listen", a.listen()); code != exitOK {
		t.Fatalf("first apply: %s%s", o, e)
	}
	gens := generationCount(t, a.dir)
	down := "smtp://127.0.0.1:" + strconv.Itoa(loopback.FreePort(t))
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"relay without domains", []string{"--delivery", "relay", "--next-hop", down}, "needs accept_domains"},
		{"unknown scheme", []string{"--delivery", "relay", "--next-hop", "ftp://mail.internal:21", "--accept-domains", "example.test"}, `unknown scheme "ftp"`},
		{"no port", []string{"--delivery", "relay", "--next-hop", "smtp://mail.internal", "--accept-domains", "example.test"}, "needs a host and a port"},
		{"bad domain", []string{"--accept-domains", "example.test,exa mple.org"}, `"exa mple.org" is not a domain name`},
		{"unknown delivery", []string{"--delivery", "queue"}, `delivery "queue"`},
		{"unknown tls", []string{"--delivery", "relay", "--next-hop", down, "--accept-domains", "example.test", "--next-hop-tls", "encrypt"}, `relay.tls "encrypt"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"apply", "--config-dir", a.dir, "--mode", "disabled"}, c.args...)
			out, errOut, code := a.run(args...)
			if code != exitFail || !strings.Contains(out+errOut, c.want) {
				t.Errorf("exit %d (want %d), output lacks %q:\n%s%s", code, exitFail, c.want, out, errOut)
			}
			if n := generationCount(t, a.dir); n != gens {
				t.Errorf("a refused apply wrote a generation (%d, was %d)", n, gens)
			}
		})
	}
	before, _ := config.CurrentGeneration(a.dir)
	out, errOut, code := a.run("apply", "--config-dir", a.dir, "--mode", "disabled", "--delivery", "relay", "--next-hop", down, "--accept-domains", "example.test")
	if code != exitFail || !strings.Contains(out, "does not answer as relaying needs") || !strings.Contains(out, "rollback") {
		t.Fatalf("apply with an unreachable next hop: exit %d\n%s%s", code, out, errOut)
	}
	if cur, _ := config.CurrentGeneration(a.dir); cur != before {
		t.Errorf("after the rollback generation %s is current, want %s", cur, before)
	}
}
