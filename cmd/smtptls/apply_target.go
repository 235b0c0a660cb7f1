package main

import (
	"flag"
	"fmt"
	"path/filepath"

	"github.com/smtptls/smtptls/config"
)

// applyTargetFlags registers --target and --postfix-dir.
func applyTargetFlags(fs *flag.FlagSet) (target, postfixDir *string) {
	target = fs.String("target", "", "what to configure: `bundled` (smtptls's own listener) or postfix (the Postfix running here); default: the installed one, else bundled")
	postfixDir = fs.String("postfix-dir", "", "Postfix config `DIR` (where main.cf is) for --target postfix (default: the installed one, else "+config.DefaultPostfixDir+")")
	return target, postfixDir
}

// applyTarget checks the flags' values; the directory is made absolute,
// since main.cf's location is stored with the generation.
func applyTarget(target, postfixDir string) (string, string, error) {
	switch target {
	case "", config.TargetBundled, config.TargetPostfix:
	default:
		return "", "", fmt.Errorf("--target %q: use bundled (smtptls's own listener) or postfix (the Postfix on this machine)", target)
	}
	if postfixDir == "" {
		return target, "", nil
	}
	if target == config.TargetBundled {
		return "", "", fmt.Errorf("--postfix-dir goes with --target postfix")
	}
	abs, err := filepath.Abs(postfixDir)
	if err != nil {
		return "", "", fmt.Errorf("--postfix-dir: %w", err)
	}
	return target, abs, nil
}
