package smtpd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smtptls/smtptls/config"
)

func TestNetworkOf(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.77":              "192.0.2.0/24",
		"::ffff:192.0.2.77":       "192.0.2.0/24",
		"2001:db8:1:2:3:4:5:6":    "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1":    "2001:db8:1:2::/64",
		"2001:db8:1:3::1":         "2001:db8:1:3::/64",
		"127.0.0.1":               "127.0.0.0/24",
		"fe80::1234:5678:9abc:de": "fe80::/64",
	} {
		if got := networkOf(netip.MustParseAddr(in).Unmap()).String(); got != want {
			t.Errorf("networkOf(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestConnectionLimitPerNetwork(t *testing.T) {
	f := newFixture(t)
	s := testSettings(config.ModeAvailable)
	s.Limits.MaxConnectionsPerIP = 2
	s.Limits.MaxConnectionsPerNetwork = 3
	f.writeGen(s, nil)
	srv, _ := startServer(t, f)
	addr := srv.Addr().String()
	for _, src := range []string{"127.0.0.2", "127.0.0.2", "127.0.0.3"} {
		if r := dialFrom(t, src, addr).reply(); !strings.HasPrefix(r, "220 ") {
			t.Fatalf("from %s: %q", src, r)
		}
	}
	if r := dialFrom(t, "127.0.0.4", addr).reply(); !strings.HasPrefix(r, "421 4.7.0 ") || !strings.Contains(r, "too many connections from your network") {
		t.Fatalf("fourth connection from 127.0.0.0/24: %q", r)
	}
	if r := dialFrom(t, "127.0.1.4", addr).reply(); !strings.HasPrefix(r, "220 ") {
		t.Fatalf("from another /24: %q", r)
	}
}

// readUntilClosed reads what the server still says and fails if it does
// not hang up within the bound.
func readUntilClosed(t *testing.T, c *client, within time.Duration) string {
	t.Helper()
	_ = c.c.SetReadDeadline(time.Now().Add(within))
	b, err := io.ReadAll(c.r)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("still connected after %s (read %q)", within, b)
	}
	return string(b)
}

func TestSessionMustFinishEHLOInTime(t *testing.T) {
	f := newFixture(t)
	f.writeGen(testSettings(config.ModeAvailable), nil)
	cfg := f.config()
	srv, err := New(cfg, Options{HelloTimeout: time.Second})
	must(t, err)
	must(t, srv.Start())
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	addr := srv.Addr().String()

	silent := dial(t, addr)
	silent.reply()
	// Commands other than EHLO do not buy time.
	busy := dial(t, addr)
	busy.reply()
	greeted := dial(t, addr)
	greeted.reply()
	greeted.expect("EHLO ok.example", "250-")
	for i := 0; i < 5; i++ {
		busy.expect("NOOP", "250 ")
		time.Sleep(100 * time.Millisecond)
	}
	if r := readUntilClosed(t, silent, 10*time.Second); !strings.HasPrefix(r, "421 4.4.2 ") {
		t.Fatalf("silent peer got %q, want 421 4.4.2", r)
	}
	if r := readUntilClosed(t, busy, 10*time.Second); !strings.HasPrefix(r, "421 4.4.2 ") {
		t.Fatalf("peer that never sent EHLO got %q, want 421 4.4.2", r)
	}
	// A session that said EHLO keeps the normal command timeout.
	greeted.expect("NOOP", "250 ")
}

func TestStressClosesIdleSessionsOldestFirstAndShortensTimeouts(t *testing.T) {
	f := newFixture(t)
	s := testSettings(config.ModeAvailable)
	s.Limits.MaxConnections = 10 // stress past 8
	s.Limits.MaxConnectionsPerIP = 10
	s.Limits.StressIdleTimeout = config.Duration{Duration: time.Second}
	f.writeGen(s, nil)
	srv, lb := startServer(t, f)
	addr := srv.Addr().String()

	var idle []*client
	for i := 0; i < 8; i++ {
		c := dial(t, addr)
		c.reply()
		c.expect(fmt.Sprintf("EHLO idle%d.example", i), "250-")
		if i == 0 {
			// Parked in the middle of a transaction: as idle as the rest.
			c.expect("MAIL FROM:<a@example.org>", "250 ")
		}
		idle = append(idle, c)
		time.Sleep(20 * time.Millisecond)
	}
	// Two busy senders push the count past 80%; they keep sending
	// commands, so they are never idle.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	var busyErr atomic.Value
	for i := 0; i < 2; i++ {
		c := dial(t, addr)
		c.reply()
		c.expect("EHLO busy.example", "250-")
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := &peer{c: c.c, r: c.r}
			for ctx.Err() == nil {
				if err := p.step("NOOP\r\n", "250 "); err != nil {
					busyErr.Store(err.Error())
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		}()
	}
	waitFor(t, func() bool { return srv.Pressure().Stress })
	// 10 connections, threshold 8: the two oldest idle ones go.
	for _, c := range idle[:2] {
		if r := readUntilClosed(t, c, 10*time.Second); !strings.HasPrefix(r, "421 4.4.2 ") {
			t.Fatalf("oldest idle session got %q, want 421 4.4.2", r)
		}
	}
	idle[2].expect("NOOP", "250 ")
	if !strings.Contains(lb.String(), "under stress") || !strings.Contains(lb.String(), "networks=\"127.0.0.0/24=") {
		t.Fatalf("the log does not say the listener is under stress and from where:\n%s", lb.String())
	}
	// A session that starts under stress gets the short timeout: idle
	// after EHLO, it is gone long before the 5-minute command timeout.
	waitFor(t, func() bool { return !srv.Pressure().Stress })
	late := dial(t, addr)
	late.reply()
	late.expect("EHLO late.example", "250-")
	if !srv.Pressure().Stress {
		t.Fatal("9 of 10 connections is not stress")
	}
	if r := readUntilClosed(t, late, 10*time.Second); !strings.HasPrefix(r, "421 4.4.2 ") {
		t.Fatalf("idle session started under stress got %q", r)
	}
	cancel()
	wg.Wait()
	if e := busyErr.Load(); e != nil {
		t.Fatalf("a busy sender was cut: %v", e)
	}
}

// The attack of issue 9, finding 1: 60 addresses × 20 connections (each
// address within its limit), each sending one byte every 10 s and
// reconnecting when closed. A legitimate sender must deliver within 15 s,
// every time. Bounded: the attack runs 45 s.
func TestDripAttackLeavesRoomForLegitimateMail(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 45 s")
	}
	f := newFixture(t)
	s := testSettings(config.ModeAvailable) // defaults: 1000, 20 per address, 100 per network
	f.writeGen(s, nil)
	lb := &logBuf{}
	srv, err := New(f.config(), Options{Logger: slog.New(slog.NewTextHandler(lb, nil)), DrainTimeout: 5 * time.Second})
	must(t, err)
	must(t, srv.Start())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	addr := srv.Addr().String()

	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	// Sixty networks, so the per-network limit does not save the day:
	// the stress mode has to.
	for a := 0; a < 60; a++ {
		src := fmt.Sprintf("127.0.%d.2", a+1)
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				drip(ctx, src, addr)
			}()
		}
	}
	waitFor(t, func() bool { return srv.Pressure().Connections >= 1000 })

	for round := 0; round < 3; round++ {
		start := time.Now()
		attempts, err := deliverWithRetry(ctx, "127.2.0.1", addr, 15*time.Second)
		took := time.Since(start)
		if err != nil {
			t.Fatalf("round %d: the legitimate sender did not deliver within 15 s (%d attempts): %v", round+1, attempts, err)
		}
		t.Logf("round %d: delivered in %s after %d connection attempts; %+v", round+1, took.Round(time.Millisecond), attempts, srv.Pressure().Connections)
		select {
		case <-time.After(5 * time.Second):
		case <-ctx.Done():
			t.Fatal("the attack ended before the rounds did")
		}
	}
	if !strings.Contains(lb.String(), "under stress") {
		t.Fatal("the log never said the listener was under stress")
	}
}

// drip is one attacking connection slot: connect, then send one byte every
// 10 s and never finish a command; reconnect 100 ms after being closed.
func drip(ctx context.Context, src, addr string) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	buf := make([]byte, 512)
	for ctx.Err() == nil {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			stop := context.AfterFunc(ctx, func() { c.Close() })
			for {
				_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
				_, err := c.Read(buf)
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					if _, err := c.Write([]byte("E")); err != nil {
						break
					}
					continue
				}
				if err != nil {
					break
				}
			}
			stop()
			c.Close()
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// deliverWithRetry is a sender that tries again 250 ms after a refusal.
func deliverWithRetry(ctx context.Context, src, addr string, within time.Duration) (int, error) {
	deadline := time.Now().Add(within)
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	var last error
	attempts := 0
	for time.Now().Before(deadline) && ctx.Err() == nil {
		attempts++
		last = func() error {
			c, err := d.DialContext(ctx, "tcp", addr)
			if err != nil {
				return err
			}
			defer c.Close()
			_ = c.SetDeadline(deadline)
			p := &peer{c: c, r: bufio.NewReader(c)}
			for _, st := range [][2]string{
				{"", "220 "}, {"EHLO legit.example\r\n", "250 "}, {"MAIL FROM:<a@example.org>\r\n", "250 "},
				{"RCPT TO:<b@example.test>\r\n", "250 "}, {"DATA\r\n", "354 "},
				{"Subject: legit\r\n\r\nhello\r\n.\r\n", "250 2.0.0 Ok: queued"}, {"QUIT\r\n", "221 "},
			} {
				if err := p.step(st[0], st[1]); err != nil {
					return err
				}
			}
			return nil
		}()
		if last == nil {
			return attempts, nil
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
	return attempts, last
}

// A full listener gives a newcomer the slot of the session idle longest
// (at least EvictAfterIdle), never one that is working.
func TestFullListenerGivesTheIdlestSlotToANewcomer(t *testing.T) {
	f := newFixture(t)
	s := testSettings(config.ModeAvailable)
	s.Limits.MaxConnections = 2
	f.writeGen(s, nil)
	srv, lb := startServerOpts(t, f, Options{EvictAfterIdle: 200 * time.Millisecond})
	addr := srv.Addr().String()
	idle := dial(t, addr)
	idle.reply()
	idle.expect("EHLO idle.example", "250-")
	working := dial(t, addr)
	working.reply()
	working.expect("EHLO working.example", "250-")
	working.expect("MAIL FROM:<a@example.org>", "250 ")
	for i := 0; i < 4; i++ {
		time.Sleep(100 * time.Millisecond)
		working.expect("NOOP", "250 ")
	}
	newcomer := dial(t, addr)
	if r := newcomer.reply(); !strings.HasPrefix(r, "220 ") {
		t.Fatalf("newcomer at the cap: %q", r)
	}
	if r := readUntilClosed(t, idle, 10*time.Second); !strings.HasPrefix(r, "421 4.4.2 ") {
		t.Fatalf("the idle session got %q, want 421 4.4.2", r)
	}
	working.expect("RCPT TO:<b@example.test>", "250 ")
	waitFor(t, func() bool {
		return strings.Contains(lb.String(), `result="closed to make room: idle while the listener was full"`)
	})
}
