package apply

import (
	"context"
	"fmt"
	"time"

	"github.com/smtptls/smtptls/config"
)

// Target is what a generation is made live on: the bundled listener or
// the Postfix already on the machine. The transaction, status and rollback
// talk only to this, so they do not care which one it is.
type Target interface {
	// Name is config.TargetBundled or config.TargetPostfix.
	Name() string
	// Prepare runs before anything is written or switched. It notes what
	// serves now (for Restore) and refuses when the target cannot take next
	// (Postfix not running); the plan lists what it will change outside
	// the store and the files to stage with the generation.
	Prepare(ctx context.Context, cur, next config.Loaded) (Plan, error)
	// Activate makes next live; the store has just been switched to it.
	Activate(ctx context.Context, next config.Loaded) (Activation, error)
	// Restore makes what served before Activate serve again; the store has
	// already been switched back to prev. ok is false when that could not
	// be confirmed (an environment error: the admin must look).
	Restore(ctx context.Context, prev config.Loaded) (detail string, ok bool)
	// Status says what the target serves now, against what is installed.
	// loaded is false when the installed configuration cannot be read
	// (installed then holds only its name); sound is false when it fails
	// the gate, so it must not be loaded as it is.
	Status(ctx context.Context, installed config.Loaded, loaded, sound bool) TargetStatus
}

// unwriter is a target that has written outside the store something that
// names files in it (Postfix's main.cf): a rollback undoes that first,
// then switches the store back, then calls Restore.
type unwriter interface {
	Unwrite(ctx context.Context) error
}

// Plan is what a target will do besides the generation store.
type Plan struct {
	// Changes are shown by a dry run and the review, after the store's own.
	Changes []Change
	// Files are staged into the generation (0600), by base name.
	Files map[string][]byte
}

// Activation is a target's answer to Activate.
type Activation struct {
	Listen string // where it takes mail, as the target reports it
	Dial   string // where verify connects
	Detail string
	// Settle is how long verify keeps retrying a stale certificate:
	// processes that were mid-session may still serve the old one.
	Settle time.Duration
}

// TargetStatus is what status reports about the target.
type TargetStatus struct {
	Running  bool
	Listener *ListenerState
	// ServesInstalled: what is served is what is installed.
	ServesInstalled bool
	Attention       []string
	// Lost says that a listener runs but its control socket is missing.
	Lost string
}

// targetError is a refusal by a target that is the machine's fault, not
// the input's (exit 2).
type targetError struct{ msg string }

func (e *targetError) Error() string { return e.msg }

// targetFor picks the target a configuration names.
// verifyAt, when set, is where to verify instead of where the target says
// it listens (Postfix only: the bundled listener's address is a setting).
func targetFor(d Deps, dir string, s config.Settings, verifyAt string) (Target, error) {
	switch s.TargetName() {
	case config.TargetBundled:
		return &bundledTarget{r: d.Reloader, exe: d.Exe, dir: dir}, nil
	case config.TargetPostfix:
		return newPostfixTarget(d, dir, s, verifyAt), nil
	}
	return nil, fmt.Errorf("unknown target %q", s.Target)
}
