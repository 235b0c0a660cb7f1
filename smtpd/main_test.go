package smtpd

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"testing"
)

// envServeDir makes the test binary act as the listener process, so the
// crash tests can kill -9 a real process running Run without depending on
// cmd/smtptls building.
const envServeDir = "SMTPD_TEST_SERVE_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(envServeDir); dir != "" {
		// SMTPD_TEST_CPUPROFILE profiles the listener process of the
		// session benchmarks, which -cpuprofile cannot reach.
		if p := os.Getenv("SMTPD_TEST_CPUPROFILE"); p != "" {
			if f, err := os.Create(p); err == nil {
				_ = pprof.StartCPUProfile(f)
				defer pprof.StopCPUProfile()
			}
		}
		// SMTPD_TEST_MEMPROFILE writes its allocation profile at exit.
		memProfile := os.Getenv("SMTPD_TEST_MEMPROFILE")
		writeMem := func() {
			if memProfile == "" {
				return
			}
			if f, err := os.Create(memProfile); err == nil {
				_ = pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
			}
		}
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		defer stop()
		err := Run(ctx, dir, RunOptions{
			Options: Options{Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))},
			Host:    testHostEnv(),
		})
		if err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			pprof.StopCPUProfile()
			os.Exit(2)
		}
		pprof.StopCPUProfile()
		writeMem()
		os.Exit(0)
	}
	os.Exit(runTests(m))
}

// benchSpoolRoot holds the durable spools of the session benchmarks until
// the test binary exits. Deleting thousands of spooled files between two
// benchmark runs made the next run's file creations expensive on ext4
// without a journal (this machine's root): the kernel then skips every
// inode deleted in the last seconds when it allocates one, so each create
// scanned the previous run's deletions (0.4-0.6 ms of kernel CPU per
// message). That is the benchmark's own cleanup, not the listener's cost.
var benchSpoolRoot string

func runTests(m *testing.M) int {
	if d, err := os.MkdirTemp("", "smtpdbench"); err == nil {
		benchSpoolRoot = d
		defer os.RemoveAll(d)
	}
	return m.Run()
}
