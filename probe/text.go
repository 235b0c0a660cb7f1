package probe

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"time"
)

// ANSI colors; only used when the caller says the output is a terminal.
const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiDim    = "\x1b[2m"
)

// Label is a status as the table shows it: a symbol for the eye and a word
// for grep and for screen readers.
func (s Status) Label() string {
	switch s {
	case Pass:
		return "✓ PASS"
	case Warn:
		return "! WARN"
	case Fail:
		return "✗ FAIL"
	}
	return "- SKIP"
}

func (s Status) color() string {
	switch s {
	case Pass:
		return ansiGreen
	case Warn:
		return ansiYellow
	case Fail:
		return ansiRed
	}
	return ansiDim
}

// Counts returns how many stages failed and warned over all hosts.
func (r Report) Counts() (failed, warned int) {
	for _, h := range r.Hosts {
		for _, s := range h.Stages {
			switch s.Status {
			case Fail:
				failed++
			case Warn:
				warned++
			}
		}
	}
	return failed, warned
}

// Stage returns the stage called name, if the host has it.
func (h Host) Stage(name string) (Stage, bool) {
	for _, s := range h.Stages {
		if s.Name == name {
			return s, true
		}
	}
	return Stage{}, false
}

// WriteText writes the human report: one aligned table per host, the
// certificates served, and a verdict line.
func WriteText(w io.Writer, r Report, color bool) error {
	bw := bufio.NewWriter(w)
	paint := func(code, s string) string {
		if !color {
			return s
		}
		return code + s + ansiReset
	}
	failed, warned := r.Counts()
	fmt.Fprintf(bw, "%s  score %d/100\n", paint(ansiBold, "smtptls verify "+r.Target), r.Score)
	for _, h := range r.Hosts {
		fmt.Fprintln(bw)
		head := h.Target
		if h.Via != "" {
			head += "  " + h.Via
		}
		if h.Address != "" && !strings.HasPrefix(h.Target, h.Address) && h.Address != h.Target {
			head += "  at " + h.Address
		}
		fmt.Fprintf(bw, "%s  score %d/100\n", paint(ansiBold, head), h.Score)
		nameW := len("STAGE")
		for _, s := range h.Stages {
			nameW = max(nameW, len(s.Name))
		}
		fmt.Fprintf(bw, "  %-*s  %-6s  %8s  %s\n", nameW, "STAGE", "RESULT", "TIME", "DETAIL")
		for _, s := range h.Stages {
			took := ""
			if s.Took > 0 {
				took = formatTook(s.Took)
			}
			fmt.Fprintf(bw, "  %-*s  %s  %8s  %s\n", nameW, s.Name, paint(s.Status.color(), s.Status.Label()), took, s.Detail)
		}
		if len(h.Served) > 0 {
			fmt.Fprintln(bw, "  Certificates served, in order:")
			for i, c := range h.Served {
				role := "leaf"
				switch {
				case i == 0:
				case !c.IsCA:
					role = "not a CA"
				case c.Subject == c.Issuer:
					role = "root CA"
				default:
					role = "intermediate CA"
				}
				fmt.Fprintf(bw, "    %d. %s (%s)\n", i+1, c.Subject, role)
				fmt.Fprintf(bw, "       issued by %s, expires %s, sha256 %s\n", c.Issuer, c.NotAfter.UTC().Format("2006-01-02"), c.SHA256)
			}
		}
	}
	fmt.Fprintln(bw)
	switch {
	case failed > 0 && warned > 0:
		fmt.Fprintf(bw, "%s: %s failed, %s\n", paint(ansiRed, "FAILED"), plural(failed, "stage"), plural(warned, "warning"))
	case failed > 0:
		fmt.Fprintf(bw, "%s: %s failed\n", paint(ansiRed, "FAILED"), plural(failed, "stage"))
	case len(r.Hosts) == 0:
		fmt.Fprintln(bw, paint(ansiRed, "FAILED")+": no server to test")
	case warned > 0:
		fmt.Fprintf(bw, "%s with %s\n", paint(ansiYellow, "PASSED"), plural(warned, "warning"))
	default:
		fmt.Fprintln(bw, paint(ansiGreen, "PASSED"))
	}
	return bw.Flush()
}

func formatTook(d time.Duration) string {
	switch {
	case d < 100*time.Microsecond:
		return "<0.1ms"
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}
