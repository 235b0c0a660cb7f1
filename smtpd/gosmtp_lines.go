package smtpd

import (
	"io"
	"reflect"
	"unsafe"

	"github.com/emersion/go-smtp"
)

// go-smtp v0.25.1 reads every byte of a connection through one
// per-connection lineLimitReader (unexported) that sits under its text
// reader: it applies Server.MaxLineLength to DATA bodies as well as to
// command lines (only its BDAT path lifts the limit), and it is the only
// place where the plaintext of a TLS session can be seen before go-smtp
// parses it. There is no option for either, so this file reaches that
// reader by reflection; lineHooksOf returns nil if a go-smtp upgrade
// renames it, and the tests of long lines and postmaster then fail.
// Delete this file when go-smtp offers a data line limit and a way to
// wrap the connection after STARTTLS.

// lineHooks are the two fields of go-smtp's lineLimitReader we use.
type lineHooks struct {
	r     *io.Reader // what the reader reads from: our conn, or tls.Conn
	limit *int       // the line limit, go-smtp's MaxLineLength; 0 is none
}

func lineHooksOf(c *smtp.Conn) *lineHooks {
	v := reflect.ValueOf(c)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return nil
	}
	llr := v.Elem().FieldByName("lineLimitReader")
	if !llr.IsValid() || llr.Kind() != reflect.Pointer || llr.IsNil() {
		return nil
	}
	st := llr.Elem()
	r, limit := st.FieldByName("R"), st.FieldByName("LineLimit")
	if !r.IsValid() || r.Type() != reflect.TypeFor[io.Reader]() || !limit.IsValid() || limit.Kind() != reflect.Int {
		return nil
	}
	return &lineHooks{
		r:     (*io.Reader)(unsafe.Pointer(r.UnsafeAddr())),
		limit: (*int)(unsafe.Pointer(limit.UnsafeAddr())),
	}
}
