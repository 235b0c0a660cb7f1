package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func testHost() Host {
	return Host{Getenv: func(string) string { return "" }, UserConfigDir: func() (string, error) { return "", errors.New("none") }}
}

// clock returns a Now that advances a second per call from a fixed start.
func clock(start time.Time) func() time.Time {
	t := start
	return func() time.Time { t = t.Add(time.Second); return t }
}

func openTestStore(t testing.TB) (*Store, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "cfg")
	s, err := OpenStore(dir, testHost())
	if err != nil {
		t.Fatal(err)
	}
	s.Now = clock(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC))
	return s, dir
}

func settings(mode Mode) Settings {
	s := DefaultSettings(false, "mail.example.test")
	s.Mode = mode
	return s
}

func material(tag string) Material {
	return Material{
		CertPEM:  []byte("CERT " + tag + "\n"),
		KeyPEM:   []byte("KEY " + tag + "\n"),
		ChainPEM: []byte("CHAIN " + tag + "\n"),
		CAPEM:    []byte("CA " + tag + "\n"),
	}
}

func stageActivate(t testing.TB, s *Store, mode Mode, tag string) string {
	t.Helper()
	gen, err := s.Stage(settings(mode), material(tag))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Activate(gen); err != nil {
		t.Fatal(err)
	}
	return gen
}

func perm(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestOpenStoreCreatesPrivateDirectories(t *testing.T) {
	_, dir := openTestStore(t)
	for _, d := range []string{dir, filepath.Join(dir, GenerationsDir)} {
		if p := perm(t, d); p != 0o700 {
			t.Errorf("%s has mode %v, want 0700", d, p)
		}
	}
}

func TestOpenStoreNeverChangesTheModeOfAnExistingDirectory(t *testing.T) {
	for _, mode := range []os.FileMode{0o755, os.ModeSetgid | 0o770, 0o750} {
		dir := t.TempDir()
		if err := os.Chmod(dir, mode); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, LockFile), nil, 0o600)
		if _, err := OpenStore(dir, testHost()); err != nil {
			t.Fatalf("mode %v: %v", mode, err)
		}
		fi, _ := os.Stat(dir)
		if got := fi.Mode() & (os.ModePerm | os.ModeSetgid); got != mode {
			t.Errorf("mode %v changed to %v", mode, got)
		}
		if p := perm(t, filepath.Join(dir, GenerationsDir)); p != 0o700 {
			t.Errorf("the new generations dir has mode %v, want 0700", p)
		}
	}
}

func TestOpenStoreRefusesWhatIsNotItsToUse(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	os.WriteFile(filepath.Join(dir, ".bashrc"), nil, 0o644)
	_, err := OpenStore(dir, testHost())
	if err == nil || !strings.Contains(err.Error(), "not smtptls's") {
		t.Fatalf("OpenStore on a populated open directory: %v", err)
	}
	if p := perm(t, dir); p != 0o755 {
		t.Errorf("mode changed to %v", p)
	}
	open := t.TempDir()
	os.Chmod(open, 0o777)
	if _, err := OpenStore(open, testHost()); err == nil || !strings.Contains(err.Error(), "every user") {
		t.Fatalf("OpenStore on a world-writable directory: %v", err)
	}
	if os.Geteuid() == 0 {
		foreign := t.TempDir()
		os.Chown(foreign, 65534, 65534)
		_, err := OpenStore(foreign, testHost())
		var fe *ForeignOwnerError
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), "--force") {
			t.Fatalf("OpenStore on another user's directory: %v", err)
		}
		if _, err := os.Stat(filepath.Join(foreign, GenerationsDir)); !os.IsNotExist(err) {
			t.Errorf("the refused open created %s", GenerationsDir)
		}
	}
}

func TestOpenStoreRefusesAFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file")
	os.WriteFile(f, nil, 0o600)
	if _, err := OpenStore(f, testHost()); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("OpenStore on a file: %v, want a 'not a directory' error", err)
	}
}

func TestStageActivateLoad(t *testing.T) {
	s, dir := openTestStore(t)
	gen := stageActivate(t, s, ModeAvailable, "one")
	if !strings.HasPrefix(gen, "20261128T120001Z-0001") {
		t.Errorf("generation name %q, want 20261128T120001Z-0001", gen)
	}
	l, err := Load(dir, testHost())
	if err != nil {
		t.Fatal(err)
	}
	if l.Generation != gen || l.Settings.Mode != ModeAvailable || l.Settings.Hostname != "mail.example.test" {
		t.Errorf("loaded %s mode %s host %s", l.Generation, l.Settings.Mode, l.Settings.Hostname)
	}
	want := material("one")
	if !bytes.Equal(l.CertPEM, want.CertPEM) || !bytes.Equal(l.KeyPEM, want.KeyPEM) || !bytes.Equal(l.ChainPEM, want.ChainPEM) || !bytes.Equal(l.CAPEM, want.CAPEM) {
		t.Errorf("loaded material differs from what was staged")
	}
	gdir := filepath.Join(dir, GenerationsDir, gen)
	if p := perm(t, filepath.Join(gdir, KeyFile)); p != 0o600 {
		t.Errorf("key.pem mode %v, want 0600", p)
	}
	if p := perm(t, gdir); p != 0o700 {
		t.Errorf("generation dir mode %v, want 0700", p)
	}
	target, _ := os.Readlink(filepath.Join(dir, CurrentLink))
	if filepath.IsAbs(target) {
		t.Errorf("current link %q is absolute; a moved config dir would break", target)
	}
}

func TestDisabledGenerationCarriesNoFiles(t *testing.T) {
	s, dir := openTestStore(t)
	gen, err := s.Stage(settings(ModeDisabled), Material{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Activate(gen); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(filepath.Join(dir, GenerationsDir, gen))
	if len(ents) != 2 || ents[0].Name() != SettingsFile || ents[1].Name() != ManifestFile {
		t.Errorf("disabled generation holds %v, want only %s and %s", ents, SettingsFile, ManifestFile)
	}
	if _, err := Load(dir, testHost()); err != nil {
		t.Fatal(err)
	}
}

func TestStageRefusesTLSWithoutKey(t *testing.T) {
	s, _ := openTestStore(t)
	m := material("x")
	m.KeyPEM = nil
	if _, err := s.Stage(settings(ModeRequired), m); err == nil {
		t.Fatal("staged mode required without a key")
	}
}

func TestStagedButNotActivatedIsInvisibleAndCleaned(t *testing.T) {
	s, dir := openTestStore(t)
	old := stageActivate(t, s, ModeAvailable, "old")
	staged, err := s.Stage(settings(ModeRequired), material("new"))
	if err != nil {
		t.Fatal(err)
	}
	// The process dies here: the staged generation is complete on disk but
	// was never switched to.
	l, err := Load(dir, testHost())
	if err != nil || l.Generation != old || string(l.CertPEM) != "CERT old\n" {
		t.Fatalf("after a crash before the switch: loaded %q (%v), want %s", l.Generation, err, old)
	}
	gens, _ := s.Generations()
	if len(gens) != 1 || gens[0].Name != old || !gens[0].Current {
		t.Errorf("generations %+v, want only the old one", gens)
	}
	next, err := s.Stage(settings(ModeAvailable), material("next"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, GenerationsDir, stagePrefix+staged)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the next stage left the unfinished generation behind: %v", err)
	}
	if next <= staged {
		t.Errorf("sequence went backwards: %s after %s", next, staged)
	}
}

func TestHalfWrittenStagingIsIgnored(t *testing.T) {
	s, dir := openTestStore(t)
	old := stageActivate(t, s, ModeAvailable, "old")
	// A crash in the middle of writing: a staging dir with a config.toml
	// naming mode required but no key at all.
	half := filepath.Join(dir, GenerationsDir, stagePrefix+"20261128T130000Z-0009")
	os.Mkdir(half, 0o700)
	os.WriteFile(filepath.Join(half, SettingsFile), []byte("mode = \"required\"\n"), 0o644)
	l, err := Load(dir, testHost())
	if err != nil || l.Generation != old {
		t.Fatalf("loaded %q (%v), want %s", l.Generation, err, old)
	}
	if err := s.Clean(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(half); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Clean left %s", half)
	}
}

func TestStaleTempLinkIsIgnoredAndCleaned(t *testing.T) {
	s, dir := openTestStore(t)
	old := stageActivate(t, s, ModeAvailable, "old")
	stray := filepath.Join(dir, linkTempPrefix+"4242")
	os.Symlink("generations/nowhere", stray)
	if l, err := Load(dir, testHost()); err != nil || l.Generation != old {
		t.Fatalf("loaded %q (%v)", l.Generation, err)
	}
	stageActivate(t, s, ModeRequired, "new")
	if _, err := os.Lstat(stray); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale temporary link survived the next apply")
	}
}

func TestActivateSwitchesBack(t *testing.T) {
	s, dir := openTestStore(t)
	a := stageActivate(t, s, ModeAvailable, "a")
	b := stageActivate(t, s, ModeRequired, "b")
	if prev, _ := s.Previous(); prev != a {
		t.Errorf("previous of %s = %q, want %s", b, prev, a)
	}
	if err := s.Activate(a); err != nil {
		t.Fatal(err)
	}
	l, _ := Load(dir, testHost())
	if l.Generation != a || l.Settings.Mode != ModeAvailable {
		t.Errorf("after switching back loaded %s %s", l.Generation, l.Settings.Mode)
	}
	if prev, _ := s.Previous(); prev != "" {
		t.Errorf("previous of the oldest = %q, want none", prev)
	}
}

func TestActivateRefusesBadNames(t *testing.T) {
	s, _ := openTestStore(t)
	for _, name := range []string{"", "..", "../../etc", "20261128T120000Z-0001/../x", "20261128T120000Z-0042"} {
		if err := s.Activate(name); err == nil {
			t.Errorf("Activate(%q) succeeded", name)
		}
	}
}

func TestDeactivateLoadsDefaults(t *testing.T) {
	s, dir := openTestStore(t)
	stageActivate(t, s, ModeAvailable, "a")
	if err := s.Deactivate(); err != nil {
		t.Fatal(err)
	}
	l, err := Load(dir, testHost())
	if err != nil || l.Generation != "" || l.Settings.Mode != ModeDisabled {
		t.Errorf("after deactivate: %q %s %v", l.Generation, l.Settings.Mode, err)
	}
}

func TestPruneKeepsFiveAndTheProtected(t *testing.T) {
	s, _ := openTestStore(t)
	var gens []string
	for i := 0; i < 9; i++ {
		gens = append(gens, stageActivate(t, s, ModeAvailable, "g"))
		if err := s.Mark(gens[i], StatusVerified, ""); err != nil {
			t.Fatal(err)
		}
	}
	// Roll back to the second: it is current and must survive; the first is
	// protected as "the one just replaced".
	if err := s.Activate(gens[1]); err != nil {
		t.Fatal(err)
	}
	if err := s.Prune(gens[0]); err != nil {
		t.Fatal(err)
	}
	left, _ := s.Generations()
	var names []string
	for _, g := range left {
		names = append(names, g.Name)
	}
	want := append([]string{gens[0], gens[1]}, gens[4:]...)
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("after prune:\n got %v\nwant %v", names, want)
	}
}

func TestSequenceOrdersGenerationsWhenTheClockGoesBack(t *testing.T) {
	s, _ := openTestStore(t)
	first := stageActivate(t, s, ModeAvailable, "a")
	s.Now = func() time.Time { return time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC) }
	second := stageActivate(t, s, ModeAvailable, "b")
	gens, _ := s.Generations()
	if len(gens) != 2 || gens[0].Name != first || gens[1].Name != second {
		t.Fatalf("generations %+v, want %s then %s", gens, first, second)
	}
	if prev, _ := s.Previous(); prev != first {
		t.Errorf("previous = %q, want %s", prev, first)
	}
}

func TestPruneDropsFailedGenerationsBeforeGoodOnes(t *testing.T) {
	s, _ := openTestStore(t)
	var good []string
	for i := 0; i < 3; i++ {
		good = append(good, stageActivate(t, s, ModeAvailable, "g"))
		s.Mark(good[i], StatusVerified, "")
	}
	var failed []string
	for i := 0; i < 6; i++ {
		g := stageActivate(t, s, ModeAvailable, "f")
		s.Mark(g, StatusFailed, "verify failed")
		failed = append(failed, g)
		if err := s.Activate(good[2]); err != nil {
			t.Fatal(err)
		}
		if err := s.Prune(); err != nil {
			t.Fatal(err)
		}
	}
	left, _ := s.Generations()
	var names []string
	for _, g := range left {
		names = append(names, g.Name)
	}
	want := append(append([]string{}, good...), failed[5])
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("after six failed applies:\n got %v\nwant %v (every good one, and only the newest failure)", names, want)
	}
	if left[3].Status != StatusFailed || left[3].Reason != "verify failed" {
		t.Errorf("the failed generation is listed as %+v", left[3])
	}
}
