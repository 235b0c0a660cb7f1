package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadEmptyDirectoryGivesDefaults(t *testing.T) {
	l, err := Load(filepath.Join(t.TempDir(), "missing"), testHost())
	if err != nil {
		t.Fatal(err)
	}
	if l.Generation != "" || l.Settings.Mode != ModeDisabled || l.Settings.Listen != "127.0.0.1:2525" {
		t.Errorf("defaults: %+v", l.Settings)
	}
}

func TestLoadGenerationMissingKey(t *testing.T) {
	s, dir := openTestStore(t)
	gen := stageActivate(t, s, ModeAvailable, "a")
	os.Remove(filepath.Join(dir, GenerationsDir, gen, KeyFile))
	_, err := Load(dir, testHost())
	if err == nil || !strings.Contains(err.Error(), KeyFile) {
		t.Errorf("load without key: %v", err)
	}
}

func TestLoadRejectsUnknownSetting(t *testing.T) {
	s, dir := openTestStore(t)
	gen := stageActivate(t, s, ModeDisabled, "a")
	p := filepath.Join(dir, GenerationsDir, gen, SettingsFile)
	os.Chmod(p, 0o600)
	os.WriteFile(p, []byte("mode = \"disabled\"\nlisten_adress = \"x\"\n"), 0o600)
	if _, err := Load(dir, testHost()); err == nil || !strings.Contains(err.Error(), "listen_adress") {
		t.Errorf("typo in config.toml: %v", err)
	}
}

func TestResolveDirOrder(t *testing.T) {
	h := Host{Getenv: func(k string) string {
		if k == EnvConfigDir {
			return "/from/env"
		}
		return ""
	}, UserConfigDir: func() (string, error) { return "/home/u/.config", nil }}
	if d, _ := ResolveDir("/flag", h); d != "/flag" {
		t.Errorf("flag: %s", d)
	}
	if d, _ := ResolveDir("", h); d != "/from/env" {
		t.Errorf("env: %s", d)
	}
	h.Getenv = func(string) string { return "" }
	if d, _ := ResolveDir("", h); d != "/home/u/.config/smtptls" {
		t.Errorf("user: %s", d)
	}
	h.Root = true
	if d, _ := ResolveDir("", h); d != "/etc/smtptls" {
		t.Errorf("root: %s", d)
	}
}
