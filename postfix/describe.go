package postfix

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/smtptls/smtptls/internal/certpem"
)

// Found is what a Postfix on this machine looks like from outside: what
// the wizard says before asking which one to configure.
type Found struct {
	Version Version
	Listen  Listen
	// Level is smtpd_tls_security_level as Postfix uses it ("" when
	// unset: then older parameters decide, and TLS is off by default).
	Level string
	// Running is known only to root; Known false means it was not asked.
	Running, Known bool
	// Cert is the server certificate main.cf names, nil when none (or
	// unreadable: it may sit next to a key only root reads).
	Cert *x509.Certificate
}

// Describe reads version, listen address, TLS level and the certificate
// main.cf names. It fails only when postconf cannot run (no Postfix).
func (p *Instance) Describe(ctx context.Context, root bool) (Found, error) {
	var f Found
	v, err := p.Version(ctx)
	if err != nil {
		return f, err
	}
	f.Version = v
	if l, err := p.SMTPListen(ctx); err == nil {
		f.Listen = l
	}
	eff, err := p.Effective(ctx, ParamSecurityLevel, ParamChainFiles, ParamCertFile)
	if err != nil {
		return f, err
	}
	f.Level = eff[ParamSecurityLevel]
	files := strings.FieldsFunc(eff[ParamChainFiles], func(r rune) bool { return r == ',' || r == ' ' })
	if len(files) == 0 && eff[ParamCertFile] != "" {
		files = []string{eff[ParamCertFile]}
	}
	for _, name := range files {
		if c := firstCert(name); c != nil {
			f.Cert = c
			break
		}
	}
	if root {
		f.Running, err = p.Running(ctx)
		f.Known = err == nil
	}
	return f, nil
}

// firstCert is the first certificate in a PEM file, nil when there is none
// or the file cannot be read.
func firstCert(name string) *x509.Certificate {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil
	}
	c, _ := certpem.First(b)
	return c
}

// Summary is one line for a person: "Postfix 3.7.11, smtpd on 0.0.0.0:25,
// TLS currently: may, certificate mail.example.org expires 2027-01-27 (57
// days)".
func (f Found) Summary(now time.Time) string {
	parts := []string{"Postfix " + f.Version.String()}
	if len(f.Listen.Addrs) > 0 {
		parts = append(parts, "smtpd on "+f.Listen.String())
	}
	level := f.Level
	if level == "" {
		level = "none (not set)"
	}
	parts = append(parts, "TLS currently: "+level)
	if c := f.Cert; c != nil {
		days := int(c.NotAfter.Sub(now).Hours() / 24)
		word := "expires"
		if c.NotAfter.Before(now) {
			word = "EXPIRED"
		}
		parts = append(parts, fmt.Sprintf("certificate %s %s %s (%d days)", c.Subject.CommonName, word, c.NotAfter.UTC().Format("2006-01-02"), days))
	}
	if f.Known && !f.Running {
		parts = append(parts, "not running")
	}
	return strings.Join(parts, ", ")
}
