package smtpd

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/smtptls/smtptls/config"
	"github.com/smtptls/smtptls/postfix/postfixtest"
)

// benchProcessWith runs the listener as a child process (the test binary
// in serve mode), so its CPU can be told apart from the load generator's,
// with settings as mutate makes them. Its spool is durable on the
// benchmark disk and kept until the test binary exits (see benchSpoolRoot)
// unless mutate names another.
func benchProcessWith(b *testing.B, mutate func(*config.Settings), env ...string) (addr string, pid int) {
	return benchProcessOn(b, -1, mutate, env...)
}

// benchProcessOn is benchProcessWith with the process held to one CPU
// (taskset; its Go runtime then runs one P), or to none when cpu < 0.
func benchProcessOn(b *testing.B, cpu int, mutate func(*config.Settings), env ...string) (addr string, pid int) {
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
	if cpu >= 0 {
		cmd = exec.Command("taskset", "-c", strconv.Itoa(cpu), os.Args[0], "-test.run=^$")
	}
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

// relayFront starts a relaying listener in front of nextHop (an address),
// on cpu as benchProcessOn takes it.
func relayFront(b *testing.B, cpu int, nextHop string) (addr string, pid int) {
	b.Helper()
	var env []string
	if p := os.Getenv("RELAY_BENCH_FRONT_CPUPROFILE"); p != "" {
		env = append(env, "SMTPD_TEST_CPUPROFILE="+p) // the relaying listener's CPU profile
	}
	return benchProcessOn(b, cpu, func(s *config.Settings) {
		s.Delivery = config.DeliveryRelay
		s.AcceptDomains = []string{"example.test"}
		s.Relay.NextHop = "smtp://" + nextHop
	}, env...)
}

// relayPair starts a next hop (maildir, durable) and a relaying listener
// in front of it, each its own process.
func relayPair(b *testing.B) (direct, relayed string, hopPid, frontPid int) {
	b.Helper()
	hop, hopPid := benchProcessWith(b, func(*config.Settings) {})
	front, frontPid := relayFront(b, -1, hop)
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
// directly, in the same run, with two next hops: an smtptls listener
// (maildir on the benchmark disk) and a private Postfix. Where the CPUs
// are decides the figure more than anything the relay does, so each runs
// two ways:
//
//   - relay-own-core: the relay has one CPU to itself, as it has the
//     gateway machine to itself in a deployment; the next hop and the load
//     generator share the other, standing in for the mail server and the
//     senders, which have machines of their own too. Both runs go through
//     that second CPU alike, so the ratio says what the relay costs the
//     mail flow: nothing while it keeps up, less than 1 when it cannot.
//   - shared-cores: load generator, relay and next hop share every CPU.
//     The relay's CPU is then taken from the next hop's, so the ratio is
//     about (generator + hop) / (generator + hop + relay) whatever the
//     relay does; kept as the worst case.
func BenchmarkRelaySessionsVsDirect(b *testing.B) {
	smtptlsHop := func(b *testing.B, cpu int) (addr string, cpuTime func() time.Duration) {
		addr, pid := benchProcessOn(b, cpu, func(*config.Settings) {})
		return addr, func() time.Duration { return pidCPU(b, pid) }
	}
	postfixHop := func(b *testing.B, cpu int) (addr string, cpuTime func() time.Duration) {
		pf := postfixtest.Start(b, postfixtest.Options{Main: map[string]string{
			// Queued and held: no delivery attempts to example.test
			// compete for the CPUs while the run goes on.
			"smtpd_end_of_data_restrictions": "check_client_access static:HOLD",
			"smtpd_recipient_restrictions":   "permit_mynetworks, reject",
		}})
		pids := func() []int { return postfixtest.Pids(pf.ConfigDir) }
		if cpu >= 0 {
			// The master forks every later process with its own mask.
			pinTasks(b, pids, cpuSet(cpu))
		}
		return pf.Addr(), func() time.Duration { return treeCPU(b, pids()) }
	}
	for _, hop := range []struct {
		name  string
		start func(b *testing.B, cpu int) (string, func() time.Duration)
	}{{"smtptls-hop", smtptlsHop}, {"postfix-hop", postfixHop}} {
		b.Run(hop.name+"/relay-own-core", func(b *testing.B) {
			cpus := allowedCPUs(b)
			if len(cpus) < 2 {
				b.Skipf("needs two CPUs to give the relay one of its own; this process may use %v", cpus)
			}
			if _, err := exec.LookPath("taskset"); err != nil {
				b.Skip("taskset (util-linux) not installed")
			}
			addr, hopCPU := hop.start(b, cpus[1])
			front, frontPid := relayFront(b, cpus[0], addr)
			pinTasks(b, func() []int { return []int{os.Getpid()} }, cpuSet(cpus[1]))
			prev := runtime.GOMAXPROCS(1)
			b.Cleanup(func() { runtime.GOMAXPROCS(prev) })
			compareRelay(b, addr, front, hopCPU, frontPid)
		})
		b.Run(hop.name+"/shared-cores", func(b *testing.B) {
			addr, hopCPU := hop.start(b, -1)
			front, frontPid := relayFront(b, -1, addr)
			compareRelay(b, addr, front, hopCPU, frontPid)
		})
	}
}

// compareRelay runs b.N sessions each way, directly to the next hop and
// through the relay, alternating in blocks so drift hits both, and reports
// both rates and where the CPU went.
func compareRelay(b *testing.B, direct, relayed string, hopCPU func() time.Duration, frontPid int) {
	_ = sessionsPerSecond(b, direct, 64) // warm both up
	_ = sessionsPerSecond(b, relayed, 64)
	b.ResetTimer()
	var dTime, rTime float64
	var dHop, dGen, rHop, rGen, rFront time.Duration
	const block = 200
	for done := 0; done < b.N; done += block {
		n := min(block, b.N-done)
		h0, s0 := hopCPU(), selfCPU()
		dTime += float64(n) / sessionsPerSecond(b, direct, n)
		h1, s1, f1 := hopCPU(), selfCPU(), pidCPU(b, frontPid)
		rTime += float64(n) / sessionsPerSecond(b, relayed, n)
		h2, s2, f2 := hopCPU(), selfCPU(), pidCPU(b, frontPid)
		dHop, dGen = dHop+h1-h0, dGen+s1-s0
		rHop, rGen, rFront = rHop+h2-h1, rGen+s2-s1, rFront+f2-f1
	}
	b.ReportMetric(float64(b.N)/dTime, "direct-sessions/s")
	b.ReportMetric(float64(b.N)/rTime, "relay-sessions/s")
	b.ReportMetric(dTime/rTime, "relay/direct")
	// Where the CPUs go, per session: the next hop's and the load
	// generator's each way, and the relaying listener's.
	perSession := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(b.N) }
	b.ReportMetric(perSession(rFront), "relay-listener-cpu-µs/session")
	b.ReportMetric(perSession(dHop), "next-hop-cpu-µs/session")
	b.ReportMetric(perSession(rHop), "next-hop-via-relay-cpu-µs/session")
	b.ReportMetric(perSession(dGen), "generator-cpu-µs/session")
	b.ReportMetric(perSession(rGen), "generator-via-relay-cpu-µs/session")
}

// treeCPU is the CPU time of the processes pids and of the children they
// have waited for: all of a Postfix instance, through its master.
func treeCPU(b *testing.B, pids []int) time.Duration {
	var ticks int64
	for _, pid := range pids {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue // gone since it was listed
		}
		f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+2:]))
		// utime, stime, cutime, cstime: fields 14 to 17 of stat.
		for _, v := range f[11:15] {
			n, _ := strconv.ParseInt(v, 10, 64)
			ticks += n
		}
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// allowedCPUs lists the CPUs this process may run on.
func allowedCPUs(b *testing.B) []int {
	var set unix.CPUSet
	must(b, unix.SchedGetaffinity(0, &set))
	var cpus []int
	for i := 0; len(cpus) < set.Count(); i++ {
		if set.IsSet(i) {
			cpus = append(cpus, i)
		}
	}
	return cpus
}

func cpuSet(cpu int) *unix.CPUSet {
	var s unix.CPUSet
	s.Set(cpu)
	return &s
}

// pinTasks holds every thread of the processes pids lists to set until
// the benchmark ends, when they get back the mask they had. A new thread
// or child inherits the mask of the one that starts it, so passes go on
// until one finds nothing left to move.
func pinTasks(b *testing.B, pids func() []int, set *unix.CPUSet) {
	orig := map[int]unix.CPUSet{}
	for moved := true; moved; {
		moved = false
		for _, pid := range pids() {
			tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
			for _, t := range tasks {
				tid, _ := strconv.Atoi(t.Name())
				var cur unix.CPUSet
				if unix.SchedGetaffinity(tid, &cur) != nil || cur == *set {
					continue // gone, or already there
				}
				if err := unix.SchedSetaffinity(tid, set); err == nil {
					orig[tid], moved = cur, true
				}
			}
		}
	}
	b.Cleanup(func() {
		for tid, m := range orig {
			_ = unix.SchedSetaffinity(tid, &m)
		}
		// Threads started meanwhile inherited set: give this process's
		// all of the mask its first thread had.
		if m, ok := orig[os.Getpid()]; ok {
			tasks, _ := os.ReadDir("/proc/self/task")
			for _, t := range tasks {
				tid, _ := strconv.Atoi(t.Name())
				_ = unix.SchedSetaffinity(tid, &m)
			}
		}
	})
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
