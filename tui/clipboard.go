package tui

import (
	"fmt"
	"io"
	"strings"

	"github.com/atotto/clipboard"
	"github.com/aymanbagabas/go-osc52/v2"
)

// Clipboard returns a Copy function for Deps: the system clipboard when the
// wizard runs on the admin's own machine (atotto: xclip, xsel, wl-copy,
// pbcopy), otherwise OSC 52 written to the terminal, which puts the text on
// the clipboard of the machine the admin is sitting at, through SSH, and
// through tmux or screen when wrapped for them. getenv is os.Getenv.
func Clipboard(term io.Writer, getenv func(string) string) func(string) (string, error) {
	return func(text string) (string, error) {
		remote := getenv("SSH_TTY") != "" || getenv("SSH_CONNECTION") != ""
		if !remote && !clipboard.Unsupported {
			if err := clipboard.WriteAll(text); err == nil {
				return "system clipboard", nil
			}
		}
		seq := osc52.New(text)
		how := "terminal clipboard, OSC 52"
		switch {
		case getenv("TMUX") != "":
			seq = seq.Tmux()
			how += " through tmux"
		case strings.HasPrefix(getenv("TERM"), "screen"):
			seq = seq.Screen()
			how += " through screen"
		}
		if _, err := seq.WriteTo(term); err != nil {
			return "", fmt.Errorf("write OSC 52: %w", err)
		}
		return how, nil
	}
}
