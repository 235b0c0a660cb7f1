package spool

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchDeliver(b *testing.B, dir string) {
	s, err := Open(dir, time.Now)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	body := "Subject: bench\r\n\r\n" + strings.Repeat(strings.Repeat("x", 98)+"\r\n", 10)
	env := Envelope{From: "a@example.org", To: []string{"b@example.test"}, PeerIP: "127.0.0.1",
		HELO: "bench.example", TLS: "TLSv1.3 TLS_AES_128_GCM_SHA256", Hostname: "mx.example.test"}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	for i := 0; i < b.N; i++ {
		if _, err := s.Deliver(env, strings.NewReader(body)); err != nil {
			b.Fatal(err)
		}
	}
	// CPU rather than wall time: on disk, ns/op is mostly waiting for
	// the fsyncs.
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
}

// One 1 KB message at a time on tmpfs, where fsync is free: what the
// spool itself costs per message.
func BenchmarkDeliverTmpfs(b *testing.B) {
	if fi, err := os.Stat("/dev/shm"); err != nil || !fi.IsDir() {
		b.Skip("no /dev/shm tmpfs on this machine")
	}
	dir, err := os.MkdirTemp("/dev/shm", "spoolbench")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	benchDeliver(b, dir)
}

// The same on the temp directory's disk: fsync included.
func BenchmarkDeliverDisk(b *testing.B) {
	benchDeliver(b, b.TempDir())
}
