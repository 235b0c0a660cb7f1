package tui

import (
	"strings"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
)

// Styles holds every style the wizard draws with. They are values built by
// one constructor (not package variables) so each program, and each test,
// can render with its own color profile.
type Styles struct {
	Title     lipgloss.Style // the top bar
	StepInfo  lipgloss.Style // "step 2 of 6" beside the title
	Heading   lipgloss.Style
	Text      lipgloss.Style
	Muted     lipgloss.Style
	Selected  lipgloss.Style // the chosen entry of a list
	OK        lipgloss.Style // recognised, passed, ✓
	Warn      lipgloss.Style
	Err       lipgloss.Style
	Fix       lipgloss.Style // what save will fix
	Code      lipgloss.Style // commands, records, file paths
	Gutter    lipgloss.Style // line numbers of the paste field
	FieldBox  lipgloss.Style
	FocusBox  lipgloss.Style
	Dialog    lipgloss.Style
	HelpKey   lipgloss.Style
	HelpDesc  lipgloss.Style
	HelpSep   lipgloss.Style
	Spinner   lipgloss.Style
	cursorSGR bool
	plain     bool
	// glyphs replaces the symbols a terminal's font lacks; decLines draws
	// box lines with the DEC line-drawing set. Both are chosen once, by
	// ForTerminal.
	glyphs   *strings.Replacer
	decLines bool
}

// Every symbol the wizard draws has a fallback of the same width, so a
// frame laid out for one terminal fits every other: the Linux console's
// fonts lack ✓ ✗ ↻ and the arrows, a VT100 or VT220 has ASCII alone.
var symbolFallbacks = []string{
	"✓", "+", // ok
	"✗", "x", // error
	"↻", "~", // fixed on save
	"•", "*", // masked key, pass phrase
	"…", ".",
	"→", ">",
	"↓", "v",
	"↑", "^",
}

// ForTerminal adapts the styles to what the terminal type can show: on
// "linux" (the virtual console) symbols fall back to ASCII and frames keep
// the box-drawing characters its fonts have; on vt100/vt102/vt220 the
// middle dot goes too and frames use the DEC line-drawing set.
func (s Styles) ForTerminal(term string) Styles {
	switch {
	case term == "linux" || strings.HasPrefix(term, "linux-"):
		s.glyphs = strings.NewReplacer(symbolFallbacks...)
	case strings.HasPrefix(term, "vt100"), strings.HasPrefix(term, "vt102"), strings.HasPrefix(term, "vt220"):
		s.glyphs = strings.NewReplacer(append(append([]string(nil), symbolFallbacks...), "·", "-")...)
		s.decLines = true
	}
	return s
}

// Frame turns a finished frame into what the terminal can show.
func (s Styles) Frame(f string) string {
	if s.glyphs != nil {
		f = s.glyphs.Replace(f)
	}
	if s.decLines {
		f = decLineDrawing(f)
	}
	return f
}

// decGraphics maps box-drawing characters (single and double) onto the DEC
// special graphics set, which VT100-compatible terminals have.
var decGraphics = map[rune]byte{
	'─': 'q', '│': 'x', '┌': 'l', '┐': 'k', '└': 'm', '┘': 'j', '├': 't', '┤': 'u', '┬': 'w', '┴': 'v', '┼': 'n',
	'═': 'q', '║': 'x', '╔': 'l', '╗': 'k', '╚': 'm', '╝': 'j',
}

// decLineDrawing switches to the line-drawing set (ESC ( 0) for each run
// of box characters and back (ESC ( B) after it: the zero-width switches
// keep every line as wide as it was laid out.
func decLineDrawing(f string) string {
	var b strings.Builder
	b.Grow(len(f) + len(f)/8)
	in := false
	for _, r := range f {
		c, box := decGraphics[r]
		switch {
		case box && !in:
			b.WriteString("\x1b(0")
			in = true
		case !box && in:
			b.WriteString("\x1b(B")
			in = false
		}
		if box {
			b.WriteByte(c)
		} else {
			b.WriteRune(r)
		}
	}
	if in {
		b.WriteString("\x1b(B")
	}
	return b.String()
}

// Plain reports whether the styles draw without any color or attribute.
func (s Styles) Plain() bool { return s.plain }

// Cursor marks the character under the cursor. With colors off it still
// uses reverse video (NO_COLOR forbids color, not attributes), except on a
// dumb terminal where nothing can be drawn.
func (s Styles) Cursor(ch string) string {
	if ch == "" {
		ch = " "
	}
	if !s.cursorSGR {
		return ch
	}
	return "\x1b[7m" + ch + "\x1b[27m"
}

// DefaultStyles builds the styles for renderer r. noAttrs turns off even
// reverse video (a dumb terminal, or golden tests that compare plain text).
func DefaultStyles(r *lipgloss.Renderer, noAttrs bool) Styles {
	if r == nil {
		r = lipgloss.DefaultRenderer()
	}
	plain := r.ColorProfile() == termenv.Ascii
	green := lipgloss.AdaptiveColor{Light: "#1a7f37", Dark: "#3fb950"}
	yellow := lipgloss.AdaptiveColor{Light: "#9a6700", Dark: "#d29922"}
	red := lipgloss.AdaptiveColor{Light: "#cf222e", Dark: "#f85149"}
	blue := lipgloss.AdaptiveColor{Light: "#0969da", Dark: "#58a6ff"}
	muted := lipgloss.AdaptiveColor{Light: "#6e7781", Dark: "#8b949e"}
	return Styles{
		Title:     r.NewStyle().Bold(true).Foreground(blue),
		StepInfo:  r.NewStyle().Foreground(muted),
		Heading:   r.NewStyle().Bold(true),
		Text:      r.NewStyle(),
		Muted:     r.NewStyle().Foreground(muted),
		Selected:  r.NewStyle().Bold(true).Foreground(blue),
		OK:        r.NewStyle().Foreground(green),
		Warn:      r.NewStyle().Foreground(yellow),
		Err:       r.NewStyle().Foreground(red),
		Fix:       r.NewStyle().Foreground(blue),
		Code:      r.NewStyle().Foreground(blue),
		Gutter:    r.NewStyle().Foreground(muted),
		FieldBox:  r.NewStyle().Border(lipgloss.NormalBorder()).BorderForeground(muted),
		FocusBox:  r.NewStyle().Border(lipgloss.NormalBorder()).BorderForeground(blue),
		Dialog:    r.NewStyle().Border(lipgloss.DoubleBorder()).BorderForeground(yellow).Padding(0, 1),
		HelpKey:   r.NewStyle().Bold(true),
		HelpDesc:  r.NewStyle().Foreground(muted),
		HelpSep:   r.NewStyle().Foreground(muted),
		Spinner:   r.NewStyle().Foreground(blue),
		cursorSGR: !noAttrs,
		plain:     plain,
	}
}
