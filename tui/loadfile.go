package tui

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/smtptls/smtptls/validate"
)

// maxLoad bounds a file loaded into a field: the engine's own limit (a
// bundle of every public root is about 250 KB; anything larger than this is
// the wrong file).
const maxLoad = validate.MaxFieldBytes

func (fs *fieldScreen) updatePath(k tea.KeyMsg) (nav, tea.Cmd) {
	switch k.Type {
	case tea.KeyTab:
		if !k.Paste && !fs.Burst {
			v, cands := completePath(fs.path.Value())
			fs.path.SetValue(v)
			fs.path.CursorEnd()
			fs.completed = cands
		}
		return stay, nil
	case tea.KeyEnter:
		if k.Paste || fs.Burst {
			return stay, nil
		}
		p := expandHome(strings.TrimSpace(fs.path.Value()))
		text, err := readPEMFile(p)
		if err != nil {
			fs.note, fs.noteErr = err.Error(), true
			fs.layout()
			return stay, nil
		}
		fs.f.SetValue(text)
		fs.prefilled = false
		fs.input = inputField
		fs.path.Blur()
		fs.completed = nil
		fs.note = fmt.Sprintf("Loaded %s (%d lines).", p, fs.f.LineCount())
		fs.noteErr = false
		return stay, fs.changed(true)
	case tea.KeyEsc:
		fs.input = inputField
		fs.path.Blur()
		fs.completed = nil
		fs.layout()
		return stay, nil
	}
	var cmd tea.Cmd
	fs.path, cmd = fs.path.Update(k)
	fs.completed = nil
	return stay, cmd
}

func readPEMFile(p string) (string, error) {
	if p == "" {
		return "", fmt.Errorf("type the path of a PEM file, then press enter")
	}
	f, err := os.Open(p)
	if err != nil {
		return "", fmt.Errorf("cannot open %s: %v", p, plainErr(err))
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("cannot read %s: %v", p, plainErr(err))
	}
	if st.IsDir() {
		return "", fmt.Errorf("%s is a directory: type the name of a file in it (tab completes)", p)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxLoad+1))
	if err != nil {
		return "", fmt.Errorf("cannot read %s: %v", p, plainErr(err))
	}
	if len(b) > maxLoad {
		return "", fmt.Errorf("%s is larger than %s: that is not a PEM certificate file", p, humanBytes(maxLoad))
	}
	return string(b), nil
}

func plainErr(err error) error {
	var pe *os.PathError
	if e, ok := err.(*os.PathError); ok {
		pe = e
		return pe.Err
	}
	return err
}

func expandHome(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if h, err := os.UserHomeDir(); err == nil {
			return filepath.Join(h, p[1:])
		}
	}
	return p
}

// completePath completes v as far as it is unambiguous, like a shell, and
// returns the candidates when there are several.
func completePath(v string) (string, []string) {
	if v == "~" {
		v = "~/"
	}
	full := expandHome(v)
	dir, base := filepath.Split(full)
	readDir := dir
	if readDir == "" {
		readDir = "."
	}
	entries, err := os.ReadDir(readDir)
	if err != nil {
		return v, nil
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), base) && (strings.HasPrefix(base, ".") || !strings.HasPrefix(e.Name(), ".")) {
			n := e.Name()
			if e.IsDir() {
				n += "/"
			} else if e.Type()&os.ModeSymlink != 0 {
				if st, err := os.Stat(filepath.Join(readDir, n)); err == nil && st.IsDir() {
					n += "/"
				}
			}
			names = append(names, n)
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return v, nil
	}
	prefix := names[0]
	for _, n := range names[1:] {
		for !strings.HasPrefix(n, prefix) {
			prefix = prefix[:len(prefix)-1]
		}
	}
	out := v[:len(v)-len(base)] + prefix
	if len(names) == 1 {
		return out, nil
	}
	return out, names
}
