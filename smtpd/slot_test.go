package smtpd

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/smtptls/smtptls/config"
)

// A relay with a concurrency equal to the per-address limit reconnects the
// moment it reads 221: the slot of the session it just ended must already
// be free (issue 9, finding 2). Before the fix the slot was freed after the
// close, and c=20 lost 57-101 of 2,000 sessions.
func TestSlotFreedAtSessionEnd(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		name := "plaintext"
		if useTLS {
			name = "starttls"
		}
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			s := testSettings(config.ModeAvailable)
			f.writeGen(s, nil)
			srv, _ := startServer(t, f)
			addr := srv.Addr().String()
			c := s.Limits.MaxConnectionsPerIP
			const sessions = 2000
			var refused, failed atomic.Int64
			var firstErr atomic.Value
			var next atomic.Int64
			var wg sync.WaitGroup
			for w := 0; w < c; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= sessions {
						err := slotSession(addr, useTLS)
						switch {
						case err == nil:
						case strings.Contains(err.Error(), "421 4.7.0"):
							refused.Add(1)
						default:
							failed.Add(1)
							firstErr.CompareAndSwap(nil, err.Error())
						}
					}
				}()
			}
			wg.Wait()
			if refused.Load() != 0 || failed.Load() != 0 {
				t.Fatalf("c=%d (the per-address limit), %d sessions: %d refused with 421, %d failed (first: %v)",
					c, sessions, refused.Load(), failed.Load(), firstErr.Load())
			}
		})
	}
}

// slotSession is one short session that ends with QUIT; the caller
// reconnects as soon as it has read the 221.
func slotSession(addr string, useTLS bool) error {
	p, c, err := helloPeer(addr, "relay.example", useTLS)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := p.step("MAIL FROM:<a@example.org>\r\n", "250 "); err != nil {
		return err
	}
	if err := p.step("RSET\r\n", "250 "); err != nil {
		return err
	}
	return p.step("QUIT\r\n", "221 ")
}
