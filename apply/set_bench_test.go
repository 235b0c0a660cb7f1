package apply

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/smtptls/smtptls/config"
	"github.com/smtptls/smtptls/internal/testpki"
)

// BenchmarkSetEndToEnd is the figure for `smtptls set`: validate
// the new settings (and the installed material), write a generation, switch,
// reload the real listener over its control socket, verify over loopback.
// Each run changes a limit, so every one really writes and reloads. Target:
// under 20 ms.
func BenchmarkSetEndToEnd(b *testing.B) {
	ld := startLive(b)
	ch := testpki.MustChain(time.Now(), testpki.ECDSAP256, "mail.example.test")
	d := ld.deps()
	d.Roots = nil // the real default
	if r := Run(context.Background(), d, ld.request(config.ModeAvailable, ch), nil); !r.Applied {
		b.Fatalf("apply: %s", r.Message)
	}
	times := stepTimes{}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := Request{ConfigDir: ld.dir, Set: []Assignment{{Key: "limits.max_connections_per_ip", Value: strconv.Itoa(30 + i%2)}}}
		r := Run(context.Background(), d, req, times.progress)
		if !r.Applied || r.Unchanged {
			b.Fatalf("set %d: applied %v unchanged %v: %s", i, r.Applied, r.Unchanged, r.Message)
		}
	}
	b.StopTimer()
	times.report(b)
}

// BenchmarkIdempotentApply is the renewal hook's daily run: the same
// certificate and settings as the live generation, served by the real
// listener. Nothing is written. Target: under 5 ms.
func BenchmarkIdempotentApply(b *testing.B) {
	ld := startLive(b)
	ch := testpki.MustChain(time.Now(), testpki.ECDSAP256, "mail.example.test")
	d := ld.deps()
	d.Roots = nil
	req := ld.request(config.ModeAvailable, ch)
	if r := Run(context.Background(), d, req, nil); !r.Applied {
		b.Fatalf("apply: %s", r.Message)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := Run(context.Background(), d, req, nil)
		if !r.Unchanged {
			b.Fatalf("apply %d wrote: %s", i, r.Message)
		}
	}
}
