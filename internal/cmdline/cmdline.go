// Package cmdline writes the smtptls commands that messages tell an admin
// to run so that they act on the config directory the admin is using: run
// as printed, a command without --config-dir acts on the default one
// (/etc/smtptls and port 25 for root).
package cmdline

import (
	"regexp"
	"strings"
)

// takesDir lists the subcommands that read a config directory.
var takesDir = map[string]bool{
	"apply": true, "reload": true, "rollback": true, "serve": true, "setup": true,
	"status": true, "stop": true, "set": true, "renew": true,
}

// quoted finds a command in backticks, as messages quote them.
var quoted = regexp.MustCompile("`smtptls ([a-z]+)([^`]*)`")

// ForDir returns text with " --config-dir DIR" added to every `smtptls
// SUBCOMMAND ...` it quotes in backticks, when dir is not def (the one
// the command would use without the flag) and the subcommand takes it.
func ForDir(text, dir, def string) string {
	if dir == "" || dir == def || !strings.Contains(text, "`smtptls ") {
		return text
	}
	return quoted.ReplaceAllStringFunc(text, func(m string) string {
		sub := quoted.FindStringSubmatch(m)
		if !takesDir[sub[1]] || strings.Contains(sub[2], "--config-dir") {
			return m
		}
		return "`smtptls " + sub[1] + " --config-dir " + Quote(dir) + sub[2] + "`"
	})
}

// Command is "smtptls SUB ARGS" with --config-dir DIR when dir is not def.
func Command(sub, args, dir, def string) string {
	c := "smtptls " + sub
	if dir != "" && dir != def && takesDir[sub] {
		c += " --config-dir " + Quote(dir)
	}
	if args != "" {
		c += " " + args
	}
	return c
}

// Quote quotes s for a POSIX shell when it holds anything but plain
// path characters.
func Quote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+:@%=,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
