// Package postfix drives an installed Postfix through its own tools only:
// `postconf` to read and write main.cf, `postfix check|reload|status` to
// check, load and ask. Nothing here edits main.cf or master.cf as a file, so
// whatever Postfix's own parser accepts is what smtptls sees and writes.
package postfix

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sort"
	"strconv"
	"strings"
)

// DefaultConfigDir is where a packaged Postfix keeps main.cf.
const DefaultConfigDir = "/etc/postfix"

// ErrNotInstalled is returned when postconf or postfix cannot be found.
var ErrNotInstalled = errors.New("postfix is not installed (postconf and postfix not found in PATH or /usr/sbin)")

// Instance is one Postfix, named by the config directory passed as -c.
type Instance struct {
	ConfigDir string
	// Postconf and Postfix are the commands; "" finds them in PATH, then
	// /usr/sbin (root's PATH has it, a user's often does not).
	Postconf, Postfix string
}

// New names the Postfix whose main.cf is in dir ("" is /etc/postfix).
func New(dir string) *Instance {
	if dir == "" {
		dir = DefaultConfigDir
	}
	return &Instance{ConfigDir: dir}
}

func (p *Instance) tool(name, override string) (string, error) {
	if override != "" {
		return override, nil
	}
	if path, err := exec.LookPath(name); err == nil {
		return path, nil
	}
	if path, err := exec.LookPath("/usr/sbin/" + name); err == nil {
		return path, nil
	}
	return "", ErrNotInstalled
}

// run runs a Postfix tool with -c DIR first and returns its standard
// output; a failure carries what the tool printed, which names the problem
// in Postfix's own words.
func (p *Instance) run(ctx context.Context, name, override string, args ...string) ([]byte, error) {
	bin, err := p.tool(name, override)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, bin, append([]string{"-c", p.ConfigDir}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(errb.String())
		if msg == "" {
			msg = strings.TrimSpace(out.String())
		}
		if msg != "" {
			return out.Bytes(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, oneLine(msg))
		}
		return out.Bytes(), fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return out.Bytes(), nil
}

// oneLine joins a tool's message lines so it fits a step detail.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ; ")), " ")
}

// Param is a main.cf parameter as main.cf has it. Set is false when main.cf
// does not name it, so Postfix uses its built-in default; restoring such a
// parameter means removing it again (postconf -X), not writing the default.
type Param struct {
	Value string `json:"value"`
	Set   bool   `json:"set"`
}

func (p Param) String() string {
	if !p.Set {
		return "(not set)"
	}
	if p.Value == "" {
		return `""`
	}
	return p.Value
}

// Explicit reads names as main.cf sets them (postconf -n): what a rollback
// must restore.
func (p *Instance) Explicit(ctx context.Context, names ...string) (map[string]Param, error) {
	out, err := p.run(ctx, "postconf", p.Postconf, append([]string{"-n"}, names...)...)
	if err != nil {
		return nil, fmt.Errorf("read main.cf: %w", err)
	}
	got := parsePairs(out)
	res := make(map[string]Param, len(names))
	for _, n := range names {
		v, ok := got[n]
		res[n] = Param{Value: v, Set: ok}
	}
	return res, nil
}

// AllExplicit is `postconf -n`: every parameter main.cf sets.
func (p *Instance) AllExplicit(ctx context.Context) (map[string]string, error) {
	out, err := p.run(ctx, "postconf", p.Postconf, "-n")
	if err != nil {
		return nil, fmt.Errorf("read main.cf: %w", err)
	}
	return parsePairs(out), nil
}

// Effective reads the values Postfix uses, defaults and $name expansion
// included (postconf -x).
func (p *Instance) Effective(ctx context.Context, names ...string) (map[string]string, error) {
	out, err := p.run(ctx, "postconf", p.Postconf, append([]string{"-x"}, names...)...)
	if err != nil {
		return nil, fmt.Errorf("read main.cf: %w", err)
	}
	return parsePairs(out), nil
}

// parsePairs reads postconf's "name = value" lines.
func parsePairs(out []byte) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		name, value, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		m[strings.TrimSpace(name)] = strings.TrimSpace(value)
	}
	return m
}

// Set writes every value in one `postconf -e` call: Postfix writes main.cf
// to a temporary file and renames it, so the values change together or not
// at all.
func (p *Instance) Set(ctx context.Context, values map[string]string) error {
	if len(values) == 0 {
		return nil
	}
	args := []string{"-e"}
	for _, n := range sortedKeys(values) {
		if err := checkValue(n, values[n]); err != nil {
			return err
		}
		args = append(args, n+"="+values[n])
	}
	if _, err := p.run(ctx, "postconf", p.Postconf, args...); err != nil {
		return fmt.Errorf("write main.cf: %w", err)
	}
	return nil
}

// checkValue refuses what postconf -e would store as something else: a
// newline would start a new parameter.
func checkValue(name, value string) error {
	if name == "" || strings.ContainsAny(name, "= \t\r\n") {
		return fmt.Errorf("write main.cf: %q is not a parameter name", name)
	}
	if strings.ContainsAny(value, "\r\n") {
		return fmt.Errorf("write main.cf: the value of %s holds a line break", name)
	}
	return nil
}

// Restore puts recorded parameters back as they were: values with one
// `postconf -e`, parameters that were not set removed with `postconf -X`.
func (p *Instance) Restore(ctx context.Context, prev map[string]Param) error {
	set := map[string]string{}
	var unset []string
	for n, v := range prev {
		if v.Set {
			set[n] = v.Value
		} else {
			unset = append(unset, n)
		}
	}
	if err := p.Set(ctx, set); err != nil {
		return err
	}
	if len(unset) == 0 {
		return nil
	}
	sort.Strings(unset)
	if _, err := p.run(ctx, "postconf", p.Postconf, append([]string{"-X"}, unset...)...); err != nil {
		return fmt.Errorf("write main.cf: %w", err)
	}
	return nil
}

// Check runs `postfix check`: main.cf parses, files and directories Postfix
// needs exist with sane owners. It does not look inside certificates.
func (p *Instance) Check(ctx context.Context) error {
	_, err := p.run(ctx, "postfix", p.Postfix, "check")
	return err
}

// Reload runs `postfix reload`: the master restarts its services, and smtpd
// processes that are finishing a session keep the old configuration until
// they exit.
func (p *Instance) Reload(ctx context.Context) error {
	_, err := p.run(ctx, "postfix", p.Postfix, "reload")
	return err
}

// Running reports whether the master process of this instance runs
// (`postfix status` exits 0). Only root may ask.
func (p *Instance) Running(ctx context.Context) (bool, error) {
	bin, err := p.tool("postfix", p.Postfix)
	if err != nil {
		return false, err
	}
	cmd := exec.CommandContext(ctx, bin, "-c", p.ConfigDir, "status")
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &ee) && ee.ExitCode() == 1:
		return false, nil
	}
	return false, fmt.Errorf("postfix status: %w", err)
}

// Version is Postfix's mail_version.
type Version struct{ Major, Minor, Patch int }

func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// AtLeast reports whether v is major.minor or later.
func (v Version) AtLeast(major, minor int) bool {
	return v.Major > major || (v.Major == major && v.Minor >= minor)
}

// ParseVersion reads a mail_version such as "3.7.11" or "3.10-20240109".
func ParseVersion(s string) (Version, error) {
	s = strings.TrimSpace(s)
	core, _, _ := strings.Cut(s, "-")
	parts := strings.Split(core, ".")
	var v Version
	dst := []*int{&v.Major, &v.Minor, &v.Patch}
	for i, part := range parts {
		if i >= len(dst) {
			break
		}
		n, err := strconv.Atoi(part)
		if err != nil {
			return Version{}, fmt.Errorf("postfix version %q is not major.minor.patch", s)
		}
		*dst[i] = n
	}
	if len(parts) < 2 {
		return Version{}, fmt.Errorf("postfix version %q is not major.minor.patch", s)
	}
	return v, nil
}

// Version asks postconf for mail_version.
func (p *Instance) Version(ctx context.Context) (Version, error) {
	out, err := p.run(ctx, "postconf", p.Postconf, "-h", "mail_version")
	if err != nil {
		return Version{}, fmt.Errorf("read the postfix version: %w", err)
	}
	return ParseVersion(string(out))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
