package preprocess

import (
	"fmt"
	"io"
	"time"
)

// ProgressPrinter shows a preprocessing run's progress. On a terminal it
// redraws one line (documents, tokens, MB/s, and percent and ETA when the
// input size is known) at most every 200 ms; otherwise it writes a log line
// every LogInterval records, as Megatron's preprocess_data.py does.
type ProgressPrinter struct {
	w        io.Writer
	terminal bool
	interval int64
	lastDraw time.Time
	lastLog  int64 // records/interval at the last log line
	now      func() time.Time
}

// NewProgressPrinter writes to w; logInterval ≤ 0 means 10000.
func NewProgressPrinter(w io.Writer, terminal bool, logInterval int) *ProgressPrinter {
	if logInterval <= 0 {
		logInterval = 10000
	}
	return &ProgressPrinter{w: w, terminal: terminal, interval: int64(logInterval), now: time.Now}
}

// Report is a Config.Progress function.
func (p *ProgressPrinter) Report(s Stats) {
	switch {
	case s.Done && p.terminal:
		fmt.Fprintf(p.w, "\r\x1b[K%s\n", summary(s))
	case s.Done:
		fmt.Fprintln(p.w, summary(s))
	case p.terminal:
		if now := p.now(); now.Sub(p.lastDraw) >= 200*time.Millisecond {
			p.lastDraw = now
			fmt.Fprintf(p.w, "\r\x1b[K%s", progressLine(s))
		}
	default:
		if k := s.Records / p.interval; k > p.lastLog {
			p.lastLog = k
			fmt.Fprintln(p.w, progressLine(s))
		}
	}
}

// progressLine is "12345 documents, 3.2M tokens, 18.5 MB/s, 45%, ETA 1m20s".
func progressLine(s Stats) string {
	secs := s.Elapsed.Seconds()
	line := fmt.Sprintf("processed %d documents (%.1f docs/s), %s tokens, %.2f MB/s",
		s.Records, rate(float64(s.Records), secs), human(s.Tokens), rate(float64(s.TextBytes)/1e6, secs))
	if s.InputTotal > 0 && s.InputBytes > 0 {
		frac := float64(s.InputBytes) / float64(s.InputTotal)
		eta := time.Duration(float64(s.Elapsed) * (1 - frac) / frac).Round(time.Second)
		line += fmt.Sprintf(", %.0f%%, ETA %v", 100*frac, eta)
	}
	return line
}

// summary is the last line of a run.
func summary(s Stats) string {
	return fmt.Sprintf("done: %d documents (%d empty skipped), %s tokens in %v, %.2f MB/s of text",
		s.Records, s.Skipped, human(s.Tokens), s.Elapsed.Round(time.Millisecond), rate(float64(s.TextBytes)/1e6, s.Elapsed.Seconds()))
}

func rate(x, secs float64) float64 {
	if secs <= 0 {
		return 0
	}
	return x / secs
}

// human writes a count with a k/M/G suffix.
func human(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2fG", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.2fM", float64(n)/1e6)
	case n >= 1e4:
		return fmt.Sprintf("%.1fk", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}
