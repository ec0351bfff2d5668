package testutil

import (
	"runtime"
	"testing"
	"time"
)

// maxPoll is the longest pause between two calls of a condition: the
// first calls come quickly (1ms, 2ms, …), then every maxPoll.
const maxPoll = 20 * time.Millisecond

// Poll calls cond until it holds or, after a false answer, d has passed
// since the first call. It returns how long that took and whether cond
// held.
func Poll(d time.Duration, cond func() bool) (time.Duration, bool) {
	start, pause := time.Now(), time.Millisecond
	for !cond() {
		if time.Since(start) > d {
			return time.Since(start), false
		}
		time.Sleep(pause) // the polling interval of a condition with a deadline
		pause = min(2*pause, maxPoll)
	}
	return time.Since(start), true
}

// WaitFor polls cond until it holds and returns how long that took; after
// d it fails the test with "timed out after d waiting for what".
func WaitFor(t testing.TB, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	took, ok := Poll(d, cond)
	if !ok {
		t.Fatalf("timed out after %v waiting for %s", d, what)
	}
	return took
}

// CheckLeaks, called at a test's start, fails the test at its end if more
// goroutines run than at the call once grace has passed (goroutines that
// are already stopping get that long). It runs as a cleanup, so after the
// cleanups registered later, and reports with Errorf and every stack.
func CheckLeaks(t testing.TB, grace time.Duration) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		if n, ok := settle(before, grace); !ok {
			t.Errorf("goroutines leaked: %d before, %d after\n%s", before, n, stacks())
		}
	})
}

// NoLeaks fails the test now (Fatalf, with every stack) unless the
// goroutine count comes down to before within grace; before is
// runtime.NumGoroutine() at a point of the caller's choosing.
func NoLeaks(t testing.TB, before int, grace time.Duration) {
	t.Helper()
	if n, ok := settle(before, grace); !ok {
		t.Fatalf("goroutines leaked: %d before, %d after\n%s", before, n, stacks())
	}
}

// settle waits up to grace for at most before goroutines; it returns the
// last count and whether it got there.
func settle(before int, grace time.Duration) (int, bool) {
	n := 0
	_, ok := Poll(grace, func() bool {
		n = runtime.NumGoroutine()
		return n <= before
	})
	return n, ok
}

// stacks is every goroutine's stack (the first MiB).
func stacks() []byte {
	buf := make([]byte, 1<<20)
	return buf[:runtime.Stack(buf, true)]
}
