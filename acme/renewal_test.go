package acme

import (
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-acme/lego/v5/acme/api"
	"github.com/smtptls/smtptls/internal/testpki"
)

func leafExpiring(t *testing.T, notAfter time.Time) *x509.Certificate {
	t.Helper()
	root, err := testpki.NewRoot(testpki.Template{CommonName: "Test Root"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := root.Issue(testpki.Template{CommonName: testName, DNSNames: []string{testName}, NotBefore: notAfter.AddDate(0, 0, -90), NotAfter: notAfter})
	if err != nil {
		t.Fatal(err)
	}
	return c.Cert
}

func TestDueByDaysLeft(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	noARI := func() (time.Time, time.Time, time.Duration, error) { return time.Time{}, time.Time{}, 0, api.ErrNoARI }
	for _, tc := range []struct {
		left time.Duration
		due  bool
		word string
	}{
		{31 * 24 * time.Hour, false, "not due"},
		{30*24*time.Hour + time.Minute, false, "not due"},
		{30 * 24 * time.Hour, true, "expires in 30 days"},
		{24 * time.Hour, true, "expires in 1 days"},
		{-time.Hour, true, "expired"},
	} {
		var st State
		due, why := Due(leafExpiring(t, now.Add(tc.left)), now, &st, noARI)
		if due != tc.due || !strings.Contains(why, tc.word) {
			t.Errorf("%v left: due %v (%s), want %v and %q", tc.left, due, why, tc.due, tc.word)
		}
	}
	if due, why := Due(nil, now, &State{}, nil); !due || !strings.Contains(why, "no certificate") {
		t.Errorf("no certificate: due %v %s", due, why)
	}
}

func TestDueByRenewalInfoIsAskedOncePerRetry(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	leaf := leafExpiring(t, now.AddDate(0, 0, 60))
	asked := 0
	window := func(start time.Time) func() (time.Time, time.Time, time.Duration, error) {
		return func() (time.Time, time.Time, time.Duration, error) {
			asked++
			return start, start.Add(time.Hour), 6 * time.Hour, nil
		}
	}
	var st State
	// The CA wants it renewed already (a revocation, say).
	if due, why := Due(leaf, now, &st, window(now.Add(-2*time.Hour))); !due || !strings.Contains(why, "renewal information") {
		t.Fatalf("ARI window in the past: due %v (%s)", due, why)
	}
	// A window in the future: not due, and the answer is kept for 6 hours.
	st = State{}
	asked = 0
	future := window(now.Add(10 * 24 * time.Hour))
	if due, _ := Due(leaf, now, &st, future); due {
		t.Fatal("ARI window in ten days: due now")
	}
	if st.NextTry.After(now.Add(10*24*time.Hour+time.Hour)) || st.NextTry.Before(now.Add(10*24*time.Hour)) {
		t.Errorf("next try %v, want within the ARI window", st.NextTry)
	}
	Due(leaf, now.Add(time.Hour), &st, future)
	if asked != 1 {
		t.Errorf("the CA was asked %d times within its Retry-After, want once", asked)
	}
	Due(leaf, now.Add(7*time.Hour), &st, future)
	if asked != 2 {
		t.Errorf("the CA was asked %d times after its Retry-After passed, want twice", asked)
	}
	// The window arrives: due, without asking again.
	if due, _ := Due(leaf, now.Add(10*24*time.Hour+2*time.Hour), &st, func() (time.Time, time.Time, time.Duration, error) {
		return time.Time{}, time.Time{}, 0, errors.New("offline")
	}); !due {
		t.Error("inside the ARI window: not due")
	}
}

func TestDueWithoutRenewalInfoAsksWeekly(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	leaf := leafExpiring(t, now.AddDate(0, 0, 60))
	asked := 0
	none := func() (time.Time, time.Time, time.Duration, error) {
		asked++
		return time.Time{}, time.Time{}, 0, api.ErrNoARI
	}
	var st State
	for h := 0; h < 24*6; h += 12 {
		if due, _ := Due(leaf, now.Add(time.Duration(h)*time.Hour), &st, none); due {
			t.Fatal("due without ARI 60 days before expiry")
		}
	}
	if asked != 1 {
		t.Errorf("a CA without ARI was asked %d times in six days, want once", asked)
	}
	if want := leaf.NotAfter.AddDate(0, 0, -RenewDays); !st.NextTry.Equal(want) {
		t.Errorf("next try %v, want %v", st.NextTry, want)
	}
}

func TestSettingsCheckSaysWhatToPass(t *testing.T) {
	base := Settings{Email: "a@example.test", Domains: []string{testName}}.WithDefaults()
	for _, tc := range []struct {
		edit func(*Settings)
		want string
	}{
		{func(s *Settings) { s.Domains = nil }, "no --domain given"},
		{func(s *Settings) { s.Domains = []string{"http://mail.example.test"} }, "is not a host name"},
		{func(s *Settings) { s.Domains = []string{"*.example.test"} }, "only be validated with --challenge dns-01"},
		{func(s *Settings) { s.Email = "postmaster" }, "--email"},
		{func(s *Settings) { s.Challenge = "smtp-25" }, "ACME cannot validate over port 25"},
		{func(s *Settings) { s.Challenge = DNS01 }, "--dns-hook PROGRAM"},
		{func(s *Settings) { s.KeyType = "ed25519" }, "use ec256 or rsa2048"},
		{func(s *Settings) { s.Server = "http://ca.example" }, "starts with https://"},
	} {
		s := base
		tc.edit(&s)
		if err := s.Check(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", s, err, tc.want)
		}
	}
	if err := base.Check(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	w := base
	w.Challenge, w.DNSHook, w.Domains = DNS01, "/bin/true", []string{"*.example.test"}
	if err := w.Check(); err != nil {
		t.Errorf("wildcard with dns-01: %v", err)
	}
}
