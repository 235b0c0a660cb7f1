package config

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// ManifestFile records, in each generation, what was written: so an edit on
// disk is seen, and history knows which generations were good.
const ManifestFile = "manifest.json"

// GenStatus is what became of a generation once it was written.
type GenStatus string

const (
	// StatusPending: written, not (yet) proven live; a crash mid-apply
	// leaves this.
	StatusPending GenStatus = "pending"
	// StatusVerified: it was live and passed verify.
	StatusVerified GenStatus = "verified"
	// StatusFailed: it was refused or failed verify and was rolled back.
	StatusFailed GenStatus = "failed"
)

// Manifest is the record of one generation.
type Manifest struct {
	Created time.Time `json:"created"`
	// Files maps each file of the generation (manifest aside) to the
	// SHA-256 of its content, hex.
	Files    map[string]string `json:"files"`
	Settings Settings          `json:"settings"`
	Status   GenStatus         `json:"status"`
	// Reason says why a failed generation failed.
	Reason string `json:"reason,omitempty"`
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// readNoFollow reads a file that must be a regular file and not a link: a
// generation holds only what apply wrote, and a link (to /etc/shadow, say)
// must never be copied into the next one or served.
func readNoFollow(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, &LinkError{Path: path}
		}
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%v): a generation holds only files smtptls wrote", path, fi.Mode().Type())
	}
	return io.ReadAll(f)
}

// LinkError is a symbolic link where smtptls only ever writes files.
type LinkError struct{ Path string }

func (e *LinkError) Error() string {
	return fmt.Sprintf("%s is a symbolic link: smtptls never writes links inside a generation and does not follow them (one could point at any file on this machine); run `smtptls rollback` to a generation without it, or apply the material again with `smtptls apply --cert FILE --key FILE`", e.Path)
}

// EditedError is a generation whose files changed after it was written.
type EditedError struct {
	Generation string
	Files      []string // what changed: edited, added or removed
}

func (e *EditedError) Error() string {
	return fmt.Sprintf("generation %s was edited after it was applied (%s): run `smtptls apply` to make the change a new generation, or roll back", e.Generation, strings.Join(e.Files, ", "))
}

// ReadManifest reads the manifest of gen; fs.ErrNotExist for a generation
// written before manifests existed.
func ReadManifest(dir, gen string) (Manifest, error) {
	var m Manifest
	b, err := readNoFollow(filepath.Join(dir, GenerationsDir, gen, ManifestFile))
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("generation %s: %s is damaged: %w", gen, ManifestFile, err)
	}
	return m, nil
}

// CheckGeneration reports whether gen is as it was written: every file in
// its manifest, with the same content, nothing added, no link. A
// generation without a manifest (written by an older smtptls) passes the
// link check only.
func CheckGeneration(dir, gen string) error {
	gdir := filepath.Join(dir, GenerationsDir, gen)
	fi, err := os.Lstat(gdir)
	if err != nil {
		return fmt.Errorf("generation %s: %w", gen, err)
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return &LinkError{Path: gdir}
	}
	ents, err := os.ReadDir(gdir)
	if err != nil {
		return fmt.Errorf("generation %s: %w", gen, err)
	}
	m, merr := ReadManifest(dir, gen)
	if merr != nil && !errors.Is(merr, fs.ErrNotExist) {
		return merr
	}
	var changed []string
	seen := map[string]bool{}
	for _, e := range ents {
		name := e.Name()
		if e.Type()&fs.ModeSymlink != 0 {
			return &LinkError{Path: filepath.Join(gdir, name)}
		}
		if name == ManifestFile || name == "."+ManifestFile+".tmp" || merr != nil {
			continue
		}
		seen[name] = true
		want, ok := m.Files[name]
		if !ok {
			changed = append(changed, name+" added")
			continue
		}
		b, err := readNoFollow(filepath.Join(gdir, name))
		if err != nil {
			return fmt.Errorf("generation %s: %w", gen, err)
		}
		if sha256Hex(b) != want {
			changed = append(changed, name+" changed")
		}
	}
	if merr != nil {
		return nil
	}
	for name := range m.Files {
		if !seen[name] {
			changed = append(changed, name+" removed")
		}
	}
	if len(changed) > 0 {
		sort.Strings(changed)
		return &EditedError{Generation: gen, Files: changed}
	}
	return nil
}

// writeManifest writes m into gdir atomically (temp file, fsync, rename),
// so a crash while marking a generation never leaves half a record.
//
// The directory is not fsynced after the rename: if a power cut loses it,
// the manifest read back is the previous one, whole (pending, say), which
// only understates the generation; the content it vouches for is the same.
func writeManifest(gdir string, m Manifest, own func(...string) error) error {
	b, err := encodeManifest(m)
	if err != nil {
		return err
	}
	tmp := filepath.Join(gdir, "."+ManifestFile+".tmp")
	os.Remove(tmp)
	if err := writeFileSync(tmp, b, 0o600); err != nil {
		return err
	}
	if err := own(tmp); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, filepath.Join(gdir, ManifestFile)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write manifest: %w", err)
	}
	return nil
}

// encodeManifest renders m; it is stored 0600: it names the key file's
// digest, and nobody but smtptls needs it.
func encodeManifest(m Manifest) ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode manifest: %w", err)
	}
	return append(b, '\n'), nil
}

// Mark records what became of gen (verified once live and proven, failed
// when rolled back, with why). A generation without a manifest is left
// as it is.
func (s *Store) Mark(gen string, st GenStatus, reason string) error {
	if !ValidGenerationName(gen) {
		return fmt.Errorf("mark: %q is not a generation name", gen)
	}
	m, err := ReadManifest(s.dir, gen)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if m.Status == st && m.Reason == reason {
		return nil
	}
	m.Status, m.Reason = st, reason
	if err := writeManifest(filepath.Join(s.gensDir(), gen), m, s.own); err != nil {
		return fmt.Errorf("mark generation %s %s: %w", gen, st, err)
	}
	return nil
}
