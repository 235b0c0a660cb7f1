package smtpd

import (
	"crypto/tls"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// sessionInfo gathers what the one log line per connection says. It is
// written by the session goroutine and read by Close, which may run on a
// shutdown goroutine, hence the mutex.
type sessionInfo struct {
	mu       sync.Mutex
	peer     string
	start    time.Time
	helo     string
	tls      string // "TLS1.3 TLS_AES_128_GCM_SHA256" or ""
	queued   []string
	rejected []string // replies that refused a message or command
	result   string
}

func (s *sessionInfo) setHelo(h string) {
	s.mu.Lock()
	s.helo = h
	s.mu.Unlock()
}

func (s *sessionInfo) setTLS(st tls.ConnectionState) {
	s.mu.Lock()
	s.tls = tlsDescription(st)
	s.mu.Unlock()
}

func (s *sessionInfo) tlsText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tls
}

func (s *sessionInfo) addQueued(id string) {
	s.mu.Lock()
	s.queued = append(s.queued, id)
	s.mu.Unlock()
}

func (s *sessionInfo) addRejected(why string) {
	s.mu.Lock()
	if len(s.rejected) < 10 {
		s.rejected = append(s.rejected, why)
	}
	s.mu.Unlock()
}

func (s *sessionInfo) setResult(r string) {
	s.mu.Lock()
	s.result = r
	s.mu.Unlock()
}

func (s *sessionInfo) logEnd(log *slog.Logger) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tlsText := s.tls
	if tlsText == "" {
		tlsText = "plaintext"
	}
	result := s.result
	switch {
	case result != "":
	case len(s.queued) > 0:
		result = "delivered"
	case len(s.rejected) > 0:
		result = "rejected"
	default:
		result = "no mail"
	}
	attrs := []any{"peer", s.peer, "helo", s.helo, "tls", tlsText, "result", result,
		"queued", strings.Join(s.queued, ","), "duration", time.Since(s.start).Round(time.Millisecond)}
	if len(s.rejected) > 0 {
		attrs = append(attrs, "rejected", strings.Join(s.rejected, "; "))
	}
	log.Info("session", attrs...)
}

func tlsDescription(st tls.ConnectionState) string {
	if d, ok := tlsDescriptions()[tlsParams{st.Version, st.CipherSuite}]; ok {
		return d
	}
	return describeTLS(st.Version, st.CipherSuite)
}

func describeTLS(version, suite uint16) string {
	// "TLSv1.3", as Postfix logs it: one token, easy to grep.
	return strings.Replace(tls.VersionName(version), "TLS ", "TLSv", 1) + " " + tls.CipherSuiteName(suite)
}

type tlsParams struct{ version, suite uint16 }

// tlsDescriptions is built once, on the first TLS session, and read-only
// after: every session needs its text twice, and tls.CipherSuiteName builds
// the list of all suites per call. Not at init, where every command, --help
// included, would pay its millisecond.
var tlsDescriptions = sync.OnceValue(func() map[tlsParams]string {
	m := map[tlsParams]string{}
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11, tls.VersionTLS12, tls.VersionTLS13} {
		for _, cs := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
			m[tlsParams{v, cs.ID}] = describeTLS(v, cs.ID)
		}
	}
	return m
})
