package tui

import (
	"fmt"
	"strings"

	"github.com/smtptls/smtptls/config"
)

// deliveryRows are the review's lines about where accepted mail goes, as
// installed (the wizard carries them over). The default, a Maildir spool
// for any domain, needs no line.
func deliveryRows(s config.Settings) [][2]string {
	var rows [][2]string
	if s.RelayMode() {
		rows = append(rows, [2]string{"Delivery", fmt.Sprintf("relay to %s (TLS %s); 250 only after the next hop's", s.Relay.NextHop, s.Relay.TLSMode())})
	}
	if len(s.AcceptDomains) > 0 {
		rows = append(rows, [2]string{"Accepts", strings.Join(s.AcceptDomains, ", ") + "; other domains get 550 5.7.1"})
	}
	return rows
}
