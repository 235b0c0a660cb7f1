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

// Values an admin copies by hand (fingerprints, TLSA records, file paths,
// commands) are wrapped, never cut: a shortened digest typed into DNS is a
// wrong record, and a command without its target does something else.

// wrapValue breaks a value without spaces (a digest, a path) every w
// columns.
func wrapValue(s string, w int) string { return ansi.Hardwrap(s, max(w, 8), true) }

// wrapCommand breaks a shell command at spaces outside quotes and ends
// every continued line with " \", so the lines pasted into a shell run as
// the one command; a word longer than a line is cut where it must be.
func wrapCommand(s string, w int) string {
	w = max(w, 12)
	var words []string
	word, quoted := "", false
	for _, r := range s {
		switch {
		case r == '\'':
			quoted = !quoted
		case r == ' ' && !quoted:
			if word != "" {
				words = append(words, word)
			}
			word = ""
			continue
		}
		word += string(r)
	}
	if word != "" {
		words = append(words, word)
	}
	var lines []string
	line := ""
	for _, wd := range words {
		switch {
		case line == "":
			line = wd
		case ansi.StringWidth(line)+1+ansi.StringWidth(wd) <= w-2:
			line += " " + wd
		default:
			lines = append(lines, line+" \\")
			line = wd
		}
		for ansi.StringWidth(line) > w {
			cut := ansi.Truncate(line, w, "")
			lines = append(lines, cut)
			line = line[len(cut):]
		}
	}
	return strings.Join(append(lines, line), "\n")
}
