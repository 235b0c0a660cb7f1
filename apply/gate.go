package apply

import (
	"fmt"
	"strings"

	"github.com/smtptls/smtptls/config"
	"github.com/smtptls/smtptls/validate"
)

// Problem is one reason a generation must not be made live.
type Problem struct {
	Field   validate.Field `json:"field,omitempty"`
	Message string         `json:"message"`
}

// gate is the one check every path to live passes (apply, set, reload,
// rollback, the wizard's apply-again): settings a listener can run with and
// that are sane, and material that validate finds no error in (expired,
// not yet valid, key mismatch, broken chain, unreadable). It returns the
// validation report and what is wrong, nothing when l may go live.
func gate(d Deps, l config.Loaded) (validate.Report, []Problem) {
	var probs []Problem
	if l.Generation != "" {
		// An edit on disk is history rewritten: it goes live only as a new
		// generation, through apply.
		if err := config.CheckGeneration(l.Dir, l.Generation); err != nil {
			probs = append(probs, Problem{Message: err.Error()})
		}
	}
	if err := l.Settings.Sane(); err != nil {
		probs = append(probs, Problem{Message: "settings: " + err.Error()})
	}
	if !l.Settings.Mode.NeedsCertificate() {
		return validate.Report{}, probs
	}
	if len(l.CertPEM) == 0 || len(l.KeyPEM) == 0 {
		return validate.Report{}, append(probs, Problem{Field: validate.FieldCertificate,
			Message: fmt.Sprintf("mode %s needs a certificate and its key, and one is missing", l.Settings.Mode)})
	}
	rep := d.Validate(validate.Input{
		Certificate: string(l.CertPEM), Key: string(l.KeyPEM),
		CABundle: string(append(append([]byte{}, l.ChainPEM...), l.CAPEM...)),
		Hostname: l.Settings.Hostname, Now: d.Now(), Roots: d.Roots, LoadRoots: validate.SystemRoots,
	})
	for _, dg := range rep.Diagnostics {
		if dg.Severity == validate.SevError {
			m := dg.Message
			if dg.Hint != "" {
				m += " " + dg.Hint
			}
			probs = append(probs, Problem{Field: dg.Field, Message: m})
		}
	}
	return rep, probs
}

// problemList joins problems into one clause.
func problemList(ps []Problem) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = strings.TrimSpace(p.Message)
	}
	return strings.Join(s, "; ")
}

// forcedWarning is what --force says it overrode, loudly and every time.
func forcedWarning(gen string, ps []Problem) string {
	return fmt.Sprintf("FORCED: generation %s was made live although it fails the checks that protect the gateway: %s", gen, problemList(ps))
}
