package config

import (
	"strings"
	"testing"
	"time"
)

func TestSetKeyReachesEveryTomlKey(t *testing.T) {
	s := DefaultSettings(false, "mail.example.test")
	for key, value := range map[string]string{
		"listen":                        "127.0.0.1:2600",
		"limits.max_connections_per_ip": "7",
		"limits.command_timeout":        "2m",
		"mode":                          "Available",
		"limits.max_message_bytes":      "1048576",
	} {
		if err := SetKey(&s, key, value); err != nil {
			t.Fatalf("set %s=%s: %v", key, value, err)
		}
	}
	if s.Listen != "127.0.0.1:2600" || s.Limits.MaxConnectionsPerIP != 7 || s.Limits.CommandTimeout.Duration != 2*time.Minute ||
		s.Mode != ModeAvailable || s.Limits.MaxMessageBytes != 1<<20 {
		t.Errorf("settings after set: %+v", s)
	}
	for _, k := range SettingKeys() {
		v, ok := GetKey(s, k)
		if !ok {
			t.Fatalf("key %s listed but not found", k)
		}
		// Every listed key takes back what it shows.
		if err := SetKey(&s, k, v); err != nil {
			t.Errorf("set %s=%s (its own value): %v", k, v, err)
		}
	}
	err := SetKey(&s, "limits.max_conections", "5")
	if err == nil || !strings.Contains(err.Error(), "limits.max_connections") {
		t.Errorf("unknown key: %v", err)
	}
}

func TestSaneRefusesWhatBreaksTheGateway(t *testing.T) {
	for _, c := range []struct{ key, value, want string }{
		{"limits.command_timeout", "1ns", "under 1s"},
		{"limits.max_recipients", "0", "under 1"},
		{"hostname", "", "hostname"},
		{"hostname", "-bad.example", "not a DNS name"},
	} {
		s := DefaultSettings(false, "mail.example.test")
		if err := SetKey(&s, c.key, c.value); err != nil {
			t.Fatalf("set %s: %v", c.key, err)
		}
		if err := s.Sane(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s=%q: Sane() = %v, want %q", c.key, c.value, err, c.want)
		}
	}
	if err := DefaultSettings(true, "mail.example.test").Sane(); err != nil {
		t.Errorf("defaults are not sane: %v", err)
	}
}
