package daemon

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"bloom/daemon/worker"
)

// TestMain lets the test binary stand in for `bloomd worker`: the
// supervisor of a test cluster starts it with BLOOM_TEST_WORKER=1, or, by
// default (Jobs.WorkerCommand empty), as this executable with "worker".
func TestMain(m *testing.M) {
	if os.Getenv("BLOOM_TEST_WORKER") == "1" || (len(os.Args) > 1 && os.Args[1] == "worker") {
		os.Exit(testWorkerMain())
	}
	os.Exit(m.Run())
}

func testWorkerMain() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := worker.Run(ctx, os.Stdin, os.NewFile(3, "control"), os.Stderr); err != nil {
		return 1
	}
	return 0
}

// workerTestConfig is how a test cluster runs workers: this binary, one
// thread each.
func workerTestConfig(t *testing.T) JobsConfig {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := DefaultJobsConfig()
	c.WorkerCommand = []string{exe, "-test.run=^$"}
	c.WorkerEnv = []string{"BLOOM_TEST_WORKER=1"}
	c.WorkerThreads = 1
	c.StopGrace = 3 * time.Second
	c.ReportInterval = 100 * time.Millisecond
	return c
}
