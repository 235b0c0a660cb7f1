package config

import (
	"fmt"
	"os"
	"path/filepath"
)

// Names of the files in a config directory and in each generation.
const (
	CurrentLink    = "current"     // symlink to the live generation
	GenerationsDir = "generations" // one subdirectory per apply
	LockFile       = "apply.lock"
	ControlSocket  = "control.sock"
	PidFile        = "smtpd.pid"
	LogFile        = "smtpd.log"

	SettingsFile = "config.toml"
	CertFile     = "cert.pem"  // the leaf alone
	KeyFile      = "key.pem"   // PKCS#8, 0600
	ChainFile    = "chain.pem" // intermediates served after the leaf, root left out
	CAFile       = "ca.pem"    // roots / anchors, for verification only
)

// EnvConfigDir overrides the default config directory.
const EnvConfigDir = "SMTPTLS_CONFIG_DIR"

// Host is what the default config directory depends on; tests pass their own.
type Host struct {
	Root   bool                // running as root (euid 0)
	Getenv func(string) string // os.Getenv
	// UserConfigDir is os.UserConfigDir ($XDG_CONFIG_HOME or ~/.config).
	UserConfigDir func() (string, error)
}

// ThisHost describes the running process.
func ThisHost() Host {
	return Host{Root: os.Geteuid() == 0, Getenv: os.Getenv, UserConfigDir: os.UserConfigDir}
}

// ResolveDir picks the config directory: the --config-dir flag, then
// $SMTPTLS_CONFIG_DIR, then /etc/smtptls for root, then the user's config
// directory.
func ResolveDir(flag string, h Host) (string, error) {
	if flag != "" {
		return filepath.Abs(flag)
	}
	if v := h.Getenv(EnvConfigDir); v != "" {
		return filepath.Abs(v)
	}
	if h.Root {
		return "/etc/smtptls", nil
	}
	base, err := h.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find a config directory: %w (pass --config-dir or set %s)", err, EnvConfigDir)
	}
	return filepath.Join(base, "smtptls"), nil
}
