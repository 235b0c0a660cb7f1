package main

import "testing"

// BenchmarkACMEOrderToServed times `smtptls acme` as an admin runs it
// against a local pebble (validation delay off, PEBBLE_VA_NOSLEEP=1): a new
// process, account, order, http-01, finalize, then the apply transaction up
// to the listener serving the new certificate, verified.
func BenchmarkACMEOrderToServed(b *testing.B) {
	a := newACMEEnv(b)
	args := a.acmeArgs("http-01")
	if o, e, code := a.run(args...); code != exitOK {
		b.Fatalf("first order: %s%s", o, e)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if o, e, code := a.run(args...); code != exitOK {
			b.Fatalf("order %d: exit %d\n%s%s", i, code, o, e)
		}
	}
}

// BenchmarkRenewNothingDue times `smtptls renew` from a timer when the
// certificate is far from expiry: a whole process that reads the stored
// settings and state and decides. The target is under 20 ms.
func BenchmarkRenewNothingDue(b *testing.B) {
	a := newACMEEnv(b)
	if o, e, code := a.run(a.acmeArgs("http-01")...); code != exitOK {
		b.Fatalf("order: %s%s", o, e)
	}
	// The first run asks the CA for renewal information (pebble has none)
	// and records it; the timer's runs after that do not ask again.
	if o, e, code := a.run("renew", "--config-dir", a.dir); code != exitOK {
		b.Fatalf("renew: %s%s", o, e)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if o, e, code := a.run("renew", "--config-dir", a.dir); code != exitOK {
			b.Fatalf("renew %d: exit %d\n%s%s", i, code, o, e)
		}
	}
}
