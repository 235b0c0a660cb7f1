package apply

import (
	"context"
	"errors"
	"fmt"

	"github.com/smtptls/smtptls/config"
)

// bundledTarget is smtptls's own listener, driven through a Reloader: a
// reload over its control socket, or a start when none runs.
type bundledTarget struct {
	r   Reloader
	exe string
	dir string
	// wasRunning: a listener answered before the switch. If we started it,
	// restoring means stopping it again.
	wasRunning bool
}

func (b *bundledTarget) Name() string { return config.TargetBundled }

func (b *bundledTarget) Prepare(ctx context.Context, cur, next config.Loaded) (Plan, error) {
	// Whether a listener runs decides between reload and start, and what a
	// rollback restores.
	sctx, cancel := context.WithTimeout(ctx, stateTimeout)
	_, err := b.r.State(sctx, b.dir)
	cancel()
	var lost *ListenerLostError
	if errors.As(err, &lost) {
		// It serves but cannot be reloaded: refuse before anything is
		// written, and never start a second one beside it.
		return Plan{}, &targetError{lost.Error() + "; nothing was changed"}
	}
	// Anything but a clear "none runs" means something holds the control
	// socket: reload it (and report its error) rather than start a second.
	b.wasRunning = !errors.Is(err, ErrNotRunning)
	return Plan{}, nil
}

// Activate asks the listener to load the live generation, or starts one.
func (b *bundledTarget) Activate(ctx context.Context, next config.Loaded) (Activation, error) {
	ctx, cancel := context.WithTimeout(ctx, controlTimeout)
	defer cancel()
	listen, detail, err := b.reload(ctx, next.Generation)
	if err != nil {
		return Activation{}, errors.New(err.Error() + bindHint(err.Error(), next.Settings.Listen))
	}
	return Activation{Listen: listen, Dial: dialAddr(next.Settings.Listen, listen), Detail: detail}, nil
}

func (b *bundledTarget) reload(ctx context.Context, gen string) (listen, detail string, err error) {
	if !b.wasRunning {
		st, err := b.r.Start(ctx, b.exe, b.dir)
		if err != nil {
			return "", "", fmt.Errorf("the listener did not start with the new configuration: %v", err)
		}
		if st.Generation != gen {
			return "", "", fmt.Errorf("the listener started but serves generation %q, not %s", st.Generation, gen)
		}
		return st.Listen, fmt.Sprintf("no listener was running; started one (pid %d) on %s", st.Pid, st.Listen), nil
	}
	out, err := b.r.Reload(ctx, b.dir)
	if errors.Is(err, ErrNotRunning) {
		// It died between our look and the reload: start it instead.
		b.wasRunning = false
		return b.reload(ctx, gen)
	}
	if err != nil {
		return "", "", fmt.Errorf("the reload request failed: %v", err)
	}
	if !out.OK {
		return "", "", fmt.Errorf("the listener refused the new configuration: %s", out.Message)
	}
	if out.Generation != gen {
		return "", "", fmt.Errorf("the listener reloaded but serves generation %q, not %s", out.Generation, gen)
	}
	return out.Listen, fmt.Sprintf("listener reloaded, serving generation %s on %s", gen, out.Listen), nil
}

func (b *bundledTarget) Restore(ctx context.Context, prev config.Loaded) (string, bool) {
	back := describeGen(prev.Generation)
	prevFP := leafFingerprint(prev.CertPEM)
	if !b.wasRunning {
		// There was no listener before: leave none, as we found it.
		if err := b.r.Stop(ctx, b.dir); err != nil && !errors.Is(err, ErrNotRunning) {
			return fmt.Sprintf("switched back to %s; stopping the listener we started failed: %v", back, err), true
		}
		return fmt.Sprintf("switched back to %s; no listener was running before, and none runs now", back), true
	}
	out, err := b.r.Reload(ctx, b.dir)
	if errors.Is(err, ErrNotRunning) {
		// It died after the reload: a gateway with no SMTP service is worse
		// off than one on the previous generation, so start it on that.
		st, serr := b.r.Start(ctx, b.exe, b.dir)
		switch {
		case serr != nil:
			return fmt.Sprintf("switched back to %s, but the listener had died and did not start again: %v; run `smtptls serve --detach`", back, serr), false
		case prevFP != "" && st.Fingerprint != prevFP:
			return fmt.Sprintf("switched back to %s; the listener had died, and the one started again serves certificate %s instead of %s; run `smtptls status`", back, shortFP(st.Fingerprint), shortFP(prevFP)), false
		}
		return fmt.Sprintf("%s serves again on %s: the listener had died, and was started again on it (pid %d)", back, st.Listen, st.Pid), true
	}
	switch {
	case err != nil:
		return fmt.Sprintf("switched back to %s, but the listener did not answer the reload: %v; run `smtptls status`", back, err), false
	case !out.OK:
		return fmt.Sprintf("switched back to %s, but the listener refused it: %s; run `smtptls status`", back, out.Message), false
	case prevFP != "" && out.Fingerprint != prevFP:
		return fmt.Sprintf("switched back to %s, but the listener serves certificate %s instead of %s; run `smtptls status`", back, shortFP(out.Fingerprint), shortFP(prevFP)), false
	}
	return fmt.Sprintf("%s serves again on %s", back, out.Listen), true
}

// describeGen names what a rollback returns to.
func describeGen(gen string) string {
	if gen == "" {
		return "the defaults (nothing applied before)"
	}
	return "generation " + gen
}

func (b *bundledTarget) Status(ctx context.Context, installed config.Loaded, loaded, sound bool) TargetStatus {
	var ts TargetStatus
	attention := func(format string, a ...any) {
		ts.Attention = append(ts.Attention, fmt.Sprintf(format, a...))
	}
	sctx, cancel := context.WithTimeout(ctx, stateTimeout)
	defer cancel()
	ls, err := b.r.State(sctx, b.dir)
	switch {
	case errors.Is(err, ErrNotRunning):
		if loaded && sound {
			attention("the listener is not running: start it with `smtptls serve --detach`")
		} else {
			attention("the listener is not running, and the installed configuration must be put right before it is started (see above)")
		}
	case errors.As(err, new(*ListenerLostError)):
		ts.Lost = err.Error()
		attention("%v", err)
	case err != nil:
		attention("the listener cannot be asked what it serves: %v", err)
	default:
		ts.Running = true
		ts.Listener = &ls
		if loaded {
			s := installed.Settings
			want := leafFingerprint(installed.CertPEM)
			if !s.Mode.NeedsCertificate() {
				want = "" // disabled keeps the certificate on disk but serves none
			}
			ts.ServesInstalled = ls.Generation == installed.Generation && ls.Fingerprint == want && ls.Mode == string(s.Mode)
			switch {
			case ts.ServesInstalled:
			case sound:
				attention("the listener serves %s but %s is installed: run `smtptls reload` (a renewal that was never reloaded looks like this)",
					describeServed(ls.Generation, ls.Mode, ls.Fingerprint), describeServed(installed.Generation, string(s.Mode), want))
			default:
				way := "apply a good configuration with `smtptls apply`"
				if ls.Generation != "" && ls.Generation != installed.Generation && config.ValidGenerationName(ls.Generation) {
					way += fmt.Sprintf(", or return to what is served with `smtptls rollback --to %s`", ls.Generation)
				}
				attention("the listener serves %s; the installed %s must not be loaded (see above): %s",
					describeServed(ls.Generation, ls.Mode, ls.Fingerprint), describeServed(installed.Generation, string(s.Mode), want), way)
			}
		}
	}
	return ts
}
