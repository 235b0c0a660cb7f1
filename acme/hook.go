package acme

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/go-acme/lego/v5/challenge/dns01"
)

// hookTimeout bounds one run of the dns-01 hook: a DNS API that hangs must
// not hang the order.
const hookTimeout = 2 * time.Minute

// dnsHook is the dns-01 provider: it runs PROGRAM present FQDN VALUE and
// PROGRAM cleanup FQDN VALUE, the calling form of lego's exec provider, so a
// hook written for lego works here. Ours captures the program's output for
// the error message instead of logging it, and bounds each run.
type dnsHook struct {
	program  string
	timeout  time.Duration // propagation wait
	interval time.Duration
	progress func(Event)
}

func (h *dnsHook) Present(ctx context.Context, domain, token, keyAuth string) error {
	info := dns01.GetChallengeInfo(ctx, domain, keyAuth)
	if err := h.run(ctx, "present", info.EffectiveFQDN, info.Value); err != nil {
		return err
	}
	h.progress(Event{Step: StepChallenge, Name: domain, Detail: fmt.Sprintf("TXT %s published by %s; waiting for it to propagate (at most %s)", info.EffectiveFQDN, h.program, h.timeout)})
	return nil
}

func (h *dnsHook) CleanUp(ctx context.Context, domain, token, keyAuth string) error {
	info := dns01.GetChallengeInfo(ctx, domain, keyAuth)
	return h.run(ctx, "cleanup", info.EffectiveFQDN, info.Value)
}

// Timeout bounds the wait for the record to be visible.
func (h *dnsHook) Timeout() (timeout, interval time.Duration) { return h.timeout, h.interval }

func (h *dnsHook) run(ctx context.Context, action, fqdn, value string) error {
	ctx, cancel := context.WithTimeout(ctx, hookTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.program, action, fqdn, value)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(out.String())
		if len(msg) > 2000 {
			msg = "..." + msg[len(msg)-2000:]
		}
		if msg != "" {
			msg = ": " + msg
		}
		if ctx.Err() == context.DeadlineExceeded {
			return &hookError{fmt.Sprintf("the DNS hook %s %s %s did not finish within %s%s", h.program, action, fqdn, hookTimeout, msg)}
		}
		return &hookError{fmt.Sprintf("the DNS hook %s %s %s failed (%v)%s", h.program, action, fqdn, err, msg)}
	}
	return nil
}

// hookError is a failed run of the hook, already in words.
type hookError struct{ msg string }

func (e *hookError) Error() string { return e.msg }
