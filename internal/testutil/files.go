package testutil

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

// SameFile fails t (Errorf) when the file got differs from the reference
// file want; it fails at once (Fatal) when either cannot be read.
func SameFile(t testing.TB, got, want string) {
	t.Helper()
	a, err := os.ReadFile(got)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Errorf("%s differs from the reference %s (%d vs %d bytes)", filepath.Base(got), want, len(a), len(b))
	}
}

// Logger is a debug logger to stderr when BLOOM_TEST_LOG is set (run with
// -v to see it), else nil: the code under test then logs nowhere.
func Logger() *slog.Logger {
	if os.Getenv("BLOOM_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return nil
}
