package smtpd

import (
	"io"

	"github.com/emersion/go-smtp"
)

// errBareLineEnding is Postfix's reply in smtpd_forbid_bare_newline=reject.
var errBareLineEnding = &smtp.SMTPError{
	Code:         550,
	EnhancedCode: smtp.EnhancedCode{5, 5, 2},
	Message:      "Message contains a bare CR or LF; only CRLF line endings are allowed (RFC 5321 2.3.8)",
}

// lineEndings reads DATA as go-smtp hands it over (dot-unstuffed, ending at
// CRLF.CRLF) and either fails at the first bare CR or LF or rewrites each to
// CRLF. go-smtp passes them through unchanged, and a lenient next hop could
// read "\n.\n" as the end of one message and the start of a smuggled one.
type lineEndings struct {
	r         io.Reader
	normalize bool
	pendingCR bool // a CR ended the previous read
	buf       []byte
	obuf      []byte // backing store of out, reused for every read
	out       []byte
	eof       bool
	err       error
	lineLen   int // bytes since the last line break
	// dotCR, when set, says whether the body held "CRLF . CR x", whose CR
	// go-smtp drops before this reader sees it (the wire spots it).
	dotCR func() bool
}

// errLineTooLong refuses a body line over maxDataLine: permanently, since
// a retry cannot shorten it.
var errLineTooLong = &smtp.SMTPError{
	Code:         552,
	EnhancedCode: smtp.EnhancedCode{5, 3, 4},
	Message:      "Message has a line longer than 65536 bytes; break it into shorter lines (RFC 5322 2.1.1)",
}

// lineBufSize is what one lineEndings needs: a read buffer and room for
// its output, which a body of bare LFs doubles (normalize).
const lineBufSize = 4<<10 + 2*(4<<10) + 16

type lineBuf [lineBufSize]byte

func newLineEndings(r io.Reader, normalize bool) *lineEndings {
	return newLineEndingsBuf(r, normalize, make([]byte, lineBufSize))
}

// newLineEndingsBuf works in b (lineBufSize bytes, free to reuse once the
// reader is done), so a pool can spare every DATA its buffers.
func newLineEndingsBuf(r io.Reader, normalize bool, b []byte) *lineEndings {
	return &lineEndings{r: r, normalize: normalize, buf: b[: 4<<10 : 4<<10], obuf: b[4<<10 : 4<<10 : len(b)]}
}

func (l *lineEndings) Read(p []byte) (int, error) {
	for len(l.out) == 0 {
		if l.err != nil {
			return 0, l.err
		}
		if l.eof {
			if l.pendingCR {
				l.pendingCR = false
				if !l.normalize {
					l.err = errBareLineEnding
					return 0, l.err
				}
				l.out = append(l.obuf[:0], '\r', '\n')
				break
			}
			if !l.normalize && l.dotCR != nil && l.dotCR() {
				l.err = errBareLineEnding
				return 0, l.err
			}
			return 0, io.EOF
		}
		n, err := l.r.Read(l.buf)
		if err == io.EOF {
			l.eof = true
		} else if err != nil {
			l.err = err
		}
		if perr := l.process(l.buf[:n]); perr != nil {
			l.err = perr
			return 0, perr
		}
	}
	n := copy(p, l.out)
	l.out = l.out[n:]
	return n, nil
}

func (l *lineEndings) process(b []byte) error {
	// out is empty here; start over at the front of its backing store
	// rather than after what earlier reads consumed, which made every
	// read grow a fresh slice.
	out := l.obuf[:0]
	for _, c := range b {
		if c == '\n' || c == '\r' {
			l.lineLen = 0
		} else if l.lineLen++; l.lineLen > maxDataLine {
			return errLineTooLong
		}
		if l.pendingCR {
			l.pendingCR = false
			if c == '\n' {
				out = append(out, '\r', '\n')
				continue
			}
			if !l.normalize {
				return errBareLineEnding
			}
			out = append(out, '\r', '\n')
		}
		switch c {
		case '\r':
			l.pendingCR = true
		case '\n':
			if !l.normalize {
				return errBareLineEnding
			}
			out = append(out, '\r', '\n')
		default:
			out = append(out, c)
		}
	}
	l.out = out
	return nil
}

// maxDataLine is the longest body line stored (64 KB, without its CRLF).
// RFC 5322 says 998, but Postfix accepts far longer lines and senders
// (generated HTML, base64 without breaks) send them; past this the
// message is refused for good.
const maxDataLine = 64 << 10
