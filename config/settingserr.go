package config

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/BurntSushi/toml"
)

// SettingsError is a config.toml that cannot be read, with the place to
// look: the admin must be able to open the file at the line at fault.
type SettingsError struct {
	File string // the path of config.toml; "" when parsed from memory
	Line int    // 1-based; 0 when no line is to blame
	Msg  string
}

func (e *SettingsError) Error() string {
	where := e.File
	if where == "" {
		where = SettingsFile
	}
	if e.Line > 0 {
		where += fmt.Sprintf(" line %d", e.Line)
	}
	return where + ": " + e.Msg
}

// settingsError turns what the TOML decoder returned into a SettingsError.
func settingsError(err error) error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		msg := pe.Message
		if pe.Usage != "" {
			msg += " (" + strings.TrimSpace(pe.Usage) + ")"
		}
		return &SettingsError{Line: pe.Position.Line, Msg: msg}
	}
	return &SettingsError{Msg: err.Error()}
}

// keyLine finds the line that sets key (as "section.name") in data: the
// decoder names unknown keys but not where they are.
func keyLine(data []byte, key toml.Key) int {
	if len(key) == 0 {
		return 0
	}
	section := strings.Join(key[:len(key)-1], ".")
	name := regexp.QuoteMeta(key[len(key)-1])
	assign := regexp.MustCompile(`^\s*"?` + name + `"?\s*=`)
	header := regexp.MustCompile(`^\s*\[\s*([^\]]*?)\s*\]`)
	cur := ""
	for i, line := range strings.Split(string(data), "\n") {
		if m := header.FindStringSubmatch(line); m != nil {
			cur = m[1]
			if len(key) > 1 && cur == strings.Join(key, ".") {
				return i + 1 // an unknown section
			}
			continue
		}
		if cur == section && assign.MatchString(line) {
			return i + 1
		}
	}
	return 0
}
