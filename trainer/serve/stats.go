package serve

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
)

// Stats are the engine's figures, as Prometheus text (WriteMetrics):
// requests waiting and running, tokens generated, and histograms of the
// time to the first token and between tokens.
type Stats struct {
	waiting, active atomic.Int64
	tokens          atomic.Int64
	abandoned       atomic.Int64 // requests whose client went away before they ended
	ttft, itl       histogram
	// Record, when set before the engine runs, gets every observation
	// the two histograms get, exactly (first: a time to the first token,
	// else an inter-token latency), on the engine's goroutine: how a
	// benchmark takes exact quantiles of the engine's own token times.
	Record func(first bool, seconds float64)
}

// histogram counts observations (seconds) in fixed buckets.
type histogram struct {
	mu     sync.Mutex
	counts [len(bounds) + 1]int64
	sum    float64
	n      int64
}

// bounds are the buckets' upper bounds, in seconds.
var bounds = [...]float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

func (h *histogram) observe(v float64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	i := 0
	for i < len(bounds) && v > bounds[i] {
		i++
	}
	h.counts[i]++
	h.sum += v
	h.n++
}

func (h *histogram) write(w io.Writer, name, help string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name)
	cum := int64(0)
	for i, b := range bounds {
		cum += h.counts[i]
		fmt.Fprintf(w, "%s_bucket{le=\"%g\"} %d\n", name, b, cum)
	}
	fmt.Fprintf(w, "%s_bucket{le=\"+Inf\"} %d\n%s_sum %g\n%s_count %d\n", name, h.n, name, h.sum, name, h.n)
}

// WriteMetrics writes the figures in Prometheus' text format.
func (s *Stats) WriteMetrics(w io.Writer) {
	for _, g := range []struct {
		name, help, kind string
		v                int64
	}{
		{"bloom_serve_queue_depth", "Requests waiting for the model.", "gauge", s.waiting.Load()},
		{"bloom_serve_running_requests", "Requests being decoded.", "gauge", s.active.Load()},
		{"bloom_serve_generated_tokens_total", "Tokens generated.", "counter", s.tokens.Load()},
		{"bloom_serve_abandoned_requests_total", "Requests whose client went away before they ended (their rows freed at the next token).", "counter", s.abandoned.Load()},
	} {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n%s %d\n", g.name, g.help, g.name, g.kind, g.name, g.v)
	}
	s.ttft.write(w, "bloom_serve_time_to_first_token_seconds", "From a request's arrival to its first token.")
	s.itl.write(w, "bloom_serve_inter_token_latency_seconds", "Between a request's consecutive tokens.")
}
