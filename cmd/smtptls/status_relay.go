package main

import (
	"fmt"
	"strings"

	"github.com/smtptls/smtptls/apply"
)

// statusDelivery shows where accepted mail goes, whether the next hop
// answers, and the relay counters of the running listener.
func statusDelivery(row func(k, v string), paint func(code, s string) string, st apply.Status) {
	if st.LoadError != "" {
		return
	}
	s := st.Settings
	accept := "any domain"
	if len(s.AcceptDomains) > 0 {
		accept = strings.Join(s.AcceptDomains, ", ")
	}
	if !s.RelayMode() {
		row("delivery", "maildir (spool_dir "+s.SpoolDir+")")
		row("accepts", accept)
		return
	}
	row("delivery", fmt.Sprintf("relay to %s (tls %s)", s.Relay.NextHop, s.Relay.TLSMode()))
	row("accepts", accept)
	if h := st.NextHop; h != nil {
		if h.Reachable {
			row("next hop", paint("32", "reachable")+": "+h.Detail)
		} else {
			row("next hop", paint("31", "NOT reachable")+": "+h.Detail)
		}
	}
	if st.Running && st.Listener != nil {
		c := st.Listener.Relay
		row("relay", fmt.Sprintf("%d relayed, %d refused by next hop, %d temp-failed, %d relay denied (since the listener started)",
			c.Relayed, c.Refused, c.TempFailed, c.Denied))
	}
}
