package validate

import (
	"crypto/x509"
	"fmt"
	"io"
	"strings"
)

// SystemRoots is this machine's trust store, or nil when there is none.
func SystemRoots() *x509.CertPool {
	p, err := x509.SystemCertPool()
	if err != nil {
		return nil
	}
	return p
}

const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiRed    = "\x1b[31m"
	ansiYellow = "\x1b[33m"
	ansiCyan   = "\x1b[36m"
	ansiGreen  = "\x1b[32m"
)

var fieldHeading = map[Field]string{
	FieldCertificate: "Certificate",
	FieldKey:         "Private key",
	FieldCABundle:    "CA bundle",
	FieldChain:       "Chain",
}

// WriteText writes the human report: the summary first, then the
// diagnostics grouped by field, then the verdict. color adds ANSI colors.
func WriteText(w io.Writer, r Report, color bool) error {
	tw := &textWriter{w: w, color: color}
	paint := tw.paint
	if s := r.Summary; s != nil {
		tw.line(paint(ansiBold, "Certificate summary"))
		tw.kv("Subject", s.Subject)
		if len(s.SANs) > 0 {
			tw.kv("Names", strings.Join(s.SANs, ", "))
		}
		tw.kv("Issuer", s.Issuer)
		tw.kv("Valid", fmt.Sprintf("%s to %s (%s)", s.NotBefore.UTC().Format("2006-01-02"), s.NotAfter.UTC().Format("2006-01-02"), daysText(s.DaysLeft)))
		kt := s.KeyType
		if s.KeyType == "RSA" {
			kt = fmt.Sprintf("RSA %d bits", s.KeyBits)
		}
		tw.kv("Key", kt)
		if s.Hostname != "" {
			m := "covered"
			if !s.HostnameMatch {
				m = "NOT covered"
			}
			tw.kv("Host name", fmt.Sprintf("%s (%s)", s.Hostname, m))
		}
		tw.kv("SHA-256", s.CertSHA256)
		tw.kv("SPKI SHA-256", s.SPKISHA256)
		tw.kv("DANE TLSA", s.TLSA)
		tw.line("  Chain:")
		for i, c := range s.Chain {
			tw.line(fmt.Sprintf("    %s%s %s (%s, from %s, expires %s)", strings.Repeat("  ", i), "└", c.Subject, c.Role, c.Source, c.NotAfter.UTC().Format("2006-01-02")))
		}
		tw.line("")
	}
	for _, f := range []Field{FieldCertificate, FieldKey, FieldCABundle, FieldChain} {
		var ds []Diagnostic
		for _, d := range r.Diagnostics {
			if d.Field == f {
				ds = append(ds, d)
			}
		}
		if len(ds) == 0 {
			continue
		}
		tw.line(paint(ansiBold, fieldHeading[f]))
		for _, d := range ds {
			tag := map[Severity]string{SevError: paint(ansiRed, "error"), SevWarning: paint(ansiYellow, "warning"), SevInfo: paint(ansiCyan, "info")}[d.Severity]
			loc := ""
			if d.Line > 0 {
				loc = fmt.Sprintf(" (line %d)", d.Line)
			}
			tw.line(fmt.Sprintf("  %s [%s]%s: %s", tag, d.Code, loc, d.Message))
			tw.line("    → " + d.Hint)
		}
		tw.line("")
	}
	var errs, warns int
	for _, d := range r.Diagnostics {
		switch d.Severity {
		case SevError:
			errs++
		case SevWarning:
			warns++
		}
	}
	switch {
	case errs > 0:
		tw.line(paint(ansiRed+ansiBold, fmt.Sprintf("NOT OK: %d error(s), %d warning(s). Fix the errors above, then run the check again.", errs, warns)))
	case warns > 0:
		tw.line(paint(ansiYellow+ansiBold, fmt.Sprintf("OK with %d warning(s): this can be applied.", warns)))
	default:
		tw.line(paint(ansiGreen+ansiBold, "OK: certificate, key and chain are ready to apply."))
	}
	return tw.err
}

func daysText(d int) string {
	switch {
	case d < 0:
		return fmt.Sprintf("expired %d days ago", -d)
	case d == 1:
		return "1 day left"
	}
	return fmt.Sprintf("%d days left", d)
}

type textWriter struct {
	w     io.Writer
	color bool
	err   error
}

func (t *textWriter) paint(code, s string) string {
	if !t.color {
		return s
	}
	return code + s + ansiReset
}

func (t *textWriter) line(s string) {
	if t.err != nil {
		return
	}
	_, t.err = io.WriteString(t.w, s+"\n")
}

func (t *textWriter) kv(k, v string) {
	t.line(fmt.Sprintf("  %-13s %s", k+":", v))
}
