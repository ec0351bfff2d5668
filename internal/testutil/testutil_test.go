package testutil

import (
	"runtime"
	"testing"
	"time"
)

func TestPoll(t *testing.T) {
	n := 0
	took, ok := Poll(time.Minute, func() bool { n++; return n == 4 })
	if !ok || n != 4 || took > 10*time.Second {
		t.Errorf("Poll: %v after %d calls in %v, want true after 4", ok, n, took)
	}
	took, ok = Poll(30*time.Millisecond, func() bool { return false })
	if ok || took < 30*time.Millisecond {
		t.Errorf("Poll of a false condition: %v after %v, want false after the deadline", ok, took)
	}
}

// TestSettle: goroutines still running fail the leak check, and pass once
// they end. Three are started, so that a goroutine of the runtime or the
// testing package that happens to end meanwhile cannot hide them (one did
// under the race detector, when a single extra goroutine was started).
func TestSettle(t *testing.T) {
	const extra = 3
	stop := make(chan struct{})
	done := make(chan struct{}, extra)
	before := runtime.NumGoroutine()
	for range extra {
		go func() { <-stop; done <- struct{}{} }()
	}
	if _, ok := settle(before, 20*time.Millisecond); ok {
		t.Error("running goroutines passed the leak check")
	}
	close(stop)
	for range extra {
		<-done
	}
	if n, ok := settle(before, 10*time.Second); !ok {
		t.Errorf("%d goroutines after the extra ones ended, %d before", n, before)
	}
}
