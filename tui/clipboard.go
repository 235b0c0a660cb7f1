package tui

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/atotto/clipboard"
	"github.com/aymanbagabas/go-osc52/v2"
)

// ErrNotCopied is wrapped by a copy that could not be made, or whose
// arrival nobody can vouch for: the wizard then says so and shows the
// value to select with the mouse, never "Copied".
var ErrNotCopied = errors.New("not copied")

// Clipboard returns a Copy function for Deps. It claims a copy only where
// the path is known to work:
//   - the system clipboard on the admin's own machine answered (atotto:
//     xclip, xsel, wl-copy, pbcopy);
//   - OSC 52 to the terminal outside tmux and screen (through SSH too: the
//     text lands on the clipboard of the machine the admin sits at);
//   - OSC 52 inside tmux when tmux passes it on: set-clipboard on, which
//     tmuxOption (tmux show-options -gv NAME) is asked for. tmux's default,
//     "external", keeps what programs send to itself.
//
// getenv is os.Getenv.
func Clipboard(term io.Writer, getenv func(string) string, tmuxOption func(name string) (string, error)) func(string) (string, error) {
	return func(text string) (string, error) {
		remote := getenv("SSH_TTY") != "" || getenv("SSH_CONNECTION") != ""
		if !remote && !clipboard.Unsupported {
			if err := clipboard.WriteAll(text); err == nil {
				return "system clipboard", nil
			}
		}
		seq := osc52.New(text)
		switch {
		case getenv("TMUX") != "":
			v := ""
			if tmuxOption != nil {
				var err error
				if v, err = tmuxOption("set-clipboard"); err != nil {
					return "", fmt.Errorf("%w: tmux did not say whether it passes copies on (%v); `tmux set -g set-clipboard on` lets it", ErrNotCopied, err)
				}
			}
			if strings.TrimSpace(v) != "on" {
				return "", fmt.Errorf("%w: tmux keeps copies from programs to itself (set-clipboard is %s); `tmux set -g set-clipboard on` passes them to your terminal", ErrNotCopied, firstNonEmpty(strings.TrimSpace(v), "unknown"))
			}
			// set-clipboard on: tmux takes OSC 52 as it is and forwards it.
			if _, err := seq.WriteTo(term); err != nil {
				return "", fmt.Errorf("write OSC 52: %w", err)
			}
			return "terminal clipboard, OSC 52 through tmux", nil
		case strings.HasPrefix(getenv("TERM"), "screen"):
			return "", fmt.Errorf("%w: GNU screen does not say whether it passes copies on to your terminal", ErrNotCopied)
		}
		if _, err := seq.WriteTo(term); err != nil {
			return "", fmt.Errorf("write OSC 52: %w", err)
		}
		return "terminal clipboard, OSC 52", nil
	}
}
