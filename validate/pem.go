package validate

import (
	"encoding/base64"
	"errors"
	"sort"
	"strings"
)

// MaxFieldBytes is the largest field we parse. The whole system CA store is
// about 220 KB; anything over 1 MiB is a mistake (a binary, a log) and is
// refused before any parsing.
const MaxFieldBytes = 1 << 20

// block is one PEM block found in a field, however mangled the paste was.
type block struct {
	Label   string            // "CERTIFICATE", "PRIVATE KEY", ...
	Headers map[string]string // Proc-Type, DEK-Info (legacy encryption)
	Bytes   []byte            // decoded body; nil when broken
	Line    int               // 1-based line of the BEGIN marker
	// Broken is set when the block could not be decoded; Err explains.
	Broken   Code
	BadLine  int // line of the damage, for pem_bad_base64
	Repaired bool
	// EndLine is the line of the END marker; text, bodyStart and bodyEnd
	// locate the body, for the line of damage found after decoding.
	EndLine            int
	text               string
	bodyStart, bodyEnd int
}

// scanned is the result of scanning one field.
type scanned struct {
	Blocks []block
	// Text is true when the field has non-blank content.
	Text bool
}

const (
	beginMark = "-----BEGIN "
	endMark   = "-----END "
	dashes    = "-----"
)

// lineIndex maps byte offsets to 1-based line numbers. CRLF and lone CR
// count as one line break each, as editors show them.
type lineIndex []int // offsets where lines start

func newLineIndex(s string) lineIndex {
	idx := lineIndex{0}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\n':
			idx = append(idx, i+1)
		case '\r':
			if i+1 < len(s) && s[i+1] == '\n' {
				continue // the \n ends this line
			}
			idx = append(idx, i+1)
		}
	}
	return idx
}

func (li lineIndex) line(off int) int {
	return sort.Search(len(li), func(i int) bool { return li[i] > off })
}

// scanPEM finds every PEM block in text. It is deliberately lenient: CR/LF
// variants, indentation, blank lines, text around blocks, bodies whose line
// breaks became spaces or vanished (web forms, chat), BEGIN and END on the
// body's line. It never fails; broken blocks are returned marked.
func scanPEM(text string) scanned {
	var out scanned
	out.Text = strings.TrimSpace(text) != ""
	li := newLineIndex(text)
	pos := 0
	for {
		i := strings.Index(text[pos:], beginMark)
		if i < 0 {
			break
		}
		start := pos + i
		labelStart := start + len(beginMark)
		j := strings.Index(text[labelStart:], dashes)
		nl := strings.IndexAny(text[labelStart:], "\r\n")
		if j < 0 || (nl >= 0 && nl < j) {
			// "-----BEGIN" with no closing dashes on its line: not a marker.
			pos = labelStart
			continue
		}
		label := strings.TrimSpace(text[labelStart : labelStart+j])
		bodyStart := labelStart + j + len(dashes)
		b := block{Label: label, Line: li.line(start)}

		// The body ends at the matching END, or at the next BEGIN if the
		// END is missing (truncated paste followed by another block).
		endRel := strings.Index(text[bodyStart:], endMark)
		nextBegin := strings.Index(text[bodyStart:], beginMark)
		if endRel < 0 || (nextBegin >= 0 && nextBegin < endRel) {
			b.Broken = CodePEMNoEnd
			out.Blocks = append(out.Blocks, b)
			if nextBegin < 0 {
				break
			}
			pos = bodyStart + nextBegin
			continue
		}
		bodyEnd := bodyStart + endRel
		// Skip past "-----END LABEL-----".
		after := bodyEnd + len(endMark)
		if k := strings.Index(text[after:], dashes); k >= 0 {
			if nl := strings.IndexAny(text[after:], "\r\n"); nl < 0 || k < nl {
				after += k + len(dashes)
			}
		}
		b.EndLine, b.text, b.bodyStart, b.bodyEnd = li.line(bodyEnd), text, bodyStart, bodyEnd
		decodeBody(&b, text, bodyStart, bodyEnd, li)
		out.Blocks = append(out.Blocks, b)
		pos = after
	}
	return out
}

// decodeBody parses headers and base64 between bodyStart and bodyEnd.
// Working on whitespace-separated tokens makes stripped or space-joined
// line breaks and indentation all the same case.
func decodeBody(b *block, text string, bodyStart, bodyEnd int, li lineIndex) {
	body := text[bodyStart:bodyEnd]
	// One pass straight into the base64 buffer: this runs for every block
	// of a pasted 150-certificate bundle, on every edit.
	enc := make([]byte, 0, len(body))
	maxTok, firstTok, lastTok := 0, -1, -1
	pendingHeader := ""
	for i := 0; i < len(body); {
		if n := spaceLen(body, i); n > 0 {
			i += n
			continue
		}
		j := i + 1
		for j < len(body) && spaceLen(body, j) == 0 {
			j++
		}
		t := body[i:j]
		switch k := strings.IndexByte(t, ':'); {
		case pendingHeader != "":
			b.Headers[pendingHeader] = t
			pendingHeader = ""
		case k >= 0:
			// A header: "Proc-Type: 4,ENCRYPTED" (the value is the next
			// token) or "Proc-Type:4,ENCRYPTED".
			if b.Headers == nil {
				b.Headers = map[string]string{}
			}
			if t[k+1:] == "" {
				pendingHeader = t[:k]
			} else {
				b.Headers[t[:k]] = t[k+1:]
			}
		default:
			if firstTok < 0 {
				firstTok = bodyStart + i
			}
			lastTok = bodyStart + i
			maxTok = max(maxTok, j-i)
			enc = append(enc, t...)
		}
		i = j
	}
	// A body that shares a line with BEGIN or END, or whose lines are far
	// longer than PEM's 64 columns, lost its line breaks on the way.
	if firstTok >= 0 && (li.line(firstTok) == li.line(bodyStart-1) || li.line(lastTok) == li.line(bodyEnd) || maxTok > 80) {
		b.Repaired = true
	}
	// Some exporters drop padding; accept that rather than reject it.
	dec := base64.StdEncoding
	if len(enc)%4 != 0 && (len(enc) == 0 || enc[len(enc)-1] != '=') {
		dec = base64.StdEncoding.WithPadding(base64.NoPadding)
	}
	der := make([]byte, dec.DecodedLen(len(enc)))
	n, err := dec.Decode(der, enc)
	if err != nil || n == 0 {
		b.Broken = CodePEMBadBase64
		b.BadLine = b.Line
		var ce base64.CorruptInputError
		if errors.As(err, &ce) {
			b.BadLine = li.line(bodyOffset(body, int(ce)) + bodyStart)
		}
		return
	}
	b.Bytes = der[:n]
}

// bodyOffset maps an offset in the joined base64 back to body, for the
// line of damaged base64. Only runs on the error path.
func bodyOffset(body string, want int) int {
	got, pending := 0, false
	for i := 0; i < len(body); {
		if n := spaceLen(body, i); n > 0 {
			i += n
			continue
		}
		j := i + 1
		for j < len(body) && spaceLen(body, j) == 0 {
			j++
		}
		switch k := strings.IndexByte(body[i:j], ':'); {
		case pending:
			pending = false
		case k >= 0:
			pending = k == j-i-1
		default:
			if want < got+(j-i) {
				return i + want - got
			}
			got += j - i
		}
		i = j
	}
	return len(body)
}

// Copies out of web pages, Word or Outlook bring invisible characters
// into the base64: no-break spaces, zero-width spaces, byte order marks.
var invisibleSpaces = []string{"\u00a0", "\u200b", "\ufeff", "\u2028", "\u2029"}

// spaceLen is the byte length of the whitespace at s[i], 0 if none.
func spaceLen(s string, i int) int {
	if isSpace(s[i]) {
		return 1
	}
	if s[i] < 0x80 {
		return 0
	}
	for _, sp := range invisibleSpaces {
		if strings.HasPrefix(s[i:], sp) {
			return len(sp)
		}
	}
	return 0
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}
