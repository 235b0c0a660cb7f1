package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// KeepGenerations is how many good (live and verified) generations a prune
// keeps, besides the live one and the one it just replaced.
const KeepGenerations = 5

// stagePrefix marks a generation that is still being written. Load never
// follows it (only `current` is followed) and the next Stage removes it, so
// a crash mid-write leaves nothing that looks like a configuration.
const stagePrefix = ".staging-"

// removePrefix marks a generation being pruned: it is renamed first, so a
// crash halfway through deleting it never leaves a partial generation under
// a name that a rollback could pick.
const removePrefix = ".removing-"

// linkTempPrefix names the symlink made before it is renamed over current.
const linkTempPrefix = CurrentLink + ".tmp-"

// genTimeFormat is the time part of a generation name; names sort by time,
// and by the sequence number after it when two share a second.
const genTimeFormat = "20060102T150405Z"

// Material is the certificate material of one generation, PEM encoded.
// Empty fields are not written (disabled mode carries no certificate).
type Material struct {
	CertPEM  []byte
	KeyPEM   []byte
	ChainPEM []byte
	CAPEM    []byte
	// TargetFiles are what a target needs besides the files above (the
	// Postfix chain file), written 0600 into the generation by base name.
	TargetFiles map[string][]byte
}

// MaterialOf returns the material of a loaded configuration.
func MaterialOf(l Loaded) Material {
	return Material{CertPEM: l.CertPEM, KeyPEM: l.KeyPEM, ChainPEM: l.ChainPEM, CAPEM: l.CAPEM}
}

// Generation is one complete configuration on disk.
type Generation struct {
	Name    string    `json:"name"`
	Seq     int       `json:"seq"`
	Created time.Time `json:"created"`
	Current bool      `json:"current"`
	// Status is from the manifest; "" for a generation written before
	// manifests existed.
	Status GenStatus `json:"status,omitempty"`
	// Reason says why a failed generation failed.
	Reason string `json:"reason,omitempty"`
}

// Store is a config directory: generations, the current link and the lock.
// Writers (Stage, Activate, Deactivate, Prune) must hold the Lock.
type Store struct {
	dir   string
	host  Host
	owner *owner // set when root writes, forced, into another user's directory
	// Now names new generations and stamps the lock; time.Now by default.
	Now func() time.Time
}

// StoreOptions are the overrides an admin can ask for when opening a store.
type StoreOptions struct {
	// AllowForeignOwner writes into a config directory owned by another
	// user (--force). As root, what is written is then given to that
	// user, so the owner's own later applies still work.
	AllowForeignOwner bool
}

// OpenStore opens dir as a config store, creating it (0700) and its
// generations directory when missing. An existing directory keeps its mode
// (a group-shared 2770 is the admin's choice) and must belong to the user
// running the command.
func OpenStore(dir string, h Host) (*Store, error) {
	return OpenStoreWith(dir, h, StoreOptions{})
}

// OpenStoreWith is OpenStore with overrides.
func OpenStoreWith(dir string, h Host, o StoreOptions) (*Store, error) {
	if dir == "" {
		return nil, errors.New("open config store: no directory given")
	}
	s := &Store{dir: dir, host: h, Now: time.Now}
	for _, d := range []string{dir, filepath.Join(dir, GenerationsDir)} {
		if err := s.ensureDir(d, o); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// ForeignOwnerError is a config directory that belongs to someone else.
type ForeignOwnerError struct {
	Dir        string
	Owner, You string
}

func (e *ForeignOwnerError) Error() string {
	return fmt.Sprintf("config directory %s belongs to %s, and you are %s: what you write there would belong to you and lock its owner out of every later apply. Run the command as %s (sudo -u %s smtptls ...), or pass --force to write anyway (files are then given to %s)",
		e.Dir, e.Owner, e.You, e.Owner, e.Owner, e.Owner)
}

func userName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return fmt.Sprintf("user %s (uid %d)", u.Username, uid)
	}
	return fmt.Sprintf("uid %d", uid)
}

func (s *Store) ensureDir(d string, o StoreOptions) error {
	fi, err := os.Lstat(d)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("create config directory: %w", err)
		}
		if err := s.own(d); err != nil {
			return err
		}
		// MkdirAll may have made parents too; make sure the new names last.
		if err := syncDir(filepath.Dir(d)); err != nil {
			return fmt.Errorf("create config directory: %w", err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("open config directory: %w", err)
	case fi.Mode()&fs.ModeSymlink != 0 && d != s.dir:
		return &LinkError{Path: d}
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		// The config dir itself may be a link the admin made (/etc/smtptls
		// -> /srv/smtptls); what it points to is judged.
		if fi, err = os.Stat(d); err != nil {
			return fmt.Errorf("open config directory: %w", err)
		}
	}
	if !fi.IsDir() {
		return fmt.Errorf("config directory %s is not a directory", d)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if me := os.Geteuid(); int(st.Uid) != me {
			if !o.AllowForeignOwner {
				return &ForeignOwnerError{Dir: d, Owner: userName(int(st.Uid)), You: userName(me)}
			}
			if me == 0 && s.owner == nil {
				s.owner = &owner{uid: int(st.Uid), gid: int(st.Gid)}
			}
		}
	}
	// The mode of an existing directory is never changed: the key is
	// guarded by the 0700 generation directories and its own 0600. Only a
	// directory anyone may write to is refused: anyone could replace
	// current.
	perm := fi.Mode().Perm()
	if perm&0o002 != 0 && fi.Mode()&fs.ModeSticky == 0 {
		return fmt.Errorf("config directory %s can be written by every user (%v), so anyone could switch its configuration: make it private (chmod o-w %s) or choose another with --config-dir", d, perm, d)
	}
	if perm&0o077 != 0 && !onlyOurs(d) {
		return fmt.Errorf("config directory %s is open to others (%v) and holds files that are not smtptls's: choose an empty directory, or one only smtptls uses", d, perm)
	}
	return nil
}

// owner is who new files are given to when root writes, forced, into
// someone else's config directory.
type owner struct{ uid, gid int }

// own gives paths to the directory's owner when root writes there forced;
// otherwise they stay the writer's, who owns the directory.
func (s *Store) own(paths ...string) error {
	if s.owner == nil {
		return nil
	}
	for _, p := range paths {
		if err := os.Lchown(p, s.owner.uid, s.owner.gid); err != nil {
			return fmt.Errorf("give %s to its directory's owner: %w", p, err)
		}
	}
	return nil
}

// onlyOurs reports whether dir holds nothing but names smtptls creates.
func onlyOurs(dir string) bool {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		switch n := e.Name(); {
		case n == GenerationsDir, n == CurrentLink, n == LockFile, n == ControlSocket, n == PidFile, n == LogFile, n == "spool", n == "acme",
			strings.HasPrefix(n, linkTempPrefix), strings.HasPrefix(n, stagePrefix), strings.HasPrefix(n, removePrefix),
			ValidGenerationName(n):
		default:
			return false
		}
	}
	return true
}

// Dir is the config directory.
func (s *Store) Dir() string { return s.dir }

func (s *Store) gensDir() string { return filepath.Join(s.dir, GenerationsDir) }

// Current names the live generation, "" when nothing was applied yet.
func (s *Store) Current() (string, error) {
	return CurrentGeneration(s.dir)
}

// CurrentGeneration names the live generation of dir, "" when nothing was
// applied yet.
func CurrentGeneration(dir string) (string, error) {
	target, err := os.Readlink(filepath.Join(dir, CurrentLink))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read current generation: %s is not the link smtptls makes: %w", filepath.Join(dir, CurrentLink), err)
	}
	// Only a link into generations/ is ours: one pointing anywhere else
	// (another directory, another config dir) would load files apply never
	// checked.
	name := filepath.Base(target)
	inside := filepath.Clean(target) == filepath.Join(GenerationsDir, name) ||
		filepath.Clean(target) == filepath.Join(dir, GenerationsDir, name)
	if !inside || !ValidGenerationName(name) {
		return "", fmt.Errorf("%s points to %s, outside %s: smtptls only ever links it to one of its generations; run `smtptls rollback --to GENERATION` with one listed by `smtptls status`",
			filepath.Join(dir, CurrentLink), target, filepath.Join(dir, GenerationsDir))
	}
	return name, nil
}

// parseGeneration splits a generation name into its time and sequence;
// ok is false for anything else found in generations/ (strays, staging).
func parseGeneration(name string) (t time.Time, seq int, ok bool) {
	ts, n, found := strings.Cut(name, "-")
	if !found || len(n) < 4 {
		return time.Time{}, 0, false
	}
	t, err := time.Parse(genTimeFormat, ts)
	if err != nil {
		return time.Time{}, 0, false
	}
	seq, err = strconv.Atoi(n)
	if err != nil || seq <= 0 {
		return time.Time{}, 0, false
	}
	return t, seq, true
}

// GenerationSeq is the sequence number in a generation's name.
func GenerationSeq(name string) (int, bool) {
	_, seq, ok := parseGeneration(name)
	return seq, ok
}

// ValidGenerationName reports whether name is one the store could have made;
// anything else (a path, "..") is refused before it reaches the file system.
func ValidGenerationName(name string) bool {
	_, _, ok := parseGeneration(name)
	return ok
}

// Generations lists the complete generations, oldest first. A generation
// still being staged is not listed.
func (s *Store) Generations() ([]Generation, error) {
	return ListGenerations(s.dir)
}

// ListGenerations lists the complete generations of dir, oldest first.
func ListGenerations(dir string) ([]Generation, error) {
	ents, err := os.ReadDir(filepath.Join(dir, GenerationsDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list generations: %w", err)
	}
	cur, err := CurrentGeneration(dir)
	if err != nil {
		return nil, err
	}
	var gens []Generation
	for _, e := range ents {
		t, seq, ok := parseGeneration(e.Name())
		if !ok || !e.IsDir() {
			continue
		}
		g := Generation{Name: e.Name(), Seq: seq, Created: t, Current: e.Name() == cur}
		if m, err := ReadManifest(dir, e.Name()); err == nil {
			g.Status, g.Reason = m.Status, m.Reason
		}
		gens = append(gens, g)
	}
	// The sequence, not the clock, decides the order: a clock set back must
	// not make an old generation look new.
	sort.Slice(gens, func(i, j int) bool { return gens[i].Seq < gens[j].Seq })
	return gens, nil
}

// Previous names what a rollback without --to returns to: the newest
// generation older than the live one that did not fail. "" when none.
func (s *Store) Previous() (string, error) {
	return PreviousGeneration(s.dir)
}

// PreviousGeneration is Store.Previous for dir.
func PreviousGeneration(dir string) (string, error) {
	gens, err := ListGenerations(dir)
	if err != nil {
		return "", err
	}
	cur := -1
	for i, g := range gens {
		if g.Current {
			cur = i
		}
	}
	for i := cur - 1; i >= 0; i-- {
		if gens[i].Status != StatusFailed {
			return gens[i].Name, nil
		}
	}
	return "", nil
}

// nextName names a new generation: the time now, and a sequence number one
// above any seen so far, staging leftovers included.
func (s *Store) nextName() (string, error) {
	ents, err := os.ReadDir(s.gensDir())
	if err != nil {
		return "", fmt.Errorf("list generations: %w", err)
	}
	max := 0
	for _, e := range ents {
		n := strings.TrimPrefix(strings.TrimPrefix(e.Name(), stagePrefix), removePrefix)
		if _, seq, ok := parseGeneration(n); ok && seq > max {
			max = seq
		}
	}
	return fmt.Sprintf("%s-%04d", s.Now().UTC().Format(genTimeFormat), max+1), nil
}

// Clean removes what a crashed apply may have left: generations that were
// still being staged and temporary links. Neither is ever read by Load.
func (s *Store) Clean() error {
	ents, err := os.ReadDir(s.gensDir())
	if err != nil {
		return fmt.Errorf("clean generations: %w", err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), stagePrefix) || strings.HasPrefix(e.Name(), removePrefix) {
			if err := os.RemoveAll(filepath.Join(s.gensDir(), e.Name())); err != nil {
				return fmt.Errorf("remove unfinished generation %s: %w", e.Name(), err)
			}
		}
	}
	top, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("clean config directory: %w", err)
	}
	for _, e := range top {
		if strings.HasPrefix(e.Name(), linkTempPrefix) {
			if err := os.Remove(filepath.Join(s.dir, e.Name())); err != nil {
				return fmt.Errorf("remove stale link %s: %w", e.Name(), err)
			}
		}
	}
	return nil
}

// Stage writes a complete generation (settings and material, every file and
// the directory fsynced) under a staging name, and returns the name it will
// have once activated. Nothing changes for Load until Activate.
func (s *Store) Stage(set Settings, m Material) (string, error) {
	if err := set.Check(); err != nil {
		return "", fmt.Errorf("stage generation: %w", err)
	}
	if set.Mode.NeedsCertificate() && (len(m.CertPEM) == 0 || len(m.KeyPEM) == 0) {
		return "", fmt.Errorf("stage generation: mode %s needs a certificate and its key", set.Mode)
	}
	if err := s.Clean(); err != nil {
		return "", err
	}
	name, err := s.nextName()
	if err != nil {
		return "", err
	}
	toml, err := MarshalSettings(set)
	if err != nil {
		return "", err
	}
	tmp := filepath.Join(s.gensDir(), stagePrefix+name)
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return "", fmt.Errorf("stage generation %s: %w", name, err)
	}
	if err := s.own(tmp); err != nil {
		return "", fmt.Errorf("stage generation %s: %w", name, err)
	}
	files := []struct {
		name string
		data []byte
		perm os.FileMode
	}{
		{SettingsFile, toml, 0o644},
		{CertFile, m.CertPEM, 0o644},
		{KeyFile, m.KeyPEM, 0o600},
		{ChainFile, m.ChainPEM, 0o644},
		{CAFile, m.CAPEM, 0o644},
	}
	for _, fn := range sortedFileNames(m.TargetFiles) {
		if fn != filepath.Base(fn) || fn == "." || fn == ".." {
			return "", fmt.Errorf("stage generation %s: target file %q is not a plain file name", name, fn)
		}
		files = append(files, struct {
			name string
			data []byte
			perm os.FileMode
		}{fn, m.TargetFiles[fn], 0o600})
	}
	man := Manifest{Created: s.Now().UTC(), Files: map[string]string{}, Settings: set, Status: StatusPending}
	var batch []pendingFile
	for _, f := range files {
		if len(f.data) == 0 && f.name != SettingsFile {
			continue
		}
		batch = append(batch, pendingFile{filepath.Join(tmp, f.name), f.data, f.perm})
		man.Files[f.name] = sha256Hex(f.data)
	}
	mb, err := encodeManifest(man)
	if err != nil {
		return "", fmt.Errorf("stage generation %s: %w", name, err)
	}
	// The staging directory is invisible to Load until Activate renames
	// it, so the manifest is written like the other files, in one batch.
	batch = append(batch, pendingFile{filepath.Join(tmp, ManifestFile), mb, 0o600})
	if err := writeFilesSync(batch); err != nil {
		return "", fmt.Errorf("stage generation %s: %w", name, err)
	}
	for _, f := range batch {
		if err := s.own(f.path); err != nil {
			return "", fmt.Errorf("stage generation %s: %w", name, err)
		}
	}
	if err := syncDir(tmp); err != nil {
		return "", fmt.Errorf("stage generation %s: %w", name, err)
	}
	return name, nil
}

// Activate makes gen the live generation with one atomic rename of the
// current link. A staged generation is first moved to its final name; an
// existing one (a rollback) is switched to as it is.
func (s *Store) Activate(gen string) error {
	if !ValidGenerationName(gen) {
		return fmt.Errorf("activate: %q is not a generation name (see `smtptls status` for the list)", gen)
	}
	final := filepath.Join(s.gensDir(), gen)
	staged := filepath.Join(s.gensDir(), stagePrefix+gen)
	if _, err := os.Lstat(staged); err == nil {
		if err := os.Rename(staged, final); err != nil {
			return fmt.Errorf("activate %s: %w", gen, err)
		}
		if err := syncDir(s.gensDir()); err != nil {
			return fmt.Errorf("activate %s: %w", gen, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(final, SettingsFile)); err != nil || !fi.Mode().IsRegular() {
		return fmt.Errorf("activate: generation %s does not exist or is incomplete", gen)
	}
	tmp := filepath.Join(s.dir, linkTempPrefix+strconv.Itoa(os.Getpid()))
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("activate %s: %w", gen, err)
	}
	// Relative, so the config directory can be moved or backed up whole.
	if err := os.Symlink(filepath.Join(GenerationsDir, gen), tmp); err != nil {
		return fmt.Errorf("activate %s: %w", gen, err)
	}
	if err := s.own(tmp); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("activate %s: %w", gen, err)
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, CurrentLink)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("activate %s: %w", gen, err)
	}
	if err := syncDir(s.dir); err != nil {
		return fmt.Errorf("activate %s: %w", gen, err)
	}
	return nil
}

// Deactivate removes the current link, so the directory loads as the
// defaults again: the state before the very first apply.
func (s *Store) Deactivate() error {
	if err := os.Remove(filepath.Join(s.dir, CurrentLink)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("deactivate: %w", err)
	}
	return syncDir(s.dir)
}

// Prune keeps the history that matters: the newest KeepGenerations
// generations that were live and verified (or written before manifests
// existed, when every kept generation had been live), the newest one that
// failed or was never verified (so status can show what went wrong), the
// live one and those named in keep. Everything else goes, failed ones
// first by construction: they never count toward the good ones kept.
func (s *Store) Prune(keep ...string) error {
	gens, err := s.Generations()
	if err != nil {
		return err
	}
	protect := map[string]bool{}
	for _, k := range keep {
		protect[k] = true
	}
	good, bad := 0, 0
	for i := len(gens) - 1; i >= 0; i-- {
		// The live one counts as good: it may be being marked verified
		// right now, and it is never pruned anyway.
		switch {
		case gens[i].Current, gens[i].Status == StatusVerified, gens[i].Status == "":
			good++
			if good <= KeepGenerations {
				protect[gens[i].Name] = true
			}
		default:
			bad++
			if bad <= 1 {
				protect[gens[i].Name] = true
			}
		}
	}
	removed := false
	for _, g := range gens {
		if g.Current || protect[g.Name] {
			continue
		}
		doomed := filepath.Join(s.gensDir(), removePrefix+g.Name)
		if err := os.Rename(filepath.Join(s.gensDir(), g.Name), doomed); err != nil {
			return fmt.Errorf("prune generation %s: %w", g.Name, err)
		}
		removed = true
	}
	if !removed {
		return nil
	}
	if err := syncDir(s.gensDir()); err != nil {
		return err
	}
	return s.Clean()
}

func sortedFileNames(m map[string][]byte) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
