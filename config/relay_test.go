package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseNextHop(t *testing.T) {
	for in, want := range map[string]NextHop{
		"smtp://mail.internal:25":        {URL: "smtp://mail.internal:25", Network: "tcp", Address: "mail.internal:25", Host: "mail.internal"},
		"lmtp://127.0.0.1:24":            {URL: "lmtp://127.0.0.1:24", Network: "tcp", Address: "127.0.0.1:24", Host: "127.0.0.1", LMTP: true},
		"smtp://[::1]:2525":              {URL: "smtp://[::1]:2525", Network: "tcp", Address: "[::1]:2525", Host: "::1"},
		"lmtp+unix:///var/run/lmtp.sock": {URL: "lmtp+unix:///var/run/lmtp.sock", Network: "unix", Address: "/var/run/lmtp.sock", LMTP: true},
		"SMTP://Mail.Internal:25/":       {URL: "SMTP://Mail.Internal:25/", Network: "tcp", Address: "Mail.Internal:25", Host: "Mail.Internal"},
	} {
		got, err := ParseNextHop(in)
		if err != nil || got != want {
			t.Errorf("ParseNextHop(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
}

// Each bad next hop gets a message that names what is wrong.
func TestParseNextHopRefusesWithReason(t *testing.T) {
	for in, want := range map[string]string{
		"":                             "relay.next_hop is empty",
		"mail.internal:25":             `unknown scheme "mail.internal"`,
		"http://mail.internal:25":      `unknown scheme "http"`,
		"smtp://mail.internal":         "needs a host and a port",
		"smtp://mail.internal:0":       "not a number from 1 to 65535",
		"smtp://mail.internal:smtp":    "does not parse",
		"smtp://user@mail.internal:25": "only a host and a port",
		"smtp://mail.internal:25/x":    "only a host and a port",
		"smtp://mail_internal:25":      `"_" is not allowed`,
		"lmtp+unix://var/run/l.sock":   "absolute socket path after three slashes",
		"lmtp+unix:///":                "",
		"smtp://%zz:25":                "does not parse",
	} {
		_, err := ParseNextHop(in)
		if err == nil {
			if in == "lmtp+unix:///" {
				continue // "/" is an absolute path; dialling it fails, with its own message
			}
			t.Errorf("ParseNextHop(%q) accepted", in)
			continue
		}
		if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "relay.next_hop") {
			t.Errorf("ParseNextHop(%q): %v; want it to say %q", in, err, want)
		}
	}
}

func relaySettings() Settings {
	s := DefaultSettings(false, "mx.example.org")
	s.Delivery = DeliveryRelay
	s.Relay.NextHop = "smtp://127.0.0.1:2526"
	s.AcceptDomains = []string{"example.org"}
	return s
}

func TestCheckDelivery(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		mutate func(*Settings)
		want   string // "" accepted
	}{
		"relay":                {func(*Settings) {}, ""},
		"maildir with list":    {func(s *Settings) { s.Delivery = DeliveryMaildir }, ""},
		"maildir without list": {func(s *Settings) { s.Delivery, s.AcceptDomains = DeliveryMaildir, nil }, ""},
		"relay without list":   {func(s *Settings) { s.AcceptDomains = nil }, "needs accept_domains"},
		"relay without hop":    {func(s *Settings) { s.Relay.NextHop = "" }, "relay.next_hop is empty"},
		"unknown delivery":     {func(s *Settings) { s.Delivery = "queue" }, `delivery "queue": use "maildir"`},
		"bad domain":           {func(s *Settings) { s.AcceptDomains = []string{"exa mple.org"} }, `accept_domains: "exa mple.org" is not a domain name`},
		"wildcard":             {func(s *Settings) { s.AcceptDomains = []string{"*.example.org"} }, "wildcards are not supported"},
		"address":              {func(s *Settings) { s.AcceptDomains = []string{"a@example.org"} }, "list the domain only (example.org)"},
		"unknown tls":          {func(s *Settings) { s.Relay.TLS = "encrypt" }, `relay.tls "encrypt": use none, may`},
		"verify by IP":         {func(s *Settings) { s.Relay.TLS = RelayTLSVerify }, "relay.tls = verify needs relay.server_name"},
		"verify bad CA":        {func(s *Settings) { s.Relay.TLS, s.Relay.ServerName, s.Relay.CAFile = RelayTLSVerify, "mx.internal", ca }, "holds no PEM CERTIFICATE block"},
		"verify missing CA": {func(s *Settings) {
			s.Relay.TLS, s.Relay.ServerName, s.Relay.CAFile = RelayTLSVerify, "mx.internal", ca+".gone"
		}, "relay.ca_file: open"},
		"verify system roots": {func(s *Settings) { s.Relay.TLS, s.Relay.ServerName = RelayTLSVerify, "mx.internal" }, ""},
	} {
		s := relaySettings()
		tc.mutate(&s)
		err := s.Check()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: refused: %v", name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v; want it to say %q", name, err, tc.want)
		}
	}
}

// A config.toml from before delivery existed still loads, as maildir; one
// that sets the relay round-trips.
func TestRelaySettingsRoundTrip(t *testing.T) {
	old := []byte("mode = \"disabled\"\nhostname = \"mx.example.org\"\n")
	s, err := UnmarshalSettings(old, DefaultSettings(false, "h"))
	if err != nil || s.RelayMode() || s.Delivery != DeliveryMaildir || s.Check() != nil {
		t.Fatalf("old config.toml: %+v, %v", s, err)
	}
	want := relaySettings()
	want.Relay.TLS = RelayTLSNone
	b, err := MarshalSettings(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := UnmarshalSettings(b, DefaultSettings(false, "h"))
	if err != nil {
		t.Fatal(err)
	}
	if got.Delivery != DeliveryRelay || got.Relay != want.Relay || strings.Join(got.AcceptDomains, ",") != "example.org" {
		t.Fatalf("round trip:\n%s\ngot %+v", b, got)
	}
	for _, key := range []string{`delivery = "relay"`, `accept_domains = ["example.org"]`, "[relay]", `next_hop = "smtp://127.0.0.1:2526"`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("config.toml lacks %s:\n%s", key, b)
		}
	}
}

func TestAcceptsRecipient(t *testing.T) {
	domains := []string{"example.org"}
	for addr, want := range map[string]bool{
		"a@example.org":             true,
		"a@EXAMPLE.ORG.":            true,
		"postmaster":                true,
		"Postmaster@mx.example.org": true,
		"postmaster@gmail.example":  false,
		"a@sub.example.org":         false,
		"a@example.org.evil":        false,
		`"a@example.org"@evil.test`: false,
		"noat":                      false,
	} {
		if got := AcceptsRecipient(domains, "mx.example.org", addr); got != want {
			t.Errorf("AcceptsRecipient(%q) = %v", addr, got)
		}
	}
	if !AcceptsRecipient(nil, "mx.example.org", "anyone@anywhere.example") {
		t.Error("an empty list must accept any domain (maildir without accept_domains)")
	}
}
