package smtpd

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/smtptls/smtptls/config"
	"github.com/smtptls/smtptls/internal/testpki"
)

// runDaemon runs Run in the background as `smtptls serve` does.
func runDaemon(t *testing.T, f *fixture) (hup chan os.Signal, done chan error, lb *logBuf) {
	t.Helper()
	hup = make(chan os.Signal, 1)
	done = make(chan error, 1)
	lb = &logBuf{}
	ready := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		done <- Run(ctx, f.dir, RunOptions{
			Options: Options{Logger: slog.New(slog.NewTextHandler(lb, nil))},
			Host:    testHostEnv(), Reload: hup, StopTimeout: 5 * time.Second,
			Ready: func(a string) { ready <- a },
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	return hup, done, lb
}

func TestControlSocketReloadStateAndStop(t *testing.T) {
	f := newFixture(t)
	gen1 := f.writeGen(testSettings(config.ModeAvailable), nil)
	hup, done, lb := runDaemon(t, f)
	ctx := context.Background()

	fi, err := os.Stat(SocketPath(f.dir))
	must(t, err)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("control socket mode %v, want 0600", fi.Mode().Perm())
	}
	st, err := QueryState(ctx, f.dir)
	must(t, err)
	if st.Pid != os.Getpid() || st.Generation != gen1 || st.Mode != "available" || st.Fingerprint != Fingerprint(f.chain.Leaf.Cert.Raw) || st.Since.IsZero() {
		t.Fatalf("state %+v", st)
	}

	// A second listener on the same directory refuses to start.
	err = Run(ctx, f.dir, RunOptions{Options: Options{Logger: slog.New(slog.NewTextHandler(&logBuf{}, nil))}, Host: testHostEnv()})
	if err == nil || !strings.Contains(err.Error(), "already answers") {
		t.Fatalf("second listener: %v", err)
	}

	ch2 := f.newChainSameRoot(t)
	gen2 := f.writeGen(testSettings(config.ModeRequired), ch2)
	res, err := RequestReload(ctx, f.dir)
	must(t, err)
	if !res.OK || res.Generation != gen2 || res.Mode != "required" || res.Fingerprint != Fingerprint(ch2.Leaf.Cert.Raw) || res.Listen != st.Listen {
		t.Fatalf("reload %+v", res)
	}
	if got := servedFingerprint(t, st.Listen, f); got != res.Fingerprint {
		t.Fatalf("served %s after reload", got)
	}

	// A bad generation is refused with the reason, over the socket.
	other := testpki.MustChain(time.Now(), testpki.ECDSAP256, testHost)
	f.writeGen(testSettings(config.ModeRequired), &testpki.Chain{Root: f.chain.Root, Intermediate: f.chain.Intermediate,
		Leaf: &testpki.Cert{Cert: ch2.Leaf.Cert, Key: other.Leaf.Key}})
	res, err = RequestReload(ctx, f.dir)
	must(t, err)
	if res.OK || !strings.Contains(res.Message, "private key does not match public key") || res.Generation != gen2 {
		t.Fatalf("bad reload answered %+v", res)
	}

	// SIGHUP reloads too.
	ch3 := f.newChainSameRoot(t)
	gen3 := f.writeGen(testSettings(config.ModeAvailable), ch3)
	hup <- os.Interrupt
	waitFor(t, func() bool {
		st, err := QueryState(ctx, f.dir)
		return err == nil && st.Generation == gen3
	})
	if got := servedFingerprint(t, st.Listen, f); got != Fingerprint(ch3.Leaf.Cert.Raw) {
		t.Fatal("SIGHUP reload did not swap the certificate")
	}

	// Stop: an idle peer is told 421 and the listener exits cleanly.
	idle := dial(t, st.Listen)
	idle.reply()
	idle.expect("EHLO idle.example", "250-")
	_, err = call(ctx, f.dir, opStop)
	must(t, err)
	select {
	case err := <-done:
		must(t, err)
		done <- nil // for the cleanup
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after stop")
	}
	if r := idle.reply(); !strings.HasPrefix(r, "421 ") {
		t.Fatalf("idle peer at stop got %q", r)
	}
	if _, err := QueryState(ctx, f.dir); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("after stop: %v, want ErrNotRunning", err)
	}
	if _, err := os.Stat(SocketPath(f.dir)); !os.IsNotExist(err) {
		t.Fatal("control socket left behind")
	}
	if !strings.Contains(lb.String(), "reload refused") {
		t.Fatalf("refused reload not logged:\n%s", lb.String())
	}
}

func TestNotRunning(t *testing.T) {
	dir := shortTempDir(t)
	ctx := context.Background()
	if _, err := QueryState(ctx, dir); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("no socket: %v", err)
	}
	// A stale socket from a crashed listener.
	l, err := net.Listen("unix", SocketPath(dir))
	must(t, err)
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	if _, err := RequestReload(ctx, dir); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("stale socket: %v", err)
	}
	if err := StopDetached(ctx, dir); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("stop: %v", err)
	}
}

// Transactions in progress finish during a stop; the peer gets its 250.
func TestShutdownDrainsTransactionInProgress(t *testing.T) {
	f := newFixture(t)
	f.writeGen(testSettings(config.ModeAvailable), nil)
	srv, _ := startServer(t, f)
	c := dial(t, srv.Addr().String())
	c.reply()
	c.expect("EHLO busy.example", "250-")
	c.expect("MAIL FROM:<a@example.org>", "250 ")
	c.expect("RCPT TO:<b@example.test>", "250 ")
	c.expect("DATA", "354 ")
	c.send("Subject: half\r\n\r\n")
	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		stopped <- srv.Shutdown(ctx)
	}()
	waitFor(t, func() bool { // the listening socket closes first
		c, err := net.DialTimeout("tcp", srv.Addr().String(), time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	c.send("rest of body\r\n.\r\n")
	spooled(t, f, queuedID(t, c.reply()))
	c.send("NOOP\r\n")
	if r := c.reply(); !strings.HasPrefix(r, "421 ") {
		t.Fatalf("after the transaction, during shutdown: %q", r)
	}
	must(t, <-stopped)
}

// A peer that finished the TLS handshake and then sits idle is cut at
// shutdown like any idle peer, not waited for until its command timeout.
func TestShutdownCutsIdlePeerAfterHandshake(t *testing.T) {
	f := newFixture(t)
	f.writeGen(testSettings(config.ModeRequired), nil)
	srv, _ := startServer(t, f)
	c := dial(t, srv.Addr().String())
	c.reply()
	c.expect("EHLO idle.example", "250-")
	c.starttls(f.roots)
	waitFor(t, func() bool { // the server has moved on to reading a command
		srv.connMu.Lock()
		defer srv.connMu.Unlock()
		for wc := range srv.conns {
			if !wc.busy.Load() {
				return true
			}
		}
		return false
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// The command timeout is 5 minutes: Shutdown returns the context's
	// error if it had to wait for it.
	must(t, srv.Shutdown(ctx))
	if r := c.reply(); !strings.HasPrefix(r, "421 ") {
		t.Fatalf("idle TLS peer at shutdown got %q", r)
	}
}
