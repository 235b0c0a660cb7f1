// Package loopback helps tests find a place on 127.0.0.1 to run a server.
package loopback

import (
	"net"
	"testing"
)

// FreePort is a TCP port on 127.0.0.1 that was free a moment ago. Another
// process can take it before the caller binds it; tests that bind it
// themselves should prefer listening on port 0.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
