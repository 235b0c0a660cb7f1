package relay

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"github.com/smtptls/smtptls/config"
)

// CheckResult is what Check found at the next hop.
type CheckResult struct {
	NextHop string `json:"next_hop"`
	// Reachable: greeting and EHLO (LHLO) answered, and with tls = verify
	// STARTTLS with a verified certificate.
	Reachable bool `json:"reachable"`
	// TLS names the version and cipher when STARTTLS was used, "" otherwise.
	TLS string `json:"tls,omitempty"`
	// Detail is why it is not reachable, or what was seen.
	Detail string `json:"detail"`
}

// Check opens a session to the next hop as relaying would (greeting, EHLO,
// STARTTLS per the TLS mode), then QUITs. For apply's verify and status.
func Check(ctx context.Context, t Target, localName string, timeout time.Duration) CheckResult {
	r := New(t, Options{LocalName: localName, DialTimeout: timeout, CommandTimeout: timeout})
	res := CheckResult{NextHop: t.NextHop.URL}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	o, err := r.connectTLS(ctx, t.TLS != config.RelayTLSNone)
	var se *setupError
	if err != nil && t.TLS == config.RelayTLSMay && errors.As(err, &se) && se.reply == errTLSFailed {
		res.Detail = "STARTTLS failed (" + se.reason + "); plaintext is used instead: "
		o, err = r.connectTLS(ctx, false)
	}
	if err != nil {
		res.Detail += err.Error()
		return res
	}
	defer o.close()
	_ = o.raw.SetDeadline(time.Now().Add(timeout))
	_ = o.c.Quit()
	res.Reachable = true
	verb := r.helloVerb()
	if o.tls != nil {
		res.TLS = fmt.Sprintf("%s %s", tls.VersionName(o.tls.Version), tls.CipherSuiteName(o.tls.CipherSuite))
		res.Detail += fmt.Sprintf("%s answers %s and STARTTLS (%s)", t.NextHop.URL, verb, res.TLS)
		if t.TLS == config.RelayTLSVerify {
			res.Detail += fmt.Sprintf(", certificate verified for %s", t.ServerName)
		}
		return res
	}
	res.Detail += fmt.Sprintf("%s answers %s (no TLS)", t.NextHop.URL, verb)
	return res
}
