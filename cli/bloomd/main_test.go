package bloomd

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"bloom/daemon/worker"
)

// TestMain lets the test binary stand in for `bloomd worker`, which a
// bloomd started by these tests runs to probe its devices: with the
// argument "worker" it is one.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "worker" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := worker.Run(ctx, os.Stdin, os.NewFile(3, "control"), os.Stderr)
		stop()
		if err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
