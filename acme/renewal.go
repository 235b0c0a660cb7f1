package acme

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/go-acme/lego/v5/acme/api"
	"github.com/go-acme/lego/v5/lego"
	legolog "github.com/go-acme/lego/v5/log"

	"github.com/smtptls/smtptls/probe"
)

// RenewDays is how close to expiry a certificate is renewed without the
// CA's renewal information saying so: a third of a 90-day certificate.
const RenewDays = 30

// ariNoneRetry is how long a CA without renewal information is not asked
// again; ariMinRetry and ariMaxRetry clamp the Retry-After of one that has.
const (
	ariNoneRetry = 7 * 24 * time.Hour
	ariMinRetry  = time.Hour
	ariMaxRetry  = 24 * time.Hour
)

// Due says whether leaf should be renewed now, and why in words.
// ariCheck, when not nil, is asked for the CA's renewal window (RFC 9773)
// unless st holds a fresh answer for this certificate; st is updated with
// what it said, so a renew that finds nothing due does not ask again for
// hours.
func Due(leaf *x509.Certificate, now time.Time, st *State, ariCheck func() (start, end time.Time, retry time.Duration, err error)) (bool, string) {
	if leaf == nil {
		return true, "no certificate is installed"
	}
	left := leaf.NotAfter.Sub(now)
	days := int(left.Hours() / 24)
	renewAt := leaf.NotAfter.Add(-RenewDays * 24 * time.Hour)
	if !now.Before(renewAt) {
		if left <= 0 {
			return true, fmt.Sprintf("the certificate expired on %s", leaf.NotAfter.UTC().Format("2006-01-02"))
		}
		return true, fmt.Sprintf("the certificate expires in %d days (renewal starts %d days before)", days, RenewDays)
	}
	fp := probe.Fingerprint(leaf)
	if ariCheck != nil && (st.ARICert != fp || !now.Before(st.ARIRetry)) {
		start, end, retry, err := ariCheck()
		st.ARICert = fp
		switch {
		case errors.Is(err, api.ErrNoARI):
			st.ARIStart, st.ARIEnd, st.ARIRetry = time.Time{}, time.Time{}, now.Add(ariNoneRetry)
		case err != nil:
			// Not fatal: the expiry rule still holds. Ask again next run.
			st.ARIRetry = time.Time{}
		default:
			retry = min(max(retry, ariMinRetry), ariMaxRetry)
			// RFC 9773 4.2: a random time in the window spreads renewals.
			at := start
			if w := end.Sub(start); w > 0 {
				at = start.Add(time.Duration(rand.Int64N(int64(w))))
			}
			st.ARIStart, st.ARIEnd, st.ARIRetry = at, end, now.Add(retry)
		}
	}
	st.NextTry = renewAt
	if st.ARICert == fp && !st.ARIStart.IsZero() {
		if !now.Before(st.ARIStart) {
			return true, fmt.Sprintf("the CA's renewal information asks for renewal now (window %s to %s)", st.ARIStart.UTC().Format(time.RFC3339), st.ARIEnd.UTC().Format(time.RFC3339))
		}
		if st.ARIStart.Before(renewAt) {
			st.NextTry = st.ARIStart
		}
	}
	return false, fmt.Sprintf("not due: the certificate for %s expires on %s (%d days left); renewal starts %s", leaf.Subject.CommonName, leaf.NotAfter.UTC().Format("2006-01-02"), days, st.NextTry.UTC().Format("2006-01-02 15:04 UTC"))
}

// RenewalWindow asks the CA of r for leaf's renewal window (ARI).
// api.ErrNoARI when the CA does not offer it.
func RenewalWindow(ctx context.Context, r Request, leaf *x509.Certificate) (start, end time.Time, retry time.Duration, err error) {
	s := r.Settings.WithDefaults()
	if r.Log != nil {
		legolog.SetDefault(r.Log)
	}
	hc := r.HTTPClient
	if hc == nil {
		if hc, err = HTTPClient(s.ServerCA); err != nil {
			return
		}
	}
	akey, err := loadAccountKey(r.ConfigDir)
	if err != nil {
		return
	}
	cfg := legoConfig(s.Server, &user{email: s.Email, key: akey}, hc)
	client, err := lego.NewClient(cfg)
	if err != nil {
		return
	}
	info, err := client.Certificate.GetRenewalInfo(ctx, leaf)
	if err != nil {
		return
	}
	return info.SuggestedWindow.Start, info.SuggestedWindow.End, info.RetryAfter, nil
}

// TLSA is the DANE record of a key: "3 1 1 " and the SHA-256 of its
// SubjectPublicKeyInfo, what a published TLSA 3 1 1 record must match.
func TLSA(pub crypto.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(der)
	return "3 1 1 " + hex.EncodeToString(sum[:])
}
