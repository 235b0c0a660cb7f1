package apply

import (
	"testing"
	"time"

	"github.com/smtptls/smtptls/internal/testpki"
)

func TestDialAddr(t *testing.T) {
	for _, c := range []struct{ setting, bound, want string }{
		{"127.0.0.1:2525", "127.0.0.1:2525", "127.0.0.1:2525"},
		{"0.0.0.0:25", "0.0.0.0:25", "127.0.0.1:25"},
		{":25", "[::]:25", "127.0.0.1:25"},
		{"[::]:25", "[::]:25", "[::1]:25"},
		{"[::1]:2525", "[::1]:2525", "[::1]:2525"},
		{"127.0.0.1:0", "127.0.0.1:40123", "127.0.0.1:40123"}, // port 0: the one bound
		{"192.0.2.7:25", "", "192.0.2.7:25"},
	} {
		if got := dialAddr(c.setting, c.bound); got != c.want {
			t.Errorf("dialAddr(%q, %q) = %q, want %q", c.setting, c.bound, got, c.want)
		}
	}
}

func TestBindHint(t *testing.T) {
	if h := bindHint("listen tcp :25: bind: address already in use", ":25"); h == "" {
		t.Error("no hint for a taken port")
	}
	if h := bindHint("listen tcp :25: bind: permission denied", ":25"); h == "" {
		t.Error("no hint for a privileged port")
	}
	if h := bindHint("certificate and key: private key does not match public key", ":25"); h != "" {
		t.Errorf("hint %q for an unrelated refusal", h)
	}
}

func TestHasOwnRoot(t *testing.T) {
	ch := testpki.MustChain(time.Now(), testpki.ECDSAP256, "mail.example.test")
	if !hasOwnRoot(ch.Root.PEM()) || !hasOwnRoot(ch.Bundle()) {
		t.Error("a bundle with its root not recognised")
	}
	if hasOwnRoot(ch.Intermediate.PEM()) || hasOwnRoot(nil) || hasOwnRoot(ch.Leaf.PEM()) {
		t.Error("a bundle without a root taken for one: the system roots would be skipped")
	}
}
