package tui

import (
	"strings"

	"github.com/charmbracelet/x/ansi"
)

// ansiTruncate cuts a styled line to w columns without breaking escapes.
func ansiTruncate(s string, w int) string { return ansi.Truncate(s, w, "…") }

// wrap breaks plain text at spaces only, so a PEM marker such as
// -----BEGIN CERTIFICATE----- is never split at its dashes. A word longer
// than the line is cut hard.
func wrap(s string, w int) string {
	w = max(w, 10)
	var out []string
	for _, para := range strings.Split(s, "\n") {
		line := ""
		for _, word := range strings.Fields(para) {
			for ansi.StringWidth(word) > w {
				if line != "" {
					out = append(out, line)
					line = ""
				}
				out = append(out, word[:w])
				word = word[w:]
			}
			switch {
			case line == "":
				line = word
			case ansi.StringWidth(line)+1+ansi.StringWidth(word) <= w:
				line += " " + word
			default:
				out = append(out, line)
				line = word
			}
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}

func ansiWidth(s string) int { return ansi.StringWidth(s) }

// indent prefixes every line of s.
func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}
