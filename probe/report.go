// Package probe tests a receiving SMTP server's STARTTLS the way online
// receiver tests do, offline and scriptable.
package probe

import "time"

// Status of one stage.
type Status string

const (
	Pass Status = "pass"
	Warn Status = "warn"
	Fail Status = "fail"
	Skip Status = "skip" // not reached because an earlier stage failed, or not applicable
)

// Stage is one step of the test, in the order it ran.
type Stage struct {
	Name   string        `json:"name"` // "resolve", "connect", "banner", "ehlo", "starttls", "handshake", "chain", "trust", "hostname", "expiry", "fingerprint", "mail", "required" (see the Stage constants)
	Status Status        `json:"status"`
	Detail string        `json:"detail"` // one line
	Took   time.Duration `json:"took_ns"`
}

// Certificate is one certificate as the server sent it.
type Certificate struct {
	Subject  string    `json:"subject"`
	Issuer   string    `json:"issuer"`
	NotAfter time.Time `json:"not_after"`
	SHA256   string    `json:"sha256"` // hex, lowercase, no colons
	IsCA     bool      `json:"is_ca"`
}

// Host is the result for one server (one MX, or the single target).
type Host struct {
	Target     string        `json:"target"`            // host:port as dialled
	Name       string        `json:"name"`              // the host name (or IP) tested; the certificate is checked against it unless Hostname is given
	Via        string        `json:"via,omitempty"`     // how it was found: "MX 10 of example.org"; empty when given directly
	Address    string        `json:"address,omitempty"` // IP:port actually connected to
	Stages     []Stage       `json:"stages"`
	TLSVersion string        `json:"tls_version,omitempty"`
	Cipher     string        `json:"cipher,omitempty"`
	Group      string        `json:"group,omitempty"`
	Served     []Certificate `json:"served,omitempty"`
	Score      int           `json:"score"` // 0..100
}

// Report is the whole test: one Host per server tried.
type Report struct {
	Target string `json:"target"` // as given
	Hosts  []Host `json:"hosts"`
	Score  int    `json:"score"` // the worst host's score
}

// Failed reports whether any stage of any host failed.
func (r Report) Failed() bool {
	for _, h := range r.Hosts {
		for _, s := range h.Stages {
			if s.Status == Fail {
				return true
			}
		}
	}
	return len(r.Hosts) == 0
}
