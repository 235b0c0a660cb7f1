package probe_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/smtptls/smtptls/internal/testpki"
	"github.com/smtptls/smtptls/probe"
	"github.com/smtptls/smtptls/probe/probetest"
)

func TestWriteText(t *testing.T) {
	ch := testpki.MustChain(time.Now(), testpki.ECDSAP256, host)
	srv := probetest.Start(t, probetest.Config{Chain: []*testpki.Cert{ch.Leaf, ch.Intermediate, ch.Root}})
	r := run(t, probe.Options{Target: srv.Addr, Hostname: "wrong.example.test", Roots: rootsOf(ch)})
	var plain, color bytes.Buffer
	if err := probe.WriteText(&plain, r, false); err != nil {
		t.Fatal(err)
	}
	probe.WriteText(&color, r, true)
	out := plain.String()
	t.Logf("\n%s", out)
	if strings.Contains(out, "\x1b[") {
		t.Error("plain output has ANSI escapes")
	}
	if !strings.Contains(color.String(), "\x1b[31m✗ FAIL\x1b[0m") {
		t.Error("colored output lacks a red FAIL")
	}
	for _, want := range []string{
		"smtptls verify " + srv.Addr + "  score 65/100",
		"✗ FAIL",
		"! WARN",
		"✓ PASS",
		"Certificates served, in order:",
		"1. CN=" + host,
		"3. CN=smtptls Test Root CA",
		"FAILED: 1 stage failed, 1 warning",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	// Columns line up: every stage row has its RESULT at the same offset.
	col := -1
	for _, line := range strings.Split(out, "\n") {
		for _, lbl := range []string{"✓ PASS", "! WARN", "✗ FAIL", "- SKIP", "RESULT"} {
			if i := strings.Index(line, lbl); i >= 0 && strings.HasPrefix(line, "  ") && !strings.HasPrefix(line, "   ") {
				if col >= 0 && i != col {
					t.Errorf("column of %q at byte %d, want %d: %q", lbl, i, col, line)
				}
				col = i
			}
		}
	}
}

func TestReportJSON(t *testing.T) {
	ch := testpki.MustChain(time.Now(), testpki.ECDSAP256, host)
	srv := probetest.Start(t, probetest.Config{Chain: []*testpki.Cert{ch.Leaf, ch.Intermediate}})
	r := run(t, probe.Options{Target: srv.Addr, Hostname: host, Roots: rootsOf(ch)})
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Target string
		Score  int
		Hosts  []struct {
			Target, Name, Address string
			TLSVersion            string `json:"tls_version"`
			Stages                []struct{ Name, Status, Detail string }
			Served                []struct{ SHA256 string }
		}
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Score != 100 || len(back.Hosts) != 1 || back.Hosts[0].TLSVersion != "TLS 1.3" ||
		back.Hosts[0].Stages[0].Name != "resolve" || back.Hosts[0].Stages[0].Status != "pass" ||
		back.Hosts[0].Served[0].SHA256 != probe.Fingerprint(ch.Leaf.Cert) {
		t.Errorf("JSON round trip: %s", b)
	}
}
