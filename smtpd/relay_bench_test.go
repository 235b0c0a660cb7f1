package smtpd

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/smtptls/smtptls/config"
)

// benchProcessWith runs the listener as a child process (the test binary
// in serve mode), so its CPU can be told apart from the load generator's,
// with settings as mutate makes them. Its spool is durable on the
// benchmark disk and kept until the test binary exits (see benchSpoolRoot)
// unless mutate names another.
func benchProcessWith(b *testing.B, mutate func(*config.Settings), env ...string) (addr string, pid int) {
	b.Helper()
	f := newFixture(b)
	s := testSettings(config.ModeDisabled)
	if benchSpoolRoot != "" {
		d, err := os.MkdirTemp(benchSpoolRoot, "spool")
		must(b, err)
		s.SpoolDir = d
	}
	s.Limits.MaxConnections = 5000
	s.Limits.MaxConnectionsPerIP = 5000
	s.Limits.MaxConnectionsPerNetwork = 5000
	mutate(&s)
	f.writeGen(s, nil)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), envServeDir+"="+f.dir), env...)
	must(b, cmd.Start())
	b.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := QueryState(context.Background(), f.dir)
		if err == nil && st.Pid == cmd.Process.Pid {
			return st.Listen, st.Pid
		}
		if time.Now().After(deadline) {
			b.Fatal("listener process did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// relayPair starts a next hop (maildir, durable) and a relaying listener
// in front of it, each its own process.
func relayPair(b *testing.B) (direct, relayed string, hopPid, frontPid int) {
	b.Helper()
	hop, hopPid := benchProcessWith(b, func(*config.Settings) {})
	var env []string
	if p := os.Getenv("RELAY_BENCH_FRONT_CPUPROFILE"); p != "" {
		env = append(env, "SMTPD_TEST_CPUPROFILE="+p) // the relaying listener's CPU profile
	}
	front, frontPid := benchProcessWith(b, func(s *config.Settings) {
		s.Delivery = config.DeliveryRelay
		s.AcceptDomains = []string{"example.test"}
		s.Relay.NextHop = "smtp://" + hop
	}, env...)
	return hop, front, hopPid, frontPid
}

// sessionsPerSecond runs n one-message sessions against addr from 32
// concurrent senders.
func sessionsPerSecond(b *testing.B, addr string, n int) float64 {
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if err := benchSession(addr, false); err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		b.Fatalf("%d of %d sessions to %s failed", failed.Load(), n, addr)
	}
	return float64(n) / time.Since(start).Seconds()
}

// Sessions per second through the relay against the same next hop
// directly, in the same run: each iteration is one session each way, the
// two runs alternating in blocks so drift hits both.
func BenchmarkRelaySessionsVsDirect(b *testing.B) {
	direct, relayed, hopPid, frontPid := relayPair(b)
	_ = sessionsPerSecond(b, direct, 64) // warm both up
	_ = sessionsPerSecond(b, relayed, 64)
	b.ResetTimer()
	var dTime, rTime float64
	var dCPU, rCPU, frontCPU, hopCPU time.Duration
	const block = 200
	for done := 0; done < b.N; done += block {
		n := min(block, b.N-done)
		h0, s0 := pidCPU(b, hopPid), selfCPU()
		dTime += float64(n) / sessionsPerSecond(b, direct, n)
		h1, s1, f1 := pidCPU(b, hopPid), selfCPU(), pidCPU(b, frontPid)
		rTime += float64(n) / sessionsPerSecond(b, relayed, n)
		dCPU += h1 - h0 + s1 - s0
		hopCPU += h1 - h0
		rCPU += pidCPU(b, hopPid) - h1 + selfCPU() - s1
		frontCPU += pidCPU(b, frontPid) - f1
	}
	b.ReportMetric(float64(b.N)/dTime, "direct-sessions/s")
	b.ReportMetric(float64(b.N)/rTime, "relay-sessions/s")
	b.ReportMetric(dTime/rTime, "relay/direct")
	// Where the two cores go: next hop + load generator per session, and
	// what the relaying listener adds on top.
	b.ReportMetric(float64(dCPU.Microseconds())/float64(b.N), "direct-cpu-µs/session")
	b.ReportMetric(float64((rCPU+frontCPU).Microseconds())/float64(b.N), "relay-cpu-µs/session")
	b.ReportMetric(float64(frontCPU.Microseconds())/float64(b.N), "relay-listener-cpu-µs/session")
	b.ReportMetric(float64(hopCPU.Microseconds())/float64(b.N), "next-hop-cpu-µs/session")
}

// txPeer is an open session that sends one message per call.
type txPeer struct {
	c net.Conn
	p *peer
}

func openTx(b *testing.B, addr string) *txPeer {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	must(b, err)
	b.Cleanup(func() { c.Close() })
	p := &peer{c: c}
	must(b, p.step("", "220 "))
	must(b, p.step("EHLO bench.example\r\n", "250 "))
	return &txPeer{c: c, p: p}
}

// message sends one pipelined transaction and returns how long it took
// from MAIL to the 250 after the final dot.
func (t *txPeer) message(b *testing.B) time.Duration {
	_ = t.c.SetDeadline(time.Now().Add(20 * time.Second))
	start := time.Now()
	if _, err := t.c.Write([]byte("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n")); err != nil {
		b.Fatal(err)
	}
	for _, want := range []string{"250 ", "250 ", "354 "} {
		must(b, t.p.step("", want))
	}
	must(b, t.p.step(body1KB, "250 2.0.0 Ok: queued as "))
	return time.Since(start)
}

// The latency the relay adds to one message (MAIL to the final 250, 1 KB,
// in an open session): p50 through the relay minus p50 directly.
func BenchmarkRelayAddedLatency(b *testing.B) {
	direct, relayed, _, _ := relayPair(b)
	d, r := openTx(b, direct), openTx(b, relayed)
	d.message(b)
	r.message(b)
	var dl, rl []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dl = append(dl, d.message(b))
		rl = append(rl, r.message(b))
	}
	b.StopTimer()
	p50 := func(v []time.Duration) time.Duration {
		slices.Sort(v)
		return v[len(v)/2]
	}
	pd, pr := p50(dl), p50(rl)
	b.ReportMetric(float64(pd.Microseconds()), "direct-p50-µs")
	b.ReportMetric(float64(pr.Microseconds()), "relay-p50-µs")
	b.ReportMetric(float64((pr - pd).Microseconds()), "added-p50-µs")
}

// Heap growth of the relaying listener (in this process) while one 35 MB
// message streams through it to a next hop process: the peak of live heap
// objects during the transfer over the level before it.
func BenchmarkRelayHeap35MB(b *testing.B) {
	hop, _ := benchProcessWith(b, func(*config.Settings) {})
	f := newFixture(b)
	s := testSettings(config.ModeDisabled)
	s.Delivery = config.DeliveryRelay
	s.AcceptDomains = []string{"example.test"}
	s.Relay.NextHop = "smtp://" + hop
	f.writeGen(s, nil)
	srv, err := New(f.config(), Options{})
	must(b, err)
	must(b, srv.Start())
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	line := strings.Repeat("0123456789", 9) + "abcdefgh\r\n"
	msg := []byte("Subject: big\r\n\r\n" + strings.Repeat(line, 350_000) + ".\r\n") // 35 MB
	// ReadMemStats stops the world, but its HeapAlloc counts every span
	// handed to an allocator cache as used, so growth is not hidden in
	// per-P caches (runtime/metrics showed none at all).
	heap := func() uint64 {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	var worst uint64
	b.SetBytes(int64(len(msg)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c, err := net.Dial("tcp", srv.Addr().String())
		must(b, err)
		_ = c.SetDeadline(time.Now().Add(60 * time.Second))
		r := bufio.NewReader(c)
		p := &peer{c: c, r: r}
		must(b, p.step("", "220 "))
		must(b, p.step("EHLO bench.example\r\n", "250 "))
		must(b, p.step(fmt.Sprintf("MAIL FROM:<a@example.org> SIZE=%d\r\n", len(msg)), "250 "))
		must(b, p.step("RCPT TO:<b@example.test>\r\n", "250 "))
		must(b, p.step("DATA\r\n", "354 "))
		runtime.GC()
		base := heap()
		var peak atomic.Uint64
		stop := make(chan struct{})
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			t := time.NewTicker(time.Millisecond)
			defer t.Stop()
			for {
				if h := heap(); h > peak.Load() {
					peak.Store(h)
				}
				select {
				case <-stop:
					return
				case <-t.C:
				}
			}
		}()
		for off := 0; off < len(msg); off += 64 << 10 {
			if _, err := c.Write(msg[off:min(off+64<<10, len(msg))]); err != nil {
				b.Fatal(err)
			}
		}
		must(b, p.step("", "250 2.0.0 Ok: queued as "))
		close(stop)
		<-sampled
		if g := peak.Load() - min(base, peak.Load()); g > worst {
			worst = g
		}
		_, _ = c.Write([]byte("QUIT\r\n"))
		c.Close()
	}
	b.ReportMetric(float64(worst), "heap-growth-B")
}
