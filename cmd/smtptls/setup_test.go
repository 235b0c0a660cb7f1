package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
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
		{"not a terminal", []string{"setup", "--config-dir", t.TempDir()}, exitUsage, "the wizard needs a terminal, and this is none.\nThe same job without the wizard:\n  smtptls validate --cert FILE"},
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
	dir := filepath.Join(t.TempDir(), "a b") // a path that needs quoting
	gen := filepath.Join(dir, "generations", "g1")
	if err := os.MkdirAll(gen, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("generations", "g1"), filepath.Join(dir, config.CurrentLink)); err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(gen, config.CAFile)
	if err := os.WriteFile(ca, []byte("-----BEGIN CERTIFICATE-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	quoted := shellQuote(filepath.Join(dir, config.CurrentLink, config.CAFile))
	if !strings.HasPrefix(quoted, "'") {
		t.Fatalf("test path %s should need quoting", quoted)
	}
	for listen, want := range map[string]string{
		":25":            "smtptls verify --hostname mx.example.org --ca " + quoted + " 127.0.0.1:25",
		"0.0.0.0:25":     "smtptls verify --hostname mx.example.org --ca " + quoted + " 127.0.0.1:25",
		"192.0.2.7:2525": "smtptls verify --hostname mx.example.org --ca " + quoted + " 192.0.2.7:2525",
		"[::1]:2525":     "smtptls verify --hostname mx.example.org --ca " + quoted + " [::1]:2525",
	} {
		if got := verifyCommand(dir, listen, "mx.example.org", config.ModeAvailable); got != want {
			t.Errorf("listen %s: %s, want %s", listen, got, want)
		}
	}
	if got, want := verifyCommand(dir, ":25", "mx", config.ModeRequired), "smtptls verify --hostname mx --ca "+quoted+" --required 127.0.0.1:25"; got != want {
		t.Errorf("required mode: %s, want %s", got, want)
	}
	// No bundle pasted: an empty ca.pem is nothing to trust, so the command
	// checks against the system roots like a sending server.
	if err := os.WriteFile(ca, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, want := verifyCommand(dir, ":25", "mx", config.ModeAvailable), "smtptls verify --hostname mx 127.0.0.1:25"; got != want {
		t.Errorf("empty bundle: %s, want %s", got, want)
	}
	if err := os.Remove(ca); err != nil {
		t.Fatal(err)
	}
	if got, want := verifyCommand(dir, ":25", "mx", config.ModeAvailable), "smtptls verify --hostname mx 127.0.0.1:25"; got != want {
		t.Errorf("no ca.pem: %s, want %s", got, want)
	}
}

func TestDarkBackgroundFromCOLORFGBG(t *testing.T) {
	for v, want := range map[string]bool{"": true, "15;0": true, "0;15": false, "0;default;7": false, "garbage": true} {
		if got := darkBackground(v); got != want {
			t.Errorf("COLORFGBG=%q: dark %v, want %v", v, got, want)
		}
	}
}
