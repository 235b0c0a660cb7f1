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
		os.Exit(0)
	}
	os.Exit(m.Run())
}
