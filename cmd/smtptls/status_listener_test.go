package main

import (
	"bufio"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// status reports the spool (free space, mail in spool/new and its age,
// crash leftovers in spool/tmp), the TLS policy and the connections, and
// exits 1 while the spool's file system is under limits.min_free_bytes,
// when the listener answers MAIL with 452 4.3.1 (issue 9, findings 6, 7).
func TestStatusReportsSpoolTLSPolicyAndLowDisk(t *testing.T) {
	a := newApplyEnv(t)
	one := writePKI(t, "one")
	a.mustApply("available", one)
	spool := filepath.Join(a.dir, "spool")
	for name, age := range map[string]time.Duration{"new/m1": 3 * time.Hour, "new/m2": time.Minute, "tmp/crash": 2 * time.Hour} {
		p := filepath.Join(spool, name)
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		at := time.Now().Add(-age)
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
	}
	out, errOut, code := a.run("status", "--config-dir", a.dir)
	if code != exitOK {
		t.Fatalf("status: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"spool free", "2 messages in spool/new, the oldest 3h0m", "1 crash leftovers in spool/tmp",
		"tls policy    TLS 1.2 and up, TLS 1.2 with AEAD suites only, session tickets on (keys rotated daily)", "connections   "} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	out, _, _ = a.run("status", "--config-dir", a.dir, "--json")
	var js struct {
		Operations struct {
			TLSPolicy string `json:"tls_policy"`
			Spool     struct {
				FreeBytes    uint64 `json:"free_bytes"`
				New          int    `json:"messages_in_new"`
				TmpLeftovers int    `json:"tmp_leftovers"`
			} `json:"spool"`
			Pressure struct {
				Connections    int  `json:"connections"`
				MaxConnections int  `json:"max_connections"`
				Stress         bool `json:"stress"`
			} `json:"pressure"`
		} `json:"operations"`
		Running bool `json:"running"`
	}
	if err := json.Unmarshal([]byte(out), &js); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	if o := js.Operations; !js.Running || o.Spool.New != 2 || o.Spool.TmpLeftovers != 1 || o.Spool.FreeBytes == 0 || o.TLSPolicy == "" || o.Pressure.MaxConnections != 1000 {
		t.Fatalf("status --json operations: %+v", js)
	}

	// The TLS policy is a setting like any other, and status shows it.
	if o, e, code := a.run("set", "--config-dir", a.dir, "tls.min_version=1.3", "tls.session_tickets=false"); code != exitOK {
		t.Fatalf("set tls.min_version=1.3: exit %d\n%s%s", code, o, e)
	}
	if out, _, _ := a.run("status", "--config-dir", a.dir); !strings.Contains(out, "tls policy    TLS 1.3 and up, session tickets off") {
		t.Fatalf("status after set tls.min_version=1.3:\n%s", out)
	}

	// The disk "fills": a limit no disk meets.
	if o, e, code := a.run("set", "--config-dir", a.dir, "limits.min_free_bytes=4611686018427387904"); code != exitOK {
		t.Fatalf("set: exit %d\n%s%s", code, o, e)
	}
	out, _, code = a.run("status", "--config-dir", a.dir)
	if code != exitFail || !strings.Contains(out, "under limits.min_free_bytes") || !strings.Contains(out, "452 4.3.1") {
		t.Fatalf("status with the spool under min_free_bytes: exit %d\n%s", code, out)
	}
	c, err := net.DialTimeout("tcp", a.listen(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	read := func() string {
		var last string
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if len(l) < 4 || l[3] != '-' {
				return last + l
			}
		}
	}
	read()
	c.Write([]byte("EHLO full.example\r\n"))
	read()
	c.Write([]byte("MAIL FROM:<a@example.org>\r\n"))
	if got := read(); !strings.HasPrefix(got, "452 4.3.1 ") {
		t.Fatalf("MAIL with the spool under min_free_bytes: %q", got)
	}
}
