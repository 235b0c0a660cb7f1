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

// FreePorts is n distinct TCP ports on 127.0.0.1, none of them in avoid,
// that were free a moment ago. Each port is held while the others are
// found, so two of them are never the same (FreePort called n times can
// return one port twice).
func FreePorts(t testing.TB, n int, avoid ...int) []int {
	t.Helper()
	skip := map[int]bool{}
	for _, p := range avoid {
		skip[p] = true
	}
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	var ports []int
	for len(ports) < n {
		if len(held) > n+64 {
			t.Fatalf("no %d free TCP ports on 127.0.0.1 outside %v", n, avoid)
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, l)
		if p := l.Addr().(*net.TCPAddr).Port; !skip[p] {
			ports = append(ports, p)
		}
	}
	return ports
}
