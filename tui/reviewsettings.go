package tui

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"syscall"

	"github.com/smtptls/smtptls/internal/cmdline"
	"github.com/smtptls/smtptls/validate"
)

// hostSource says where the host name came from, so the screens can say
// why it is what it is, and never speak of a name "you entered" when
// nobody entered one.
type hostSource int

const (
	hostMachine   hostSource = iota // this machine's name, covered by the certificate (or no certificate yet)
	hostCert                        // the certificate's first name: the machine's is not on it
	hostInstalled                   // the installed setting
	hostEntered                     // --hostname, or h on the review
)

// auto reports whether the wizard may still choose the name itself.
func (h hostSource) auto() bool { return h == hostMachine || h == hostCert }

// hostWhy says in a few words why the host name is the one shown.
func (s *shared) hostWhy() string {
	switch s.hostSource {
	case hostCert:
		return fmt.Sprintf("the certificate's first name; this machine's name, %s, is not on it", s.machineName)
	case hostInstalled:
		return "the installed setting"
	case hostEntered:
		return "entered"
	}
	return "this machine's name"
}

// chooseHost picks the host name for a certificate whose names are names:
// the machine's name when the certificate covers it, else the
// certificate's first DNS name that is not a wildcard. "" keeps the name.
func chooseHost(machine string, names []string, covers bool) string {
	if covers {
		return machine
	}
	for _, n := range names {
		if n != "" && !strings.HasPrefix(n, "*") && net.ParseIP(n) == nil {
			return n
		}
	}
	return ""
}

// hint is d's hint as the wizard shows it: the engine speaks of "the host
// name you entered", which is only true when one was entered.
func (s *shared) hint(d validate.Diagnostic) string {
	if d.Code != validate.CodeCertHostname || s.hostSource == hostEntered {
		return s.cmd(d.Hint)
	}
	return fmt.Sprintf("Peers that check names connect to %s (%s): get a certificate that lists it, or press h on the review step to set the name peers use.", s.hostname, s.hostWhy())
}

// checkListen says whether addr can be listened on: it parses, and unless
// it is the address the running listener already holds, it binds now.
func (s *shared) checkListen(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not an address to listen on: write it like 127.0.0.1:2525, or :25 for every interface", addr)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("%q has no valid port: use a number from 1 to 65535, such as 25 or 2525", addr)
	}
	if host != "" && net.ParseIP(strings.Trim(host, "[]")) == nil && host != "localhost" {
		return fmt.Errorf("%q: listen on an IP address of this machine (or leave it out for every interface), not a name", addr)
	}
	in := s.installed
	if in.Running && (addr == in.Listen || addr == in.Loaded.Settings.Listen) {
		return nil // ours: the reload takes it over
	}
	bind := s.deps.Bind
	if bind == nil {
		bind = func(addr string) error {
			l, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			return l.Close()
		}
	}
	if err := bind(addr); err != nil {
		switch {
		case errors.Is(err, syscall.EADDRINUSE):
			return fmt.Errorf("something else already listens on %s (another mail server?): stop it or choose another port", addr)
		case errors.Is(err, syscall.EACCES):
			return fmt.Errorf("ports below 1024 such as %s need root: run the wizard as root, or choose a port such as 2525", port)
		case errors.Is(err, syscall.EADDRNOTAVAIL):
			return fmt.Errorf("%s is not an address of this machine: choose one it has, or leave the address out (:%s) for every interface", host, port)
		}
		return fmt.Errorf("cannot listen on %s: %v", addr, err)
	}
	return nil
}

// cmd writes the smtptls commands quoted in text as they must be typed
// for this config directory: with --config-dir when it is not the default.
func (s *shared) cmd(text string) string {
	return cmdline.ForDir(text, s.deps.ConfigDir, s.deps.DefaultConfigDir)
}
