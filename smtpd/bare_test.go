package smtpd

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestLineEndingsReader(t *testing.T) {
	cases := []struct {
		in, normalized string
		clean          bool
	}{
		{"a\r\nb\r\n", "a\r\nb\r\n", true},
		{"", "", true},
		{"a\nb\r\n", "a\r\nb\r\n", false},
		{"a\rb\r\n", "a\r\nb\r\n", false},
		{"a\r\r\n", "a\r\n\r\n", false},
		{"a\r", "a\r\n", false}, // CR at the very end
		{"\n", "\r\n", false},
		{"a\r\n\n.\n", "a\r\n\r\n.\r\n", false},
	}
	for _, tc := range cases {
		for _, oneByte := range []bool{false, true} {
			var r io.Reader = strings.NewReader(tc.in)
			if oneByte { // CR and LF split across reads
				r = iotest.OneByteReader(r)
			}
			got, err := io.ReadAll(newLineEndings(r, false))
			if tc.clean && (err != nil || string(got) != tc.in) {
				t.Errorf("reject %q: got %q, %v", tc.in, got, err)
			}
			if !tc.clean && !errors.Is(err, errBareLineEnding) {
				t.Errorf("reject %q (one byte %v): err %v, want 550 5.5.2", tc.in, oneByte, err)
			}
			r = strings.NewReader(tc.in)
			if oneByte {
				r = iotest.OneByteReader(r)
			}
			got, err = io.ReadAll(newLineEndings(r, true))
			if err != nil || string(got) != tc.normalized {
				t.Errorf("normalize %q (one byte %v): got %q, %v; want %q", tc.in, oneByte, got, err, tc.normalized)
			}
		}
	}
}

func TestLineEndingsPassesReadErrors(t *testing.T) {
	boom := errors.New("boom")
	_, err := io.ReadAll(newLineEndings(iotest.ErrReader(boom), true))
	if !errors.Is(err, boom) {
		t.Fatalf("got %v", err)
	}
}

// Bodies bigger than the buffers, all bare LFs (output twice the input per
// read), through one reused buffer, read in small and odd-sized chunks.
func TestLineEndingsReusedBufferLargeBodies(t *testing.T) {
	b := make([]byte, lineBufSize)
	for _, in := range []string{
		strings.Repeat("\n", 20000),
		strings.Repeat("x\r", 9000) + "\r\n",
		strings.Repeat(strings.Repeat("y", 97)+"\r\n", 300),
	} {
		want := strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(in, "\r\n", "\n"), "\r", "\n"), "\n", "\r\n")
		for _, chunk := range []int{1, 7, 4096, 1 << 16} {
			l := newLineEndingsBuf(strings.NewReader(in), true, b)
			var got strings.Builder
			p := make([]byte, chunk)
			for {
				n, err := l.Read(p)
				got.Write(p[:n])
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if got.String() != want {
				t.Fatalf("chunk %d: %d bytes out, want %d", chunk, got.Len(), len(want))
			}
		}
	}
}
