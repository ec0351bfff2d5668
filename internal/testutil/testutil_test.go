package testutil

import (
	"fmt"
	"runtime"
	"strings"
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

// failTB is a testing.TB whose cleanups, failure and log the test holds.
type failTB struct {
	testing.TB
	cleanups []func()
	failed   bool
	logged   []string
}

func (f *failTB) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }
func (f *failTB) Failed() bool      { return f.failed }
func (f *failTB) Logf(format string, a ...any) {
	f.logged = append(f.logged, fmt.Sprintf(format, a...))
}

// TestFailureLogger: what the code logged shows in the test's log only when
// the test failed, the last keepLines lines, oldest first.
func TestFailureLogger(t *testing.T) {
	t.Setenv("BLOOM_TEST_LOG", "")
	for _, failed := range []bool{false, true} {
		f := &failTB{TB: t, failed: failed}
		l := FailureLogger(f, "n1")
		for i := range keepLines + 5 {
			l.Info("step", "i", i)
		}
		for _, fn := range f.cleanups {
			fn()
		}
		if !failed {
			if len(f.logged) != 0 {
				t.Errorf("a passing test's log got %d entries", len(f.logged))
			}
			continue
		}
		if len(f.logged) != 1 {
			t.Fatalf("a failed test's log got %d entries, want 1", len(f.logged))
		}
		lines := strings.Split(f.logged[0], "\n")
		if len(lines) != keepLines+1 || !strings.Contains(lines[0], "n1") ||
			!strings.Contains(lines[1], "i=5") || !strings.Contains(lines[keepLines], fmt.Sprintf("i=%d", keepLines+4)) {
			t.Errorf("%d lines, from %q to %q", len(lines), lines[0], lines[len(lines)-1])
		}
	}
}
