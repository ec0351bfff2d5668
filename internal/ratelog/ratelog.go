// Package ratelog keeps a noisy source from flooding a log: a slog handler
// that passes a record on unless one like it passed a moment ago, and says
// on the next one how many it dropped. Libraries that log every failed
// packet (memberlist facing a node with a foreign secret, Raft's heartbeats
// to a dead voter) go through it.
package ratelog

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode"
)

// Handler passes a record to the next handler unless a record like it
// (the same level and message, numbers masked: ports, addresses and counts
// vary) passed within Every; the next one that passes carries
// "suppressed": how many were dropped in between.
type Handler struct {
	next  slog.Handler
	every time.Duration
	state *state
}

type state struct {
	mu   sync.Mutex
	seen map[string]*entry
	now  func() time.Time
}

type entry struct {
	last    time.Time
	dropped int
}

// New wraps next: records like one that passed within every are dropped.
func New(next slog.Handler, every time.Duration) *Handler {
	return &Handler{next: next, every: every, state: &state{seen: map[string]*entry{}, now: time.Now}}
}

func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	key := r.Level.String() + " " + mask(r.Message)
	s := h.state
	s.mu.Lock()
	now := s.now()
	e := s.seen[key]
	if e != nil && now.Sub(e.last) < h.every {
		e.dropped++
		s.mu.Unlock()
		return nil
	}
	dropped := 0
	if e != nil {
		dropped = e.dropped
	}
	s.seen[key] = &entry{last: now}
	if len(s.seen) > 4096 { // a bound on memory: forget the old ones
		for k, v := range s.seen {
			if now.Sub(v.last) >= h.every {
				delete(s.seen, k)
			}
		}
	}
	s.mu.Unlock()
	if dropped > 0 {
		r = r.Clone()
		r.AddAttrs(slog.Int("suppressed", dropped))
	}
	return h.next.Handle(ctx, r)
}

func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &Handler{next: h.next.WithAttrs(attrs), every: h.every, state: h.state}
}

func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{next: h.next.WithGroup(name), every: h.every, state: h.state}
}

// mask replaces every run of digits in s with one '#'.
func mask(s string) string {
	var b strings.Builder
	digit := false
	for _, r := range s {
		if unicode.IsDigit(r) {
			if !digit {
				b.WriteByte('#')
			}
			digit = true
			continue
		}
		digit = false
		b.WriteRune(r)
	}
	return b.String()
}
