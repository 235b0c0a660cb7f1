package smtpd

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/smtptls/smtptls/config"
	"github.com/smtptls/smtptls/smtpd/relay"
)

// ErrNotRunning means no listener answers on the control socket.
var ErrNotRunning = errors.New("no smtptls listener is running for this config directory")

// ReloadResult is the listener's answer to a reload request.
type ReloadResult struct {
	OK bool `json:"ok"`
	// Message says what happened; when OK is false, why the new
	// configuration was refused (the old one keeps serving).
	Message    string `json:"message"`
	Generation string `json:"generation"`
	Mode       string `json:"mode"`
	Listen     string `json:"listen"` // the address actually bound
	// Fingerprint is the SHA-256 (lowercase hex) of the leaf now served,
	// "" in disabled mode.
	Fingerprint string `json:"fingerprint"`
	// Warnings name what is served but will hurt: an expired certificate,
	// one that does not cover the configured host name.
	Warnings []string `json:"warnings,omitempty"`
}

// State is what a running listener serves.
type State struct {
	Pid         int       `json:"pid"`
	Generation  string    `json:"generation"`
	Mode        string    `json:"mode"`
	Listen      string    `json:"listen"`
	Fingerprint string    `json:"fingerprint"`
	Since       time.Time `json:"since"` // when this configuration became live
	// NextHop is where mail is relayed, "" when it is spooled.
	NextHop string `json:"next_hop,omitempty"`
	// Relay counts relay outcomes since the listener started.
	Relay relay.Counters `json:"relay"`
	// Pressure is the connection count and stress mode (pressure.go).
	Pressure *Pressure `json:"pressure,omitempty"`
}

// Control socket protocol: one JSON request line, one JSON reply line.
const (
	opReload = "reload"
	opState  = "state"
	opStop   = "stop"
)

type controlRequest struct {
	Op string `json:"op"`
}

type controlReply struct {
	Reload *ReloadResult `json:"reload,omitempty"`
	State  *State        `json:"state,omitempty"`
	Error  string        `json:"error,omitempty"`
}

// SocketPath is the control socket of a config directory.
func SocketPath(configDir string) string {
	return filepath.Join(configDir, config.ControlSocket)
}

// RequestReload asks the listener of configDir to load the current
// configuration, and returns its answer. ErrNotRunning if none answers.
func RequestReload(ctx context.Context, configDir string) (ReloadResult, error) {
	rep, err := call(ctx, configDir, opReload)
	if err != nil {
		return ReloadResult{}, err
	}
	if rep.Reload == nil {
		return ReloadResult{}, fmt.Errorf("control socket: malformed reply to reload")
	}
	return *rep.Reload, nil
}

// QueryState asks the listener of configDir what it serves.
func QueryState(ctx context.Context, configDir string) (State, error) {
	rep, err := call(ctx, configDir, opState)
	if err != nil {
		return State{}, err
	}
	if rep.State == nil {
		return State{}, fmt.Errorf("control socket: malformed reply to state")
	}
	return *rep.State, nil
}

func call(ctx context.Context, configDir, op string) (controlReply, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", SocketPath(configDir))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) {
			if pid := FindListener(configDir); pid > 0 {
				return controlReply{}, &SocketLostError{Pid: pid, Dir: configDir}
			}
			return controlReply{}, ErrNotRunning
		}
		return controlReply{}, fmt.Errorf("control socket %s: %w", SocketPath(configDir), err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Now()) })
	defer stop()
	if err := json.NewEncoder(c).Encode(controlRequest{Op: op}); err != nil {
		return controlReply{}, fmt.Errorf("control socket: send %s: %w", op, err)
	}
	var rep controlReply
	line, err := bufio.NewReader(c).ReadBytes('\n')
	if err != nil {
		if ctx.Err() != nil {
			return controlReply{}, fmt.Errorf("control socket: waiting for the %s reply: %w", op, ctx.Err())
		}
		return controlReply{}, fmt.Errorf("control socket: read %s reply: %w", op, err)
	}
	if err := json.Unmarshal(line, &rep); err != nil {
		return controlReply{}, fmt.Errorf("control socket: malformed reply: %w", err)
	}
	if rep.Error != "" {
		return rep, errors.New(rep.Error)
	}
	return rep, nil
}

// listenControl binds the 0600 control socket, refusing when another
// listener already answers on it and removing a stale one.
func listenControl(configDir string) (net.Listener, error) {
	path := SocketPath(configDir)
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("another smtptls listener already answers on %s (stop it with: smtptls stop --config-dir %s)", path, configDir)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove stale control socket: %w", err)
	}
	if err := os.MkdirAll(configDir, 0o700); err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	// Reload and stop are admin operations: only the owner may connect.
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return ln, nil
}

// serveControl answers requests until ln is closed.
func serveControl(ln net.Listener, handle func(op string) controlReply) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(time.Minute))
			line, err := bufio.NewReader(c).ReadBytes('\n')
			if err != nil {
				return
			}
			var req controlRequest
			var rep controlReply
			if err := json.Unmarshal(line, &req); err != nil {
				rep.Error = "malformed request: " + err.Error()
			} else {
				rep = handle(req.Op)
			}
			_ = json.NewEncoder(c).Encode(rep)
		}()
	}
}
