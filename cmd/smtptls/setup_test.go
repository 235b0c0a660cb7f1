package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/smtptls/smtptls/config"
)

func setupRun(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, host: config.ThisHost()}
	code = run(context.Background(), e, args)
	return code, out.String(), errb.String()
}

func TestSetupCommandLine(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"help", []string{"setup", "--help"}, exitOK, "Opens the setup wizard"},
		{"flags without a command open the wizard", []string{"--config-dir", t.TempDir(), "--help"}, exitOK, "--listen"},
		{"not a terminal", []string{"setup", "--config-dir", t.TempDir()}, exitUsage, "the wizard needs a terminal; in scripts use 'smtptls apply'"},
		{"no command, not a terminal", nil, exitUsage, "the wizard needs a terminal"},
		{"bad listen", []string{"setup", "--listen", "2525"}, exitUsage, "write it like 127.0.0.1:2525"},
		{"stray argument", []string{"setup", "extra"}, exitUsage, `unexpected argument "extra"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := setupRun(t, tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit %d and %q", code, errOut, tc.code, tc.want)
			}
		})
	}
}

func TestVerifyCommandReachesTheListenerLocally(t *testing.T) {
	for listen, want := range map[string]string{
		":25":            "smtptls verify --ca /etc/smtptls/current/ca.pem --hostname mx.example.org 127.0.0.1:25",
		"0.0.0.0:25":     "smtptls verify --ca /etc/smtptls/current/ca.pem --hostname mx.example.org 127.0.0.1:25",
		"192.0.2.7:2525": "smtptls verify --ca /etc/smtptls/current/ca.pem --hostname mx.example.org 192.0.2.7:2525",
		"[::1]:2525":     "smtptls verify --ca /etc/smtptls/current/ca.pem --hostname mx.example.org [::1]:2525",
	} {
		if got := verifyCommand("/etc/smtptls", listen, "mx.example.org", config.ModeAvailable); got != want {
			t.Errorf("listen %s: %s, want %s", listen, got, want)
		}
	}
	if got := verifyCommand("/home/a b/cfg", "127.0.0.1:2525", "mx", config.ModeAvailable); !strings.Contains(got, "'/home/a b/cfg/current/ca.pem'") {
		t.Errorf("path with a space not quoted: %s", got)
	}
	if got := verifyCommand("/etc/smtptls", ":25", "mx", config.ModeRequired); got != "smtptls verify --ca /etc/smtptls/current/ca.pem --hostname mx --required 127.0.0.1:25" {
		t.Errorf("required mode: %s", got)
	}
}

func TestDarkBackgroundFromCOLORFGBG(t *testing.T) {
	for v, want := range map[string]bool{"": true, "15;0": true, "0;15": false, "0;default;7": false, "garbage": true} {
		if got := darkBackground(v); got != want {
			t.Errorf("COLORFGBG=%q: dark %v, want %v", v, got, want)
		}
	}
}
