package acme

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"strings"

	legoacme "github.com/go-acme/lego/v5/acme"
)

// portNote answers the question every admin asks first.
const portNote = "ACME cannot validate over port 25, so the CA needs port 80 (http-01), port 443 (tls-alpn-01) or DNS (dns-01)"

// explainServer says why the CA's directory could not be used.
func explainServer(s Settings, err error) string {
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	switch {
	case errors.As(err, &ua), strings.Contains(err.Error(), "certificate signed by unknown authority"):
		return fmt.Sprintf("the ACME server %s presents an HTTPS certificate this machine does not trust: for a private CA pass --server-ca FILE with the certificate it chains to (%v)", s.Server, err)
	case errors.As(err, &he):
		return fmt.Sprintf("the ACME server's HTTPS certificate is not for %s: check --server (%v)", host(s.Server), err)
	}
	return fmt.Sprintf("could not use the ACME directory %s: %v; check --server (and the network: this machine must reach the CA over HTTPS)", s.Server, err)
}

// explainAccount says why the account could not be registered.
func explainAccount(s Settings, err error) string {
	var p *legoacme.ProblemDetails
	if errors.As(err, &p) {
		switch problem(p) {
		case "externalAccountRequired":
			return fmt.Sprintf("the CA %s requires external account binding: pass --eab-kid ID --eab-hmac-file FILE with the key ID and HMAC key from your account at the CA", s.Server)
		case "unauthorized", "malformed":
			if strings.Contains(strings.ToLower(p.Detail), "external account") || strings.Contains(strings.ToLower(p.Detail), "eab") {
				return fmt.Sprintf("the CA refused the external account binding: %s; check --eab-kid and the HMAC key in --eab-hmac-file", p.Detail)
			}
		case "invalidContact", "unsupportedContact":
			return fmt.Sprintf("the CA refused the e-mail address %s: %s; give another --email", s.Email, p.Detail)
		}
		return fmt.Sprintf("the CA refused to register the account: %s", p.Detail)
	}
	return explainServer(s, err)
}

// explainOrder turns a failed order into one message saying what to do.
func explainOrder(s Settings, err error) *Error {
	var p *legoacme.ProblemDetails
	if !errors.As(err, &p) {
		msg := err.Error()
		step := StepOrder
		switch {
		case strings.Contains(msg, "could not start HTTP server"), strings.Contains(msg, "could not start HTTPS server"):
			step = StepChallenge
			addr := s.HTTPAddr
			if s.Challenge == TLSALPN01 {
				addr = s.TLSALPNAddr
			}
			hint := ""
			switch {
			case strings.Contains(msg, "address already in use"):
				hint = fmt.Sprintf("; another program (often a web server) holds %s: stop it for the order, or use --challenge dns-01", addr)
			case strings.Contains(msg, "permission denied"):
				hint = "; ports below 1024 need root or CAP_NET_BIND_SERVICE: run as root, or use --challenge dns-01"
			}
			return &Error{Step: step, Message: fmt.Sprintf("the %s responder could not listen on %s: %v%s", s.Challenge, addr, unwrapAll(err), hint), Err: err}
		}
		var he *hookError
		switch {
		case errors.As(err, &he):
			return &Error{Step: StepChallenge, Message: he.msg + "; fix the hook so that it publishes (present) and removes (cleanup) the TXT record, then try again", Err: err}
		case strings.Contains(msg, "time limit exceeded"):
			return &Error{Step: StepChallenge, Message: fmt.Sprintf("the TXT record for dns-01 did not become visible in time (%v); check that --dns-hook %s publishes it where the zone's DNS servers answer it", unwrapAll(err), s.DNSHook), Err: err}
		case strings.Contains(msg, "DNS hook"), strings.Contains(msg, "propagation"), strings.Contains(msg, "dns01:"):
			return &Error{Step: StepChallenge, Message: fmt.Sprintf("dns-01 failed before the CA looked: %v; check that --dns-hook %s publishes the TXT record where the zone's DNS servers answer it", err, s.DNSHook), Err: err}
		}
		return &Error{Step: step, Message: explainServer(s, err), Err: err}
	}
	name := ""
	for _, d := range s.Domains {
		if strings.Contains(p.Detail, d) {
			name = d
			break
		}
	}
	if name == "" && len(s.Domains) > 0 {
		name = s.Domains[0]
	}
	switch problem(p) {
	case "connection", "incorrectResponse", "unauthorized", "tls", "dns":
		var msg string
		switch s.Challenge {
		case HTTP01:
			msg = fmt.Sprintf("the CA could not reach http://%s/.well-known/acme-challenge/... (%s): open port 80 of %s to the internet and let it reach this machine's %s, or use --challenge dns-01; %s", name, p.Detail, name, s.HTTPAddr, portNote)
		case TLSALPN01:
			msg = fmt.Sprintf("the CA could not validate %s over TLS-ALPN on port 443 (%s): open port 443 of %s to the internet and let it reach this machine's %s, or use --challenge dns-01; %s", name, p.Detail, name, s.TLSALPNAddr, portNote)
		default:
			msg = fmt.Sprintf("the CA did not find the TXT record _acme-challenge.%s (%s): check that --dns-hook %s publishes it in the zone's public DNS", name, p.Detail, s.DNSHook)
		}
		return &Error{Step: StepChallenge, Message: msg, Err: err}
	case "rejectedIdentifier", "caa":
		return &Error{Step: StepOrder, Message: fmt.Sprintf("the CA will not issue for %s: %s", name, p.Detail), Err: err}
	case "rateLimited":
		return &Error{Step: StepOrder, Message: fmt.Sprintf("the CA's rate limit stops this order: %s; try again later (the installed certificate keeps serving)", p.Detail), Err: err}
	case "externalAccountRequired", "accountDoesNotExist":
		return &Error{Step: StepAccount, Message: explainAccount(s, err), Err: err}
	}
	return &Error{Step: StepOrder, Message: fmt.Sprintf("the CA refused the order: %s", p.Detail), Err: err}
}

// problem is the short name of an ACME problem type.
func problem(p *legoacme.ProblemDetails) string {
	return strings.TrimPrefix(p.Type, "urn:ietf:params:acme:error:")
}

func host(u string) string {
	if p, err := url.Parse(u); err == nil {
		return p.Host
	}
	return u
}

// unwrapAll is the innermost error: lego's wrapping repeats itself (and
// joins one error per domain; the first one stands for them).
func unwrapAll(err error) error {
	for {
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			if n := u.Unwrap(); n != nil {
				err = n
				continue
			}
		case interface{ Unwrap() []error }:
			if errs := u.Unwrap(); len(errs) > 0 && errs[0] != nil {
				err = errs[0]
				continue
			}
		}
		return err
	}
}
