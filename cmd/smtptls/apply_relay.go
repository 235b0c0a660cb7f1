package main

import (
	"flag"
	"strings"

	"github.com/smtptls/smtptls/apply"
)

// deliveryFlags are apply's flags for where accepted mail goes.
type deliveryFlags struct {
	delivery, nextHop, acceptDomains, nextHopTLS *string
}

func addDeliveryFlags(fs *flag.FlagSet) *deliveryFlags {
	return &deliveryFlags{
		delivery:      fs.String("delivery", "", "`WHERE` accepted mail goes: maildir (store in the spool) or relay (hand it on to --next-hop; 250 only once the next hop said 250)"),
		nextHop:       fs.String("next-hop", "", "`URL` relay delivers to: smtp://HOST:PORT, lmtp://HOST:PORT or lmtp+unix:///path/to/socket"),
		acceptDomains: fs.String("accept-domains", "", "comma-separated recipient `DOMAINS` this gateway accepts (required with relay; others get 550 5.7.1); \"\" clears the list"),
		nextHopTLS:    fs.String("next-hop-tls", "", "TLS to the next hop, `MODE`: none, may (STARTTLS when offered, the default) or verify (relay.ca_file, relay.server_name)"),
	}
}

// setOn copies the flags given onto req; a flag not given keeps what is
// installed.
func (f *deliveryFlags) setOn(fs *flag.FlagSet, req *apply.Request) {
	req.Delivery, req.NextHop, req.NextHopTLS = *f.delivery, *f.nextHop, *f.nextHopTLS
	fs.Visit(func(fl *flag.Flag) {
		if fl.Name != "accept-domains" {
			return
		}
		req.AcceptDomains = []string{}
		for _, d := range strings.Split(*f.acceptDomains, ",") {
			if d = strings.TrimSpace(d); d != "" {
				req.AcceptDomains = append(req.AcceptDomains, d)
			}
		}
	})
}
