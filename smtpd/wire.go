package smtpd

import (
	"bytes"
	"io"
	"math"
	"strconv"
	"strings"
)

// wire sits between go-smtp's line limit reader and the connection (our
// conn, or the tls.Conn after STARTTLS), so it sees the plaintext go-smtp
// is about to parse in every mode (see gosmtp_lines.go for how it gets
// there). It knows where DATA bodies and BDAT chunks begin and end, and:
//   - lifts go-smtp's command line limit for the length of a DATA body,
//     so long body lines reach lineEndings (64 KB) instead of failing the
//     connection; command lines keep go-smtp's limit and its 500;
//   - spots "CRLF . CR x", which go-smtp's dot-unstuffing turns into
//     "CRLF x" before the session could see the bare CR;
//   - rewrites the two command lines go-smtp's parser refuses wrongly:
//     RCPT TO:<postmaster> without a domain (RFC 5321 4.5.1 says accept
//     it; it becomes postmaster@ our host name), and MAIL SIZE= values
//     too big for 32 bits (go-smtp says 501, not 552).
//
// It never hands over bytes from both sides of a body or chunk boundary
// in one Read: go-smtp changes its line limit at those boundaries.
type wire struct {
	r          io.Reader
	hooks      *lineHooks
	lineLimit  int    // go-smtp's command line limit, restored after DATA
	postmaster string // "postmaster@" + our host name
	maxSize    int64

	state     wireState
	rawLeft   uint64   // BDAT chunk bytes still to pass
	dot       dotState // go-smtp's end-of-data state machine, mirrored
	bareDotCR bool

	line      []byte // a command line begun in an earlier read
	out       []byte // processed bytes not yet handed over
	err       error  // read error to report once out is drained
	skipToEOL bool
}

type wireState uint8

const (
	wireCommand wireState = iota
	wireBody
	wireRaw
)

type dotState uint8

const (
	dotBeginLine dotState = iota
	dotDot
	dotDotCR
	dotCR
	dotData
)

// installWire puts a wire under go-smtp's reader of c; nil when go-smtp
// cannot be reached (then go-smtp's own behaviour stays).
func installWire(h *lineHooks, hostname string, maxSize int64) *wire {
	if h == nil {
		return nil
	}
	if w, ok := (*h.r).(*wire); ok {
		return w
	}
	w := &wire{r: *h.r, hooks: h, lineLimit: *h.limit, postmaster: "postmaster@" + hostname, maxSize: maxSize}
	*h.r = w
	return w
}

// startBody is called when go-smtp hands a DATA body to the session: the
// 354 has been queued, and the peer sends the body only after it.
func (w *wire) startBody() {
	w.state, w.dot, w.bareDotCR = wireBody, dotBeginLine, false
	*w.hooks.limit = 0
}

// endBody restores the command line limit once go-smtp is done with the
// body (it has drained it, whatever the session answered).
func (w *wire) endBody() {
	*w.hooks.limit = w.lineLimit
}

func (w *wire) Read(p []byte) (int, error) {
	for {
		if len(w.out) > 0 {
			n := copy(p, w.out)
			w.out = w.out[n:]
			if len(w.out) == 0 {
				w.out = w.out[:0:0] // do not pin a big buffer on an idle peer
			}
			return n, nil
		}
		if w.err != nil {
			return 0, w.err
		}
		n, err := w.r.Read(p)
		if n > 0 {
			k := w.process(p[:n])
			if err != nil {
				w.err = err
			}
			if k > 0 {
				return k, nil
			}
			continue
		}
		if err != nil {
			if len(w.line) > 0 {
				w.out, w.line = append(w.out, w.line...), nil
				w.err = err
				continue
			}
			return 0, err
		}
	}
}

// process takes b, just read; the first k bytes go to go-smtp as they
// are, everything after them waits in w.out (changed, or past a boundary).
func (w *wire) process(b []byte) (k int) {
	direct := true
	keep := func(seg []byte) {
		if direct {
			k += len(seg)
		} else {
			w.out = append(w.out, seg...)
		}
	}
	for len(b) > 0 {
		switch w.state {
		case wireRaw:
			m := uint64(len(b))
			if m > w.rawLeft {
				m = w.rawLeft
			}
			keep(b[:m])
			b = b[m:]
			if w.rawLeft -= m; w.rawLeft == 0 {
				w.state, direct = wireCommand, false
			}
		case wireBody:
			m, end := w.scanBody(b)
			keep(b[:m])
			b = b[m:]
			if end {
				w.state, direct = wireCommand, false
			}
		default:
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				if !w.skipToEOL && len(w.line)+len(b) <= maxPendingLine {
					w.line = append(w.line, b...)
					return k
				}
				// Too long for a command: pass it on, go-smtp refuses it.
				if len(w.line) > 0 {
					direct = false
					keep(w.line)
					w.line = w.line[:0]
				}
				w.skipToEOL = true
				keep(b)
				return k
			}
			seg := b[:i+1]
			b = b[i+1:]
			if w.skipToEOL {
				w.skipToEOL = false
				keep(seg)
				continue
			}
			line := seg
			if len(w.line) > 0 {
				line = append(w.line, seg...)
				w.line = w.line[:0]
				direct = false
			}
			out, changed := w.command(line)
			if changed {
				direct = false
			}
			keep(out)
			if w.state == wireRaw {
				direct = false
			}
		}
	}
	return k
}

// scanBody follows go-smtp's dataReader over b and reports how much of b
// belongs to the body and whether the end-of-data line was among it.
func (w *wire) scanBody(b []byte) (int, bool) {
	for i := 0; i < len(b); i++ {
		if w.dot == dotData {
			// Only a CR changes anything here: skip to it at memchr speed.
			j := bytes.IndexByte(b[i:], '\r')
			if j < 0 {
				return len(b), false
			}
			i += j
		}
		c := b[i]
		switch w.dot {
		case dotBeginLine:
			switch c {
			case '.':
				w.dot = dotDot
			case '\r':
				w.dot = dotCR
			default:
				w.dot = dotData
			}
		case dotDot:
			if c == '\r' {
				w.dot = dotDotCR
			} else {
				w.dot = dotData
			}
		case dotDotCR:
			if c == '\n' {
				w.dot = dotBeginLine
				return i + 1, true
			}
			// go-smtp drops this CR with the dot: the only place to see it.
			w.bareDotCR = true
			w.dot = dotData
		case dotCR:
			if c == '\n' {
				w.dot = dotBeginLine
			} else {
				w.dot = dotData
			}
		case dotData:
			if c == '\r' {
				w.dot = dotCR
			}
		}
	}
	return len(b), false
}

// command looks at one command line as go-smtp's parseCmd will. Most
// lines are none of its business and pass without an allocation.
func (w *wire) command(line []byte) ([]byte, bool) {
	if len(line) < 5 || line[4] != ' ' {
		return line, false
	}
	var verb [4]byte
	for i := range verb {
		verb[i] = upper(line[i])
	}
	switch string(verb[:]) {
	case "RCPT":
		// Only RCPT TO:<postmaster> (or without brackets) is rewritten.
		if !containsFold(line, "postmaster") {
			return line, false
		}
	case "MAIL":
		// Only a SIZE= parameter can need a rewrite.
		if !containsFold(line, "size=") {
			return line, false
		}
	case "BDAT":
	default:
		return line, false
	}
	arg := strings.TrimSpace(strings.TrimRight(string(line[5:]), "\r\n"))
	switch string(verb[:]) {
	case "RCPT":
		rest, ok := cutPrefixFold(arg, "TO:")
		if !ok {
			return line, false
		}
		rest = strings.TrimSpace(rest)
		for _, pm := range []string{"<postmaster>", "postmaster"} {
			tail, ok := cutPrefixFold(rest, pm)
			if ok && (tail == "" || tail[0] == ' ') {
				return []byte("RCPT TO:<" + w.postmaster + ">" + tail + "\r\n"), true
			}
		}
	case "MAIL":
		for _, f := range strings.Fields(arg) {
			v, ok := cutPrefixFold(f, "SIZE=")
			if !ok || !allDigits(v) {
				continue
			}
			if _, err := strconv.ParseUint(v, 10, 32); err == nil {
				break
			}
			// Too big for go-smtp's 32-bit parse: over any limit it can
			// hold, so say so with the value go-smtp refuses with 552.
			over := uint64(math.MaxUint32)
			if w.maxSize < math.MaxUint32 {
				over = uint64(w.maxSize) + 1
			}
			i := strings.Index(string(line), f)
			return []byte(string(line[:i]) + "SIZE=" + strconv.FormatUint(over, 10) + string(line[i+len(f):])), true
		}
	case "BDAT":
		// The chunk follows whatever go-smtp answers, as long as the
		// command itself parses (go-smtp's handleBdat).
		args := strings.Fields(arg)
		if len(args) == 0 || len(args) > 2 || (len(args) == 2 && !strings.EqualFold(args[1], "LAST")) {
			return line, false
		}
		size, err := strconv.ParseUint(args[0], 10, 32)
		if err == nil && size > 0 {
			w.state, w.rawLeft = wireRaw, size
		}
	}
	return line, false
}

func upper(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}

// containsFold reports whether b holds lower (ASCII lowercase) in any case.
func containsFold(b []byte, lower string) bool {
	for i := 0; i+len(lower) <= len(b); i++ {
		j := 0
		for j < len(lower) && b[i+j]|0x20 == lower[j] {
			j++
		}
		if j == len(lower) {
			return true
		}
	}
	return false
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return "", false
	}
	return s[len(prefix):], true
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
