package apply

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"github.com/smtptls/smtptls/config"
)

// diff lists what applying next would change. Settings are compared key by
// key as config.toml would show them; certificate material by fingerprint
// (never by content: the key must not appear, even as a diff).
func diff(old config.Loaded, oldErr error, next config.Loaded) []Change {
	var out []Change
	if oldErr != nil {
		out = append(out, Change{What: "config.toml", Old: "unreadable: " + oldErr.Error(), New: "replaced"})
		old = config.Loaded{}
	}
	before, after := settingsMap(old.Settings, oldErr == nil), settingsMap(next.Settings, true)
	keys := make([]string, 0, len(after))
	for k := range after {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if before[k] != after[k] {
			out = append(out, Change{What: k, Old: orNone(before[k]), New: after[k]})
		}
	}
	if a, b := leafFingerprint(old.CertPEM), leafFingerprint(next.CertPEM); a != b {
		out = append(out, Change{What: "certificate", Old: fpOrNone(a), New: fpOrNone(b)})
	}
	for _, f := range []struct {
		what     string
		old, new []byte
	}{{"chain", old.ChainPEM, next.ChainPEM}, {"ca_bundle", old.CAPEM, next.CAPEM}} {
		if !bytes.Equal(f.old, f.new) {
			out = append(out, Change{What: f.what, Old: digest(f.old), New: digest(f.new)})
		}
	}
	if !bytes.Equal(old.KeyPEM, next.KeyPEM) {
		// Not even a digest of the key: say only that it changes.
		c := Change{What: "key", Old: "(none)", New: "(none)"}
		if len(old.KeyPEM) > 0 {
			c.Old = "installed key"
		}
		if len(next.KeyPEM) > 0 {
			c.New = "new key"
		}
		out = append(out, c)
	}
	return out
}

// settingsMap flattens settings to "section.key" → value, as in config.toml.
func settingsMap(s config.Settings, have bool) map[string]string {
	m := map[string]string{}
	if !have {
		return m
	}
	b, err := config.MarshalSettings(s)
	if err != nil {
		return m
	}
	section := ""
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]") + "."
		default:
			k, v, ok := strings.Cut(line, "=")
			if ok {
				m[section+strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"`)
			}
		}
	}
	return m
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func fpOrNone(fp string) string {
	if fp == "" {
		return "(none)"
	}
	return "sha256:" + fp
}

// digest names public file content without printing it all.
func digest(b []byte) string {
	if len(b) == 0 {
		return "(none)"
	}
	sum := sha256.Sum256(b)
	return fmt.Sprintf("%d bytes, sha256:%s", len(b), hex.EncodeToString(sum[:6]))
}

func dryRunMessage(cs []Change) string {
	if len(cs) == 0 {
		return "dry run: nothing would change"
	}
	what := make([]string, len(cs))
	for i, c := range cs {
		what[i] = c.What
	}
	return fmt.Sprintf("dry run: %d change(s) would be applied (%s); nothing was written", len(cs), strings.Join(what, ", "))
}
