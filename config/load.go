package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Loaded is one complete configuration as read from disk.
type Loaded struct {
	Dir string
	// Generation is the name of the live generation; empty when nothing has
	// been applied yet and Settings are the defaults.
	Generation string
	Settings   Settings
	CertPEM    []byte
	KeyPEM     []byte
	ChainPEM   []byte
	CAPEM      []byte
}

// SpoolPath is the spool directory, resolved against the config directory.
func (l Loaded) SpoolPath() string {
	if filepath.IsAbs(l.Settings.SpoolDir) {
		return l.Settings.SpoolDir
	}
	return filepath.Join(l.Dir, l.Settings.SpoolDir)
}

// Defaults returns the settings of a fresh install on host h.
func Defaults(h Host) Settings {
	name, err := os.Hostname()
	if err != nil || name == "" {
		name = "localhost"
	}
	return DefaultSettings(h.Root, name)
}

// Load reads the live generation of dir. A directory with no generation yet
// loads as the defaults (mode disabled), so a listener can start before the
// first apply.
func Load(dir string, h Host) (Loaded, error) {
	l := Loaded{Dir: dir, Settings: Defaults(h)}
	gen, err := CurrentGeneration(dir)
	if err != nil {
		return Loaded{}, err
	}
	if gen == "" {
		return l, nil
	}
	return LoadGeneration(dir, gen, h)
}

// LoadGeneration reads one generation by name, live or not.
func LoadGeneration(dir, gen string, h Host) (Loaded, error) {
	l := Loaded{Dir: dir, Generation: gen}
	if !ValidGenerationName(gen) {
		return Loaded{}, fmt.Errorf("load generation: %q is not a generation name (see `smtptls status`)", gen)
	}
	gdir := filepath.Join(dir, GenerationsDir, gen)
	if fi, err := os.Lstat(gdir); err != nil {
		return Loaded{}, fmt.Errorf("load generation %s: %w", gen, err)
	} else if fi.Mode()&fs.ModeSymlink != 0 {
		return Loaded{}, fmt.Errorf("load generation %s: %w", gen, &LinkError{Path: gdir})
	}
	data, err := readNoFollow(filepath.Join(gdir, SettingsFile))
	if err != nil {
		return Loaded{}, fmt.Errorf("load generation %s: %w", gen, err)
	}
	if l.Settings, err = UnmarshalSettings(data, Defaults(h)); err != nil {
		var se *SettingsError
		if errors.As(err, &se) {
			se.File = filepath.Join(gdir, SettingsFile)
		}
		return Loaded{}, fmt.Errorf("load generation %s: %w", gen, err)
	}
	for _, f := range []struct {
		name string
		dst  *[]byte
	}{{CertFile, &l.CertPEM}, {KeyFile, &l.KeyPEM}, {ChainFile, &l.ChainPEM}, {CAFile, &l.CAPEM}} {
		b, err := readNoFollow(filepath.Join(gdir, f.name))
		if errors.Is(err, fs.ErrNotExist) {
			continue // disabled mode carries no certificate
		}
		if err != nil {
			return Loaded{}, fmt.Errorf("load generation %s: %w", gen, err)
		}
		*f.dst = b
	}
	if l.Settings.Mode.NeedsCertificate() && (len(l.CertPEM) == 0 || len(l.KeyPEM) == 0) {
		return Loaded{}, fmt.Errorf("load generation %s: mode %s needs %s and %s, and one is missing", gen, l.Settings.Mode, CertFile, KeyFile)
	}
	return l, nil
}
