package main

import "testing"

// BenchmarkApplyCommand times `smtptls apply` as an admin runs it: a new
// process, validate (system roots loaded), write, switch, reload of the
// running detached listener over its control socket, verify over loopback.
// The target for the transaction is under 300 ms.
func BenchmarkApplyCommand(b *testing.B) {
	a := newApplyEnv(b)
	one, two := writePKI(b, "one"), writePKI(b, "two")
	if o, e, code := a.run(a.applyArgs("available", one)...); code != exitOK {
		b.Fatalf("first apply: %s%s", o, e)
	}
	args := [][]string{a.applyArgs("available", two), a.applyArgs("available", one)}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if o, e, code := a.run(args[i%2]...); code != exitOK {
			b.Fatalf("apply %d: exit %d\n%s%s", i, code, o, e)
		}
	}
}
