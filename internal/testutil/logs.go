package testutil

import (
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// FailureLogger is a debug logger for the code a test runs, named name in
// each line: to stderr when BLOOM_TEST_LOG is set (Logger), else into a
// buffer of its last keepLines lines that t's log shows only if t failed,
// so a flake that cannot be reproduced still says what the code was doing.
func FailureLogger(t testing.TB, name string) *slog.Logger {
	if l := Logger(); l != nil {
		return l.With("node", name)
	}
	r := &ring{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the last %d log lines of %s:\n%s", r.len(), name, r.String())
		}
	})
	return slog.New(slog.NewTextHandler(r, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// keepLines bounds what a FailureLogger keeps.
const keepLines = 2000

// ring keeps the last keepLines lines written to it (each Write is one
// line, as slog's handlers write).
type ring struct {
	mu    sync.Mutex
	lines []string
	next  int
}

func (r *ring) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	line := strings.TrimSuffix(string(p), "\n")
	if len(r.lines) < keepLines {
		r.lines = append(r.lines, line)
	} else {
		r.lines[r.next] = line
		r.next = (r.next + 1) % keepLines
	}
	return len(p), nil
}

func (r *ring) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.lines)
}

// String is the lines kept, oldest first.
func (r *ring) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(append(append([]string(nil), r.lines[r.next:]...), r.lines[:r.next]...), "\n")
}
