package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/smtptls/smtptls/smtpd"
)

// Under stress, status says so, since when, and which networks hold the
// most connections (issue 9, finding 1).
func TestStatusShowsStressAndItsNetworks(t *testing.T) {
	since := time.Date(2026, 12, 1, 14, 0, 5, 0, time.UTC)
	r := listenerReport{Pressure: &smtpd.Pressure{Connections: 950, MaxConnections: 1000, Stress: true, StressSince: &since,
		TopNetworks: []smtpd.NetworkCount{{Network: "192.0.2.0/24", Connections: 400}, {Network: "2001:db8:1:2::/64", Connections: 90}}}}
	var b bytes.Buffer
	r.writer(false, since.Add(time.Minute))(&b)
	out := b.String()
	for _, want := range []string{"950 of 1000, UNDER STRESS since 14:00:05 UTC", "192.0.2.0/24: 400", "2001:db8:1:2::/64: 90"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	r.Pressure.Stress = false
	r.writer(false, since)(&b)
	if strings.Contains(b.String(), "STRESS") || !strings.Contains(b.String(), "connections   950 of 1000") {
		t.Errorf("without stress:\n%s", b.String())
	}
}
