package apply

import (
	"context"
	"errors"

	"github.com/smtptls/smtptls/smtpd"
)

// smtpdControl is the Reloader of a real apply: the bundled listener's
// control socket, and a detached `smtptls serve` when none runs.
type smtpdControl struct{}

func (smtpdControl) Reload(ctx context.Context, dir string) (ReloadOutcome, error) {
	r, err := smtpd.RequestReload(ctx, dir)
	if err != nil {
		return ReloadOutcome{}, notRunning(err)
	}
	return ReloadOutcome{OK: r.OK, Message: r.Message, Generation: r.Generation, Mode: r.Mode, Listen: r.Listen, Fingerprint: r.Fingerprint, Warnings: r.Warnings}, nil
}

func (c smtpdControl) State(ctx context.Context, dir string) (ListenerState, error) {
	s, err := smtpd.QueryState(ctx, dir)
	if err != nil {
		return ListenerState{}, notRunning(err)
	}
	return ListenerState{Pid: s.Pid, Generation: s.Generation, Mode: s.Mode, Listen: s.Listen, Fingerprint: s.Fingerprint, Since: s.Since,
		NextHop: s.NextHop, Relay: s.Relay}, nil
}

func (c smtpdControl) Start(ctx context.Context, exe, dir string) (ListenerState, error) {
	if exe == "" {
		return ListenerState{}, errors.New("no smtptls binary to start the listener with (Deps.Exe is empty)")
	}
	if _, err := smtpd.StartDetached(ctx, exe, dir); err != nil {
		return ListenerState{}, err
	}
	return c.State(ctx, dir)
}

func (smtpdControl) Stop(ctx context.Context, dir string) error {
	return notRunning(smtpd.StopDetached(ctx, dir))
}

// notRunning maps smtpd's sentinel onto ours, so fakes and the real
// listener look alike to the transaction.
func notRunning(err error) error {
	if err != nil && errors.Is(err, smtpd.ErrNotRunning) {
		return ErrNotRunning
	}
	var lost *smtpd.SocketLostError
	if errors.As(err, &lost) {
		return &ListenerLostError{Pid: lost.Pid, Dir: lost.Dir}
	}
	return err
}
