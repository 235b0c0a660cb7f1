package apply

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/smtptls/smtptls/config"
	"github.com/smtptls/smtptls/smtpd/relay"
)

// setDelivery puts the delivery part of req onto s; Settings.Check then
// judges the whole.
func setDelivery(req Request, s *config.Settings) error {
	if req.Delivery != "" {
		s.Delivery = strings.ToLower(strings.TrimSpace(req.Delivery))
	}
	if req.NextHop != "" {
		s.Relay.NextHop = strings.TrimSpace(req.NextHop)
	}
	if req.NextHopTLS != "" {
		s.Relay.TLS = strings.ToLower(strings.TrimSpace(req.NextHopTLS))
	}
	if req.AcceptDomains != nil {
		d, err := config.ParseDomains(req.AcceptDomains)
		if err != nil {
			return err
		}
		s.AcceptDomains = d
	}
	return nil
}

// checkNextHop is the real Deps.CheckNextHop.
func checkNextHop(ctx context.Context, s config.Settings, timeout time.Duration) relay.CheckResult {
	t, err := relay.TargetFrom(s.Relay)
	if err != nil {
		return relay.CheckResult{NextHop: s.Relay.NextHop, Detail: err.Error()}
	}
	return relay.Check(ctx, t, s.Hostname, timeout)
}

// verifyNextHop is the relay part of verify: mail accepted by a listener
// whose next hop does not answer would all get 451, so that is a failed
// apply too. msg is what the receiver test said.
func (t *txn) verifyNextHop(msg string) (string, bool) {
	s := t.target.Settings
	if !s.RelayMode() {
		return msg, true
	}
	r := t.d.CheckNextHop(t.ctx, s, t.d.VerifyTimeout)
	if !r.Reachable {
		return fmt.Sprintf("%s; but the next hop %s does not answer as relaying needs: %s", msg, s.Relay.NextHop, r.Detail), false
	}
	return msg + "; next hop: " + r.Detail, true
}

// nextHopStatus is the relay part of status.
func nextHopStatus(ctx context.Context, d Deps, s config.Settings, attention func(string, ...any)) *relay.CheckResult {
	r := d.CheckNextHop(ctx, s, d.VerifyTimeout)
	if !r.Reachable {
		attention("the next hop %s is not reachable, so the listener answers every message with 451: %s", s.Relay.NextHop, r.Detail)
	}
	return &r
}
