package smtpd

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/smtptls/smtptls/config"
)

// RunOptions are what `smtptls serve` passes to Run.
type RunOptions struct {
	Options
	Host config.Host
	// Reload receives a value for every SIGHUP.
	Reload <-chan os.Signal
	// StopTimeout bounds the drain at exit; zero means 30 seconds.
	StopTimeout time.Duration
	// Ready, when set, is called once the listener and the control socket
	// both answer.
	Ready func(addr string)
}

// Run is the whole listener process: load and check the configuration,
// serve it, answer the control socket and SIGHUP, and drain on ctx's end
// or a stop request. It returns nil after a clean stop.
func Run(ctx context.Context, dir string, ro RunOptions) error {
	if ro.Logger == nil {
		ro.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	l, err := config.Load(dir, ro.Host)
	if err != nil {
		return err
	}
	cfg, err := ConfigFrom(l)
	if err != nil {
		return fmt.Errorf("configuration in %s: %w", dir, err)
	}
	srv, err := New(cfg, ro.Options)
	if err != nil {
		return err
	}
	if pid := FindListener(dir); pid > 0 && pid != os.Getpid() {
		// A listener that lost its socket still serves: never a second.
		return &SocketLostError{Pid: pid, Dir: dir}
	}
	ctl, err := listenControl(dir)
	if err != nil {
		return err
	}
	defer os.Remove(SocketPath(dir))
	// The pid file finds the listener when its socket is lost, also when it
	// runs in the foreground (systemd); serve --detach wrote it already.
	if err := writePidFile(filepath.Join(dir, config.PidFile), os.Getpid()); err != nil {
		ro.Logger.Warn("pid file not written", "err", err.Error())
	}
	defer removePidFile(dir, os.Getpid())
	if err := srv.Start(); err != nil {
		ctl.Close()
		return err
	}

	for _, w := range cfg.Warnings(srv.opts.Now()) {
		ro.Logger.Warn("certificate", "warning", w)
	}
	d := &daemon{srv: srv, dir: dir, host: ro.Host, stop: make(chan struct{}), log: openLogFile(dir)}
	// logrotate's postrotate sends SIGUSR1 (smtptls.logrotate).
	reopen := make(chan os.Signal, 1)
	signal.Notify(reopen, syscall.SIGUSR1)
	defer signal.Stop(reopen)
	go serveControl(ctl, d.handle)
	if ro.Ready != nil {
		ro.Ready(srv.Addr().String())
	}

	hupDone := make(chan struct{})
	go func() {
		defer close(hupDone)
		for {
			select {
			case _, ok := <-ro.Reload:
				if !ok {
					return
				}
				d.reload()
			case <-reopen:
				d.reopenLog()
			case <-ctx.Done():
				return
			case <-d.stop:
				return
			}
		}
	}()
	select {
	case <-ctx.Done():
	case <-d.stop:
	}
	d.stopOnce.Do(func() { close(d.stop) })
	<-hupDone
	ro.Logger.Info("stopping: draining connections")
	ctl.Close()
	timeout := ro.StopTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		ro.Logger.Warn("drain deadline passed; remaining connections were cut", "timeout", timeout)
	}
	return nil
}

type daemon struct {
	srv  *Server
	dir  string
	host config.Host

	log      *logFile
	reloadMu sync.Mutex // one reload at a time, SIGHUP or socket
	stopOnce sync.Once
	stop     chan struct{}
}

func (d *daemon) handle(op string) controlReply {
	switch op {
	case opReload:
		r := d.reload()
		return controlReply{Reload: &r}
	case opState:
		st := d.state()
		return controlReply{State: &st}
	case opStop:
		st := d.state()
		d.stopOnce.Do(func() { close(d.stop) })
		return controlReply{State: &st}
	}
	return controlReply{Error: fmt.Sprintf("unknown request %q", op)}
}

func (d *daemon) state() State {
	cfg, since := d.srv.Current()
	st := State{
		Pid:         os.Getpid(),
		Generation:  cfg.Generation,
		Mode:        string(cfg.Mode),
		Listen:      d.srv.Addr().String(),
		Fingerprint: cfg.Fingerprint,
		Since:       since,
		Relay:       d.srv.RelayCounters(),
	}
	p := d.srv.Pressure()
	st.Pressure = &p
	if cfg.Relay != nil {
		st.NextHop = cfg.Relay.NextHop.URL
	}
	return st
}

// reload loads, checks and switches; on any error the running config stays.
// reopenLog reopens smtpd.log after logrotate moved it away.
func (d *daemon) reopenLog() {
	done, err := d.log.reopen()
	switch {
	case err != nil:
		d.srv.log.Warn("log not reopened; still writing to the old file", "err", err.Error())
	case done:
		d.srv.log.Info("log reopened", "file", d.log.path)
	}
}

func (d *daemon) reload() ReloadResult {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	// A reload is the other way logrotate can tell us (the unit's
	// ExecReload); the log follows even if the configuration is refused.
	d.reopenLog()
	res, err := ReloadDir(d.srv, d.dir, d.host)
	if err != nil {
		d.srv.log.Warn("reload refused; still serving the previous configuration", "reason", err.Error(),
			"generation", res.Generation)
	}
	for _, w := range res.Warnings {
		d.srv.log.Warn("certificate", "warning", w)
	}
	return res
}

// ReloadDir loads the live configuration of dir into srv and reports the
// outcome the way the control socket does.
func ReloadDir(srv *Server, dir string, h config.Host) (ReloadResult, error) {
	err := func() error {
		l, err := config.Load(dir, h)
		if err != nil {
			return err
		}
		cfg, err := ConfigFrom(l)
		if err != nil {
			return fmt.Errorf("generation %s: %w", l.Generation, err)
		}
		return srv.Reload(cfg)
	}()
	cfg, _ := srv.Current()
	res := ReloadResult{
		OK:          err == nil,
		Generation:  cfg.Generation,
		Mode:        string(cfg.Mode),
		Fingerprint: cfg.Fingerprint,
	}
	if a := srv.Addr(); a != nil {
		res.Listen = a.String()
	}
	res.Warnings = cfg.Warnings(srv.opts.Now())
	if err != nil {
		res.Message = "reload refused, still serving generation " + orNone(cfg.Generation) + ": " + err.Error()
	} else {
		res.Message = "serving generation " + orNone(cfg.Generation) + " in mode " + string(cfg.Mode) + " on " + res.Listen
	}
	return res, err
}

func orNone(g string) string {
	if g == "" {
		return "(defaults, nothing applied yet)"
	}
	return g
}
