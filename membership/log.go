package membership

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
)

// logWriter turns memberlist's "[LEVEL] memberlist: msg" lines into slog
// records at the same level.
// It also feeds the one event memberlist only logs: this node's probe of a
// member failed and it is now suspect.
type logWriter struct {
	l       *slog.Logger // nil discards
	suspect func(name string)
}

func (w *logWriter) Write(p []byte) (int, error) {
	line := string(bytes.TrimSpace(p))
	level := slog.LevelInfo
	for _, lv := range []struct {
		tag   string
		level slog.Level
	}{{"[DEBUG]", slog.LevelDebug}, {"[INFO]", slog.LevelInfo}, {"[WARN]", slog.LevelWarn}, {"[ERR]", slog.LevelError}} {
		if rest, ok := strings.CutPrefix(line, lv.tag); ok {
			line, level = strings.TrimSpace(rest), lv.level
			break
		}
	}
	line = strings.TrimPrefix(line, "memberlist: ")
	if rest, ok := strings.CutPrefix(line, "Suspect "); ok && strings.HasSuffix(rest, " has failed, no acks received") {
		w.suspect(strings.TrimSuffix(rest, " has failed, no acks received"))
	}
	if w.l == nil {
		return len(p), nil
	}
	w.l.Log(context.Background(), level, line, "component", "memberlist")
	return len(p), nil
}
