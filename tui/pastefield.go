package tui

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	tea "github.com/charmbracelet/bubbletea"
)

// PasteField is the multi-line input of the certificate, key and bundle
// steps. The bubbles textarea cannot serve here (it caps typed lines at
// MaxHeight, truncates at 10,000 lines, doubles CRLF and redraws every line
// on every frame: about 1 s per keystroke with a 250 KB bundle). This field
// keeps the text as a slice of lines, never limits it, and draws only the
// lines in its window, so a keystroke costs the same with 4 or 4,000 lines.
type PasteField struct {
	lines    []string
	row, col int // cursor: line index, rune index in that line
	top      int // first visible line
	width    int // outer width, border included
	height   int // outer height, border included
	focused  bool
	// MaskBody hides every line but the BEGIN/END markers, for the private
	// key: its body is never drawn, not even while it is being pasted.
	MaskBody    bool
	Placeholder string
	bytes       int
	// version changes with every edit, so callers can cache what they
	// derive from the whole text.
	version int
}

// Version identifies the text's current state; it changes on every edit.
func (f *PasteField) Version() int { return f.version }

// NewPasteField returns an empty field.
func NewPasteField(placeholder string) *PasteField {
	return &PasteField{lines: []string{""}, Placeholder: placeholder, width: 40, height: 5, focused: true}
}

// SetSize sets the outer size, border included.
func (f *PasteField) SetSize(w, h int) {
	f.width, f.height = max(w, 12), max(h, 3)
	f.scroll()
}

// Focus and Blur decide whether the cursor is drawn.
func (f *PasteField) Focus() { f.focused = true }
func (f *PasteField) Blur()  { f.focused = false }

// Value is the text as it will be validated and applied.
func (f *PasteField) Value() string { return strings.Join(f.lines, "\n") }

// Len is the size of the text in bytes.
func (f *PasteField) Len() int { return f.bytes }

// LineCount is the number of lines, counting a last line without newline.
func (f *PasteField) LineCount() int {
	n := len(f.lines)
	if n > 1 && f.lines[n-1] == "" {
		n--
	}
	return n
}

// Empty reports whether the field holds nothing but blanks.
func (f *PasteField) Empty() bool {
	for _, l := range f.lines {
		if strings.TrimSpace(l) != "" {
			return false
		}
	}
	return true
}

// SetValue replaces the text (sanitised) and puts the cursor at the end.
func (f *PasteField) SetValue(s string) {
	f.lines = strings.Split(Sanitize(s), "\n")
	f.row = len(f.lines) - 1
	f.col = utf8.RuneCountInString(f.lines[f.row])
	f.recount()
	f.scroll()
}

// Clear empties the field.
func (f *PasteField) Clear() { f.SetValue("") }

// Insert puts text at the cursor, sanitised first.
func (f *PasteField) Insert(s string) {
	s = Sanitize(s)
	if s == "" {
		return
	}
	line := f.lines[f.row]
	at := byteIndex(line, f.col)
	before, after := line[:at], line[at:]
	parts := strings.Split(s, "\n")
	if len(parts) == 1 {
		f.lines[f.row] = before + s + after
		f.col += utf8.RuneCountInString(s)
	} else {
		last := parts[len(parts)-1]
		parts[0] = before + parts[0]
		parts[len(parts)-1] = last + after
		grown := make([]string, 0, len(f.lines)+len(parts)-1)
		grown = append(grown, f.lines[:f.row]...)
		grown = append(grown, parts...)
		grown = append(grown, f.lines[f.row+1:]...)
		f.lines = grown
		f.row += len(parts) - 1
		f.col = utf8.RuneCountInString(last)
	}
	f.bytes += len(s)
	f.version++
	f.scroll()
}

func (f *PasteField) recount() {
	f.version++
	n := len(f.lines) - 1
	for _, l := range f.lines {
		n += len(l)
	}
	f.bytes = n
}

// Update edits the text for an editing key and reports whether the text
// changed. Bindings (tab, esc, ctrl+...) are the parent's business and
// must be handled before this is called; anything else unknown is ignored.
func (f *PasteField) Update(msg tea.KeyMsg) (changed bool) {
	switch msg.Type {
	case tea.KeyRunes, tea.KeySpace:
		f.Insert(string(msg.Runes))
		return true
	case tea.KeyEnter:
		f.Insert("\n")
		return true
	case tea.KeyBackspace:
		return f.backspace()
	case tea.KeyDelete:
		return f.deleteForward()
	case tea.KeyLeft:
		if f.col > 0 {
			f.col--
		} else if f.row > 0 {
			f.row--
			f.col = utf8.RuneCountInString(f.lines[f.row])
		}
	case tea.KeyRight:
		if f.col < utf8.RuneCountInString(f.lines[f.row]) {
			f.col++
		} else if f.row < len(f.lines)-1 {
			f.row, f.col = f.row+1, 0
		}
	case tea.KeyUp:
		f.moveRow(-1)
	case tea.KeyDown:
		f.moveRow(1)
	case tea.KeyPgUp:
		f.moveRow(-f.innerHeight())
	case tea.KeyPgDown:
		f.moveRow(f.innerHeight())
	case tea.KeyHome, tea.KeyCtrlA:
		f.col = 0
	case tea.KeyEnd, tea.KeyCtrlE:
		f.col = utf8.RuneCountInString(f.lines[f.row])
	case tea.KeyCtrlHome:
		f.row, f.col = 0, 0
	case tea.KeyCtrlEnd:
		f.row = len(f.lines) - 1
		f.col = utf8.RuneCountInString(f.lines[f.row])
	}
	f.scroll()
	return false
}

func (f *PasteField) moveRow(d int) {
	f.row = min(max(f.row+d, 0), len(f.lines)-1)
	f.col = min(f.col, utf8.RuneCountInString(f.lines[f.row]))
}

func (f *PasteField) backspace() bool {
	if f.col > 0 {
		line := f.lines[f.row]
		a, b := byteIndex(line, f.col-1), byteIndex(line, f.col)
		f.lines[f.row] = line[:a] + line[b:]
		f.col--
		f.bytes -= b - a
		f.version++
		f.scroll()
		return true
	}
	if f.row == 0 {
		return false
	}
	prev := f.lines[f.row-1]
	f.col = utf8.RuneCountInString(prev)
	f.lines[f.row-1] = prev + f.lines[f.row]
	f.lines = append(f.lines[:f.row], f.lines[f.row+1:]...)
	f.row--
	f.bytes--
	f.version++
	f.scroll()
	return true
}

func (f *PasteField) deleteForward() bool {
	line := f.lines[f.row]
	if f.col < utf8.RuneCountInString(line) {
		a, b := byteIndex(line, f.col), byteIndex(line, f.col+1)
		f.lines[f.row] = line[:a] + line[b:]
		f.bytes -= b - a
		f.version++
		return true
	}
	if f.row == len(f.lines)-1 {
		return false
	}
	f.lines[f.row] = line + f.lines[f.row+1]
	f.lines = append(f.lines[:f.row+1], f.lines[f.row+2:]...)
	f.bytes--
	f.version++
	return true
}

// CollapseDoubledBreaks undoes a CRLF file typed out by a terminal, which
// sends two Enters (CR for the CR, CR for the LF) for each line break: when
// every line from line index from to the cursor is text followed by an
// empty line, the empty ones go. It reports whether it changed anything.
func (f *PasteField) CollapseDoubledBreaks(from int) bool {
	to := f.row
	if from < 0 || to-from < 3 {
		return false
	}
	for k := from; k+1 <= to; k += 2 {
		if strings.TrimSpace(f.lines[k]) == "" || f.lines[k+1] != "" {
			return false
		}
	}
	kept := make([]string, 0, len(f.lines))
	kept = append(kept, f.lines[:from]...)
	for k := from; k <= to; k++ {
		if (k-from)%2 == 0 || k == to {
			kept = append(kept, f.lines[k])
		}
	}
	removed := (to - from + 1) - (len(kept) - from)
	kept = append(kept, f.lines[to+1:]...)
	f.lines = kept
	f.row -= removed
	f.recount()
	f.scroll()
	return true
}

// GotoLine puts the cursor at the start of 1-based line n, to show the
// line a diagnostic points at.
func (f *PasteField) GotoLine(n int) {
	f.row = min(max(n-1, 0), len(f.lines)-1)
	f.col = 0
	f.scroll()
}

func (f *PasteField) innerHeight() int { return max(f.height-2, 1) }

// scroll keeps the cursor line inside the window.
func (f *PasteField) scroll() {
	h := f.innerHeight()
	if f.row < f.top {
		f.top = f.row
	}
	if f.row >= f.top+h {
		f.top = f.row - h + 1
	}
	f.top = min(f.top, max(len(f.lines)-h, 0))
	f.top = max(f.top, 0)
}

// View draws the window of the text inside a border; only the visible lines
// are touched, whatever the size of the text.
func (f *PasteField) View(st Styles) string {
	inner := max(f.width-2, 8)
	h := f.innerHeight()
	gw := len(strconv.Itoa(len(f.lines)))
	textW := max(inner-gw-1, 4)
	var b strings.Builder
	b.Grow((inner + 8) * (h + 2))
	if f.Empty() && f.row == 0 && f.Placeholder != "" {
		for i := 0; i < h; i++ {
			text := ""
			if i == 0 {
				text = truncateRunes(f.Placeholder, textW)
				if f.focused {
					text = st.Cursor(text[:1]) + st.Muted.Render(text[1:])
				} else {
					text = st.Muted.Render(text)
				}
			}
			if i > 0 {
				b.WriteByte('\n')
			}
			b.WriteString(st.Gutter.Render(fmt.Sprintf("%*s", gw, "")) + " " + text)
		}
	} else {
		inKey := f.inKeyAt(f.top)
		for i := 0; i < h; i++ {
			if i > 0 {
				b.WriteByte('\n')
			}
			n := f.top + i
			if n >= len(f.lines) {
				b.WriteString(st.Gutter.Render(fmt.Sprintf("%*s", gw, "~")))
				continue
			}
			b.WriteString(st.Gutter.Render(fmt.Sprintf("%*d", gw, n+1)))
			b.WriteByte(' ')
			line := f.lines[n]
			if f.MaskBody {
				if !isPEMMarker(line) {
					line = maskRunes(line)
				}
			} else {
				line, inKey = maskKey(line, inKey)
			}
			b.WriteString(f.renderLine(st, line, n, textW))
		}
	}
	box := st.FieldBox
	if f.focused {
		box = st.FocusBox
	}
	return box.Width(inner).Render(b.String())
}

// renderLine draws line n, already masked, cut to w columns.
func (f *PasteField) renderLine(st Styles, line string, n, w int) string {
	runes := []rune(line)
	if !(f.focused && n == f.row) {
		if len(runes) > w {
			return string(runes[:w-1]) + st.Muted.Render("…")
		}
		return line
	}
	// The cursor line scrolls sideways so the cursor stays visible.
	start := 0
	if f.col >= w {
		start = f.col - w + 1
	}
	end := min(len(runes), start+w)
	var b strings.Builder
	for i := start; i < end; i++ {
		if i == f.col {
			b.WriteString(st.Cursor(string(runes[i])))
		} else {
			b.WriteRune(runes[i])
		}
	}
	if f.col >= len(runes) && f.col-start < w {
		b.WriteString(st.Cursor(" "))
	}
	return b.String()
}

// A private key pasted into a field that expects certificates (the key
// file at the certificate step, a bundle file that carries the key) is
// still a private key: wherever it is, its body is drawn as bullets and
// only its BEGIN and END lines show.

const (
	keyBegin = "PRIVATE KEY-----"
	pemBegin = "-----BEGIN "
	pemEnd   = "-----END "
)

// inKeyAt reports whether line n lies inside a PRIVATE KEY block, looking
// back only as far as the nearest PEM marker: a frame costs the same
// whatever the size of the text.
func (f *PasteField) inKeyAt(n int) bool {
	for i := min(n, len(f.lines)) - 1; i >= 0; i-- {
		l := f.lines[i]
		b, e := strings.LastIndex(l, pemBegin), strings.LastIndex(l, pemEnd)
		switch {
		case b < 0 && e < 0:
			continue
		case b > e:
			return strings.Contains(l[b:], keyBegin)
		default:
			return false
		}
	}
	return false
}

// maskKey draws line with any private key material in it as bullets, given
// whether it starts inside a key block, and reports whether the block goes
// on after it. PEM markers stay visible; everything between them does not.
func maskKey(line string, inKey bool) (string, bool) {
	if !inKey && !strings.Contains(line, keyBegin) {
		return line, false
	}
	var b strings.Builder
	rest := line
	for rest != "" {
		if inKey {
			e := strings.Index(rest, pemEnd)
			if e < 0 {
				b.WriteString(maskRunes(rest))
				return b.String(), true
			}
			b.WriteString(maskRunes(rest[:e]))
			rest = rest[e:]
			end := markerLen(rest)
			b.WriteString(rest[:end])
			rest = rest[end:]
			inKey = false
			continue
		}
		i := strings.Index(rest, pemBegin)
		if i < 0 {
			b.WriteString(rest)
			break
		}
		b.WriteString(rest[:i])
		rest = rest[i:]
		end := markerLen(rest)
		b.WriteString(rest[:end])
		inKey = strings.Contains(rest[:end], keyBegin)
		rest = rest[end:]
	}
	return b.String(), inKey
}

// markerLen is the length of the "-----BEGIN X-----" or "-----END X-----"
// marker s starts with: up to its closing dashes, or the whole of s.
func markerLen(s string) int {
	if i := strings.Index(s[5:], "-----"); i >= 0 {
		return 5 + i + 5
	}
	return len(s)
}

func maskRunes(s string) string { return strings.Repeat("•", utf8.RuneCountInString(s)) }

// isPEMMarker reports whether line is a BEGIN or END line and nothing
// more: a key pasted as one long line must not show because it starts
// with its marker.
func isPEMMarker(line string) bool {
	t := strings.TrimSpace(line)
	return (strings.HasPrefix(t, pemBegin) || strings.HasPrefix(t, pemEnd)) && markerLen(t) == len(t)
}

func byteIndex(s string, runeIdx int) int {
	if runeIdx <= 0 {
		return 0
	}
	i := 0
	for bi := range s {
		if i == runeIdx {
			return bi
		}
		i++
	}
	return len(s)
}

func truncateRunes(s string, w int) string {
	r := []rune(s)
	if len(r) <= w {
		return s
	}
	if w <= 1 {
		return string(r[:w])
	}
	return string(r[:w-1]) + "…"
}
