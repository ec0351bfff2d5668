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

func TestSettle(t *testing.T) {
	stop := make(chan struct{})
	done := make(chan struct{})
	before := runtime.NumGoroutine()
	go func() { <-stop; close(done) }()
	if _, ok := settle(before, 20*time.Millisecond); ok {
		t.Error("a running goroutine passed the leak check")
	}
	close(stop)
	<-done
	if n, ok := settle(before, 10*time.Second); !ok {
		t.Errorf("%d goroutines after the extra one ended, %d before", n, before)
	}
}
