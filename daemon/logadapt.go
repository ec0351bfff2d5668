package daemon

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"bloom/internal/ratelog"
)

// hclogWriter turns hclog lines ("[WARN]  raft: msg: k=v") into slog records.
type hclogWriter struct{ l *slog.Logger }

func (w hclogWriter) Write(p []byte) (int, error) {
	for _, line := range bytes.Split(bytes.TrimSpace(p), []byte("\n")) {
		s := string(line)
		level := slog.LevelInfo
		for tag, lv := range map[string]slog.Level{"[TRACE]": slog.LevelDebug - 4, "[DEBUG]": slog.LevelDebug,
			"[INFO]": slog.LevelInfo, "[WARN]": slog.LevelWarn, "[ERROR]": slog.LevelError} {
			if rest, ok := strings.CutPrefix(s, tag); ok {
				s, level = strings.TrimSpace(rest), lv
				break
			}
		}
		comp, msg, ok := strings.Cut(s, ": ")
		if !ok {
			comp, msg = "raft", s
		}
		w.l.Log(context.Background(), level, msg, "component", comp)
	}
	return len(p), nil
}

// newHCLogger gives raft a logger that writes into slog at or above level.
// quiet is l with repeated records dropped (the same message within 30 s
// passes once; the next says how many were dropped): for the libraries
// that log every failed packet or heartbeat.
func quiet(l *slog.Logger) *slog.Logger {
	if l == nil {
		return nil
	}
	return slog.New(ratelog.New(l.Handler(), 30*time.Second))
}

func newHCLogger(l *slog.Logger, level slog.Level) hclog.Logger {
	var out io.Writer = io.Discard
	if l != nil {
		out = hclogWriter{l}
	}
	lv := hclog.Warn
	switch {
	case level <= slog.LevelDebug:
		lv = hclog.Debug
	case level <= slog.LevelInfo:
		lv = hclog.Info
	case level >= slog.LevelError:
		lv = hclog.Error
	}
	return hclog.New(&hclog.LoggerOptions{Name: "raft", Level: lv, Output: out, DisableTime: true})
}
