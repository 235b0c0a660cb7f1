package probe

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// A tiny SMTP client. net/smtp hides reply codes and is frozen; the probe
// needs every raw code (530 versus 550 matters) and a deadline on every read.

// Limits against a hostile or broken server: a reply is a few lines in
// practice, so anything far larger is reported rather than buffered.
const (
	maxReplyLine  = 4096
	maxReplyLines = 200
)

type reply struct {
	Code  int
	Lines []string // text after "250-" / "250 ", in order
}

// String is the reply as a one-line detail: the code and first line.
func (r reply) String() string {
	first := ""
	if len(r.Lines) > 0 {
		first = r.Lines[0]
	}
	return oneLine(strconv.Itoa(r.Code)+" "+first, 120)
}

// has reports whether an EHLO reply advertises keyword (case-insensitive).
func (r reply) has(keyword string) bool {
	for i, l := range r.Lines {
		if i == 0 {
			continue // the greeting line, not a keyword
		}
		f := strings.Fields(l)
		if len(f) > 0 && strings.EqualFold(f[0], keyword) {
			return true
		}
	}
	return false
}

type smtpConn struct {
	ctx     context.Context
	nc      net.Conn
	r       *bufio.Reader
	timeout time.Duration
	stop    func() bool
}

// newSMTPConn wraps nc; cancelling ctx unblocks any read or write at once.
func newSMTPConn(ctx context.Context, nc net.Conn, timeout time.Duration) *smtpConn {
	c := &smtpConn{ctx: ctx, nc: nc, r: bufio.NewReaderSize(nc, maxReplyLine), timeout: timeout}
	c.stop = context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	return c
}

// upgrade switches to a TLS connection over the same socket; the old reader
// is dropped so nothing read before the handshake leaks into the session.
func (c *smtpConn) upgrade(ctx context.Context, nc net.Conn) {
	c.stop()
	c.nc = nc
	c.r = bufio.NewReaderSize(nc, maxReplyLine)
	c.stop = context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
}

func (c *smtpConn) close() {
	c.stop()
	c.nc.Close()
}

// cmd sends one command line and reads the reply.
func (c *smtpConn) cmd(line string) (reply, error) {
	if err := c.arm(); err != nil {
		return reply{}, err
	}
	if _, err := io.WriteString(c.nc, line+"\r\n"); err != nil {
		return reply{}, fmt.Errorf("send %s: %w", verb(line), c.netErr(err))
	}
	rep, err := c.readReplyNoDeadline()
	if err != nil {
		return reply{}, fmt.Errorf("reply to %s: %w", verb(line), err)
	}
	return rep, nil
}

// readReply reads one (possibly multi-line) reply within the timeout.
func (c *smtpConn) readReply() (reply, error) {
	if err := c.arm(); err != nil {
		return reply{}, err
	}
	return c.readReplyNoDeadline()
}

// arm sets the deadline for the next step, unless the run was cancelled:
// a fresh deadline would otherwise undo the cancellation's.
func (c *smtpConn) arm() error {
	if err := c.ctx.Err(); err != nil {
		return fmt.Errorf("cancelled: %w", err)
	}
	if err := c.nc.SetDeadline(time.Now().Add(c.timeout)); err != nil {
		return err
	}
	if err := c.ctx.Err(); err != nil {
		c.nc.SetDeadline(time.Unix(1, 0))
		return fmt.Errorf("cancelled: %w", err)
	}
	return nil
}

// netErr says why a read or write failed, in words an admin can act on.
func (c *smtpConn) netErr(err error) error {
	if cerr := c.ctx.Err(); cerr != nil {
		return fmt.Errorf("cancelled: %w", cerr)
	}
	return describeNetErr(err, c.timeout)
}

func (c *smtpConn) readReplyNoDeadline() (reply, error) {
	var rep reply
	for {
		line, err := c.r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return reply{}, fmt.Errorf("reply line longer than %d bytes", maxReplyLine)
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				if len(line) > 0 || len(rep.Lines) > 0 {
					return reply{}, errors.New("server closed the connection in the middle of a reply")
				}
				return reply{}, errors.New("server closed the connection")
			}
			return reply{}, c.netErr(err)
		}
		s := strings.TrimRight(string(line), "\r\n")
		if len(s) < 3 {
			return reply{}, fmt.Errorf("malformed reply line %q", oneLine(s, 60))
		}
		code, err := strconv.Atoi(s[:3])
		if err != nil || code < 200 || code > 599 {
			return reply{}, fmt.Errorf("malformed reply line %q: not an SMTP server?", oneLine(s, 60))
		}
		if rep.Code != 0 && code != rep.Code {
			return reply{}, fmt.Errorf("reply changes code from %d to %d mid-reply", rep.Code, code)
		}
		rep.Code = code
		sep, text := byte(' '), ""
		if len(s) > 3 {
			sep, text = s[3], s[4:]
		}
		rep.Lines = append(rep.Lines, text)
		if sep != '-' {
			return rep, nil
		}
		if len(rep.Lines) >= maxReplyLines {
			return reply{}, fmt.Errorf("reply longer than %d lines", maxReplyLines)
		}
	}
}

// quit ends the session politely without waiting long: the verdict is in.
func (c *smtpConn) quit() {
	c.timeout = min(c.timeout, time.Second)
	c.cmd("QUIT")
}

func verb(line string) string {
	if i := strings.IndexAny(line, " :"); i > 0 {
		return line[:i]
	}
	return line
}

// describeNetErr turns a timeout into words an admin can act on.
func describeNetErr(err error, timeout time.Duration) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("no answer within %s (a firewall dropping packets, or a slow server: try --timeout)", timeout)
	}
	return err
}

// oneLine makes s safe for a one-line detail: control characters replaced,
// at most n runes.
func oneLine(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
