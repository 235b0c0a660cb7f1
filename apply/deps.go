package apply

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/smtptls/smtptls/config"
	"github.com/smtptls/smtptls/probe"
	"github.com/smtptls/smtptls/smtpd/relay"
	"github.com/smtptls/smtptls/validate"
)

// ErrNotRunning is what a Reloader returns when no listener answers on the
// control socket; the transaction then starts one.
var ErrNotRunning = errors.New("no listener is running for this config directory")

// ListenerLostError is what a Reloader returns for a listener that runs
// (found by its pid file) but does not answer on its control socket. It
// still serves: nothing may start a second one beside it.
type ListenerLostError struct {
	Pid int
	Dir string
}

func (e *ListenerLostError) Error() string {
	return fmt.Sprintf("listener running (pid %d), control socket missing: `smtptls stop --config-dir %s` then start it", e.Pid, e.Dir)
}

// ReloadOutcome is the listener's answer to a reload request.
type ReloadOutcome struct {
	OK bool
	// Message says why the listener refused (it keeps the old config then).
	Message    string
	Generation string
	Mode       string
	Listen     string // the address actually bound
	// Fingerprint is the SHA-256 hex of the leaf now served, "" when disabled.
	Fingerprint string
	// Warnings name what is served but will hurt (the listener's words).
	Warnings []string
}

// ListenerState is what a running listener reports about itself.
type ListenerState struct {
	Pid         int       `json:"pid"`
	Generation  string    `json:"generation"`
	Mode        string    `json:"mode"`
	Listen      string    `json:"listen"`
	Fingerprint string    `json:"fingerprint,omitempty"`
	Since       time.Time `json:"since"`
	// NextHop is where the listener relays, "" when it spools.
	NextHop string `json:"next_hop,omitempty"`
	// Relay counts relay outcomes since the listener started.
	Relay relay.Counters `json:"relay"`
}

// Reloader drives the listener of a config directory. The default talks to
// the bundled smtpd over its control socket; tests inject listeners that
// refuse or die.
type Reloader interface {
	// Reload asks the running listener to load the current generation;
	// ErrNotRunning when none runs.
	Reload(ctx context.Context, dir string) (ReloadOutcome, error)
	// Start runs the listener detached (exe serve --config-dir dir) and
	// returns once it answers.
	Start(ctx context.Context, exe, dir string) (ListenerState, error)
	// State reports the running listener; ErrNotRunning when none runs.
	State(ctx context.Context, dir string) (ListenerState, error)
	// Stop stops a detached listener.
	Stop(ctx context.Context, dir string) error
}

// VerifyRequest is what the verify step asks of a Prober.
type VerifyRequest struct {
	Target   string // host:port to dial
	Hostname string // the name the certificate must carry
	// Roots are the trust anchors: the system roots plus the installed CA
	// bundle, so a private CA verifies too.
	Roots       *x509.CertPool
	Fingerprint string // the leaf that must be served; "" in disabled mode
	Required    bool   // plaintext MAIL must be refused
	Disabled    bool   // STARTTLS must not be offered
	Timeout     time.Duration
	Now         time.Time
}

// Prober runs the receiver test against the listener. The default is
// probe.Run.
type Prober interface {
	Probe(ctx context.Context, r VerifyRequest) probe.Report
}

// Deps is everything the transaction touches outside the config directory.
// Zero fields get the real implementations.
type Deps struct {
	Host config.Host
	Now  func() time.Time
	// Exe is the smtptls binary, run as `Exe serve` when no listener runs.
	Exe      string
	Reloader Reloader
	Prober   Prober
	// Validate is the full check of pasted material; validate.Check.
	Validate func(validate.Input) validate.Report
	// Roots is the system trust pool for validation and verify; nil means
	// validate.SystemRoots(), loaded only when a chain needs it (a bundle
	// that carries its own root does not), which saves most of a CLI
	// apply's start-up.
	Roots *x509.CertPool
	// Command is recorded in the lock so a second admin sees who applies.
	Command string
	// Hook runs before each step; an error stops the transaction right
	// there, as if the process had died (tests of crash safety).
	Hook func(StepName) error
	// VerifyTimeout bounds each network step of verify; zero means 5 s.
	VerifyTimeout time.Duration
	Log           *slog.Logger
	// CheckNextHop opens and closes a session to the relay's next hop
	// (verify and status with delivery = relay); relay.Check.
	CheckNextHop func(ctx context.Context, s config.Settings, timeout time.Duration) relay.CheckResult
	// PostfixTools names postconf and postfix for a Postfix target; empty
	// finds them in PATH or /usr/sbin.
	PostfixTools PostfixTools
	// PostfixExtra are main.cf parameters written with smtptls's own in the
	// same postconf -e call and restored with them: a test hook to make
	// Postfix fail its check or reload.
	PostfixExtra map[string]string
}

// PostfixTools are the Postfix commands a Postfix target runs.
type PostfixTools struct{ Postconf, Postfix string }

func (d Deps) withDefaults() Deps {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Host.Getenv == nil {
		d.Host = config.ThisHost()
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.VerifyTimeout <= 0 {
		d.VerifyTimeout = 5 * time.Second
	}
	if d.Command == "" {
		d.Command = "smtptls apply"
	}
	realDefaults(&d)
	return d
}
