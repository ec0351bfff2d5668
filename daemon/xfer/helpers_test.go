package xfer

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"bloom/daemon/identity"
	"bloom/internal/testutil"
)

var testSecret = mustSecret()

func mustSecret() identity.Secret {
	s, err := identity.GenerateSecret()
	if err != nil {
		panic(err)
	}
	return s
}

// testLogger is testutil.Logger: BLOOM_TEST_LOG=1 and -v show the logs.
func testLogger() *slog.Logger { return testutil.Logger() }

// waitFor is testutil.WaitFor, under the name xfer's tests call.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	testutil.WaitFor(t, d, what, cond)
}

// checkGoroutines fails the test if goroutines it started outlive it by
// more than 10 seconds.
func checkGoroutines(t *testing.T) {
	t.Helper()
	testutil.CheckLeaks(t, 10*time.Second)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}
