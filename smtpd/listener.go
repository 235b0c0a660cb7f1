package smtpd

import (
	"net"
	"sync"
)

// chanListener hands connections accepted on the one OS listener to one
// go-smtp server. Swapping servers means swapping which chanListener the
// accept loop feeds; the OS socket never closes, so no peer sees a refusal.
type chanListener struct {
	addr   net.Addr
	ch     chan net.Conn
	closed chan struct{}
	once   sync.Once
	// mu makes Close wait for a delivery in flight, so that once Close has
	// returned no connection can reach the server any more.
	mu sync.RWMutex
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, ch: make(chan net.Conn), closed: make(chan struct{})}
}

// deliver hands c to the server; false when the listener was closed first
// and c must go to the next server.
func (l *chanListener) deliver(c net.Conn) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	select {
	case <-l.closed:
		return false
	default:
	}
	select {
	case l.ch <- c:
		return true
	case <-l.closed:
		return false
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	l.mu.Lock()
	l.mu.Unlock() //nolint:staticcheck // waits for deliveries in flight
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }
