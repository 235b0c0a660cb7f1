package config

import (
	"fmt"
	"path/filepath"
)

// Targets: what a generation is made live on.
const (
	TargetBundled = "bundled" // the bundled listener (smtptls serve)
	TargetPostfix = "postfix" // the Postfix installed on this machine
)

// DefaultPostfixDir is where a packaged Postfix keeps main.cf.
const DefaultPostfixDir = "/etc/postfix"

// PostfixChainFile is the one file a Postfix target loads: key, leaf and
// chain, 0600. main.cf names it through the current link, so a certificate
// change is a switch and a reload.
const PostfixChainFile = "postfix-chain.pem"

// PostfixPreviousFile records, per generation, the main.cf parameters as
// they were before that generation was applied (for rollback).
const PostfixPreviousFile = "postfix-previous.json"

// PostfixSettings say which Postfix a postfix target configures.
type PostfixSettings struct {
	// ConfigDir is the directory of its main.cf ("" is /etc/postfix).
	ConfigDir string `toml:"config_dir,omitempty" json:"config_dir,omitempty"`
}

// TargetName is the target, "bundled" when none is set.
func (s Settings) TargetName() string {
	if s.Target == "" {
		return TargetBundled
	}
	return s.Target
}

// PostfixDir is the Postfix config directory a postfix target uses.
func (s Settings) PostfixDir() string {
	if s.Postfix.ConfigDir == "" {
		return DefaultPostfixDir
	}
	return s.Postfix.ConfigDir
}

func (s Settings) checkTarget() error {
	switch s.Target {
	case "", TargetBundled, TargetPostfix:
	default:
		return fmt.Errorf("target %q: use %q (smtptls's own listener) or %q (the Postfix on this machine)", s.Target, TargetBundled, TargetPostfix)
	}
	if d := s.Postfix.ConfigDir; d != "" && !filepath.IsAbs(d) {
		return fmt.Errorf("postfix.config_dir %q: give an absolute path, like /etc/postfix", d)
	}
	return nil
}
