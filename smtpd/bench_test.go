package smtpd

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/smtptls/smtptls/config"
)

// benchFixture is a fixture for benchmarks: limits opened up so the load
// generator, all on 127.0.0.1, is not refused.
func benchServer(b *testing.B, mode config.Mode) (*fixture, *Server) {
	b.Helper()
	f := newFixture(b)
	s := testSettings(mode)
	s.Limits.MaxConnections = 5000
	s.Limits.MaxConnectionsPerIP = 5000
	s.Limits.MaxConnectionsPerNetwork = 5000
	f.writeGen(s, nil)
	l, err := config.Load(f.dir, testHostEnv())
	must(b, err)
	cfg, err := ConfigFrom(l)
	must(b, err)
	srv, err := New(cfg, Options{})
	must(b, err)
	must(b, srv.Start())
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return f, srv
}

var body1KB = "Subject: bench\r\n\r\n" + strings.Repeat(strings.Repeat("x", 98)+"\r\n", 10) + ".\r\n"

// session delivers one 1 KB message, with or without STARTTLS.
func benchSession(addr string, useTLS bool) error {
	p, c, err := helloPeer(addr, "bench.example", useTLS)
	if err != nil {
		return err
	}
	defer c.Close()
	// Pipelined envelope, as real MTAs send it.
	if _, err := p.c.Write([]byte("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n")); err != nil {
		return err
	}
	for _, want := range []string{"250 ", "250 ", "354 "} {
		if err := p.step("", want); err != nil {
			return err
		}
	}
	if err := p.step(body1KB, "250 2.0.0 Ok: queued as "); err != nil {
		return err
	}
	return p.step("QUIT\r\n", "221 ")
}

// pidCPU is the user+system CPU time of process pid.
func pidCPU(b *testing.B, pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	must(b, err)
	fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+2:]))
	// utime and stime are fields 14 and 15 of stat, 12 and 13 after the
	// command name; in clock ticks of 1/100 s on Linux.
	ut, _ := strconv.ParseInt(fields[11], 10, 64)
	st, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// selfCPU is the user+system CPU time of this process: the load generator.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchSessions(b *testing.B, mode config.Mode, useTLS bool, spoolDir string) {
	addr, pid := benchProcessWith(b, func(s *config.Settings) {
		s.Mode = mode
		if spoolDir != "" {
			s.SpoolDir = spoolDir
		}
	})
	var failed atomic.Int64
	b.SetParallelism(32) // 32 × GOMAXPROCS concurrent senders, like a busy MX
	b.ResetTimer()
	start := time.Now()
	cpu0 := pidCPU(b, pid)
	self0 := selfCPU()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := benchSession(addr, useTLS); err != nil {
				failed.Add(1)
			}
		}
	})
	elapsed := time.Since(start)
	serverCPU := pidCPU(b, pid) - cpu0
	clientCPU := selfCPU() - self0
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "sessions/s")
	// The listener's own CPU per session, and the rate two cores allow when
	// neither the load generator nor the disk's fsync latency is the limit.
	perSession := float64(serverCPU.Microseconds()) / float64(b.N)
	b.ReportMetric(perSession, "server-cpu-µs/session")
	// The load generator's CPU (TLS client handshakes included) shares the
	// same two cores: server + client per session bounds the rate here.
	b.ReportMetric(float64(clientCPU.Microseconds())/float64(b.N), "client-cpu-µs/session")
	if perSession > 0 {
		b.ReportMetric(2e6/perSession, "cpu-bound-sessions/s")
	}
	if failed.Load() > 0 {
		b.Fatalf("%d sessions failed", failed.Load())
	}
}

// STARTTLS (ECDSA P-256) sessions, each delivering 1 KB to the durable
// spool; the load generator shares the two cores.
func BenchmarkSessionsSTARTTLS(b *testing.B) { benchSessions(b, config.ModeRequired, true, "") }

func BenchmarkSessionsPlaintext(b *testing.B) { benchSessions(b, config.ModeAvailable, false, "") }

// The same STARTTLS run with the spool on tmpfs, where fsync is free: NOT
// durable, only to show how much of the figure above is the disk's.
func BenchmarkSessionsSTARTTLSTmpfsSpool(b *testing.B) {
	if fi, err := os.Stat("/dev/shm"); err != nil || !fi.IsDir() {
		b.Skip("no /dev/shm tmpfs on this machine")
	}
	dir, err := os.MkdirTemp("/dev/shm", "smtpdspool")
	must(b, err)
	b.Cleanup(func() { os.RemoveAll(dir) })
	benchSessions(b, config.ModeRequired, true, dir)
}

// threadCPU is the CPU time of the calling OS thread.
func threadCPU() time.Duration {
	var ts syscall.Timespec
	const clockThreadCPUTimeID = 3
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTimeID, uintptr(unsafe.Pointer(&ts)), 0)
	return time.Duration(ts.Nano())
}

// benchHandshake measures the server side of a handshake in CPU time of
// the server goroutine's (locked) thread, so the client's work on the same
// machine does not count. serverConn turns the accepted socket into the
// tls.Conn the server handshakes on.
func benchHandshake(b *testing.B, serverConn func(net.Conn) *tls.Conn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(b, err)
	defer ln.Close()
	var serverCPU time.Duration
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			tc := serverConn(c)
			t0 := threadCPU()
			err = tc.Handshake()
			d := threadCPU() - t0
			mu.Lock()
			serverCPU += d
			mu.Unlock()
			if err != nil {
				b.Error(err)
			}
			tc.Close()
		}
	}()
	cc := &tls.Config{ServerName: testHost, InsecureSkipVerify: true}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c, err := net.Dial("tcp", ln.Addr().String())
		must(b, err)
		tc := tls.Client(c, cc)
		must(b, tc.Handshake())
		// Read until the server closes, so its CPU is accounted for.
		_, _ = tc.Read(make([]byte, 1))
		tc.Close()
	}
	b.StopTimer()
	ln.Close()
	<-done
	b.ReportMetric(float64(serverCPU.Nanoseconds())/float64(b.N), "server-cpu-ns/handshake")
}

func BenchmarkHandshakeBareCryptoTLS(b *testing.B) {
	f := newFixture(b)
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{benchCert(b, f)}}
	benchHandshake(b, func(c net.Conn) *tls.Conn { return tls.Server(c, cfg) })
}

// The handshake exactly as a STARTTLS session runs it: our conn wrapper
// (buffered writes, handshake trace), GetConfigForClient and GetCertificate
// over the atomic pointer.
func BenchmarkHandshakeSmtpd(b *testing.B) {
	f, srv := benchServer(b, config.ModeRequired)
	_ = f
	benchHandshake(b, func(c net.Conn) *tls.Conn {
		wc := &conn{Conn: c, srv: srv, info: &sessionInfo{}, release: func() {}}
		wc.tlsStarted.Store(true)
		return tls.Server(wc, srv.tlsConf)
	})
}

func benchCert(b *testing.B, f *fixture) tls.Certificate {
	c, err := certificateFrom(f.chain.Leaf.PEM(), f.chain.Bundle(), f.chain.Leaf.KeyPEM())
	must(b, err)
	return *c
}

func heapAndStacks() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse + m.StackInuse)
}

// idleConns opens n connections that have sent EHLO and wait.
func idleConns(b *testing.B, addr string, n int, ehlo bool) []net.Conn {
	conns := make([]net.Conn, 0, n)
	for i := 0; i < n; i++ {
		c, err := net.Dial("tcp", addr)
		must(b, err)
		if ehlo {
			p := &peer{c: c}
			must(b, p.step("", "220 "))
			must(b, p.step("EHLO idle.example\r\n", "250 "))
		}
		conns = append(conns, c)
	}
	return conns
}

// Memory per idle connection (after EHLO), measured as heap + stacks in
// use. The client ends live in this process too, so the same measure is
// taken against a listener that only accepts and holds sockets; the
// difference is what smtpd adds per connection.
func BenchmarkIdleConnectionMemory(b *testing.B) {
	const n = 1000
	for i := 0; i < b.N; i++ {
		// Baseline: bare accepted sockets plus the client ends.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		must(b, err)
		var held []net.Conn
		var hmu sync.Mutex
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				hmu.Lock()
				held = append(held, c)
				hmu.Unlock()
			}
		}()
		before := heapAndStacks()
		cs := idleConns(b, ln.Addr().String(), n, false)
		for {
			hmu.Lock()
			k := len(held)
			hmu.Unlock()
			if k == n {
				break
			}
			time.Sleep(time.Millisecond)
		}
		bare := heapAndStacks() - before
		for _, c := range cs {
			c.Close()
		}
		ln.Close()
		hmu.Lock()
		for _, c := range held {
			c.Close()
		}
		hmu.Unlock()

		_, srv := benchServer(b, config.ModeAvailable)
		// Warm up: the first connections allocate pools and caches that do
		// not grow with the number of peers.
		for _, c := range idleConns(b, srv.Addr().String(), 20, true) {
			c.Close()
		}
		time.Sleep(50 * time.Millisecond)
		before = heapAndStacks()
		cs = idleConns(b, srv.Addr().String(), n, true)
		withSmtpd := heapAndStacks() - before
		b.ReportMetric(float64(withSmtpd)/n, "B/conn-total")
		b.ReportMetric(float64(withSmtpd-bare)/n, "B/conn-smtpd")
		b.ReportMetric(float64(bare)/n, "B/conn-sockets")
		for _, c := range cs {
			c.Close()
		}
	}
}

// Reload latency: from the reload request on the control socket to a new
// handshake that gets the new certificate.
func BenchmarkReloadLatency(b *testing.B) {
	f := newFixture(b)
	gens := []string{f.writeGen(testSettings(config.ModeAvailable), nil), f.writeGen(testSettings(config.ModeAvailable), f.newChainSameRoot(b))}
	fps := map[string]string{}
	for _, g := range gens {
		l, err := config.LoadGeneration(f.dir, g, testHostEnv())
		must(b, err)
		cfg, err := ConfigFrom(l)
		must(b, err)
		fps[g] = cfg.Fingerprint
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, f.dir, RunOptions{Options: Options{}, Host: testHostEnv(), Ready: func(a string) { ready <- a },
			StopTimeout: 5 * time.Second})
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		b.Fatal(err)
	}
	link := filepath.Join(f.dir, config.CurrentLink)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		g := gens[i%2]
		b.StopTimer()
		os.Remove(link + ".tmp")
		must(b, os.Symlink(filepath.Join(config.GenerationsDir, g), link+".tmp"))
		must(b, os.Rename(link+".tmp", link))
		b.StartTimer()
		res, err := RequestReload(ctx, f.dir)
		must(b, err)
		if !res.OK {
			b.Fatal(res.Message)
		}
		if got := handshakeFP(b, addr); got != fps[g] {
			b.Fatalf("served %s, want %s", got, fps[g])
		}
	}
	b.StopTimer()
	cancel()
	<-done
}

func handshakeFP(b *testing.B, addr string) string {
	c, err := net.Dial("tcp", addr)
	must(b, err)
	defer c.Close()
	p := &peer{c: c}
	must(b, p.step("", "220 "))
	must(b, p.step("EHLO fp.example\r\n", "250 "))
	must(b, p.step("STARTTLS\r\n", "220 "))
	tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true})
	must(b, tc.Handshake())
	return Fingerprint(tc.ConnectionState().PeerCertificates[0].Raw)
}

// The stress bookkeeping per accepted connection (pressure.go): the peer's
// address and network from the socket, the limits checked and counted in
// at admission, counted out at the end, with 1,000 connections from 60
// networks already held (under stress: 1,000 is past 80% of 1,100).
func BenchmarkStressBookkeeping(b *testing.B) {
	f := newFixture(b)
	s := testSettings(config.ModeAvailable)
	s.Limits.MaxConnections = 1100
	f.writeGen(s, nil)
	srv, err := New(f.config(), Options{})
	must(b, err)
	l := srv.limits()
	now := time.Now()
	srv.connMu.Lock()
	for i := 0; i < 1000; i++ {
		k := peerKeysOf(fakeRemote{&net.TCPAddr{IP: net.IPv4(127, 0, byte(i%60), byte(2+i/60)), Port: 40000}})
		if why := srv.admitLocked(k, l, now); why != "" {
			b.Fatal(why)
		}
	}
	srv.connMu.Unlock()
	raw := fakeRemote{&net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 50000}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := peerKeysOf(raw)
		c := &conn{keys: k}
		srv.connMu.Lock()
		if why := srv.admitLocked(k, l, now); why != "" {
			b.Fatal(why)
		}
		srv.releaseLocked(c)
		srv.connMu.Unlock()
	}
	b.StopTimer()
	if !srv.stressed.Load() {
		b.Fatal("not under stress: the figure would miss the stress path")
	}
}

// fakeRemote is a net.Conn that only has a remote address.
type fakeRemote struct{ addr net.Addr }

func (f fakeRemote) RemoteAddr() net.Addr             { return f.addr }
func (f fakeRemote) LocalAddr() net.Addr              { return f.addr }
func (f fakeRemote) Read([]byte) (int, error)         { return 0, nil }
func (f fakeRemote) Write(b []byte) (int, error)      { return len(b), nil }
func (f fakeRemote) Close() error                     { return nil }
func (f fakeRemote) SetDeadline(time.Time) error      { return nil }
func (f fakeRemote) SetReadDeadline(time.Time) error  { return nil }
func (f fakeRemote) SetWriteDeadline(time.Time) error { return nil }
