package ratelog

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestRateLimit: 120 failures a minute from a node with a foreign secret
// (the same message, other ports) log once per window, and the next line
// says how many were dropped; other messages pass.
func TestRateLimit(t *testing.T) {
	var buf bytes.Buffer
	h := New(slog.NewTextHandler(&buf, nil), 30*time.Second)
	now := time.Unix(0, 0)
	h.state.now = func() time.Time { return now }
	l := slog.New(h).With("component", "memberlist")
	for i := range 120 {
		l.Error("failed to receive: No installed keys could decrypt the message", "from", "127.0.0.2:"+string(rune('0'+i%10)))
		l.Error("failed to decode ping from=127.0.0.2:4" + string(rune('0'+i%10)))
		now = now.Add(500 * time.Millisecond)
	}
	l.Warn("a different message")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	// Each of the two messages: at 0 s, 30 s (and 59.5 s < 60 s: not yet).
	if len(lines) != 5 || !strings.Contains(lines[2], "suppressed=59") || !strings.Contains(lines[4], "a different message") {
		t.Errorf("%d lines:\n%s", len(lines), buf.String())
	}
}
