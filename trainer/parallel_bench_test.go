package trainer

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"bloom/trainer/bloom"
)

// BenchmarkParallel trains a small BLOOM in process, every rank a goroutine
// with a one-thread CPU device, and reports tokens/s (the median step's) and,
// as means over ranks and steps: the share of step time not spent in
// forward and backward passes (idle: the pipeline bubble plus the optimizer
// and every wait), next to 1F1B's ideal bubble (p−1)/(m+p−1); the share
// blocked receiving from neighbouring stages (recv_wait); and the share spent
// waiting for the data-parallel reduction after the backward (dp_wait).
//
//	go test ./trainer -run XXX -bench Parallel -benchtime 8x
func BenchmarkParallel(b *testing.B) {
	base := DefaultRankConfig()
	base.Model = bloom.Config{Vocab: 512, Hidden: 96, Heads: 6, Layers: 4, Eps: 1e-5}
	base.MicroBatch, base.SeqLength = 2, 64
	base.LR = Schedule{MaxLR: 1e-3, Style: "constant"}
	for _, c := range []struct {
		dp, tp, pp, micro int
	}{
		{1, 1, 1, 4}, {2, 1, 1, 2}, {1, 2, 1, 4},
		{1, 1, 2, 2}, {1, 1, 2, 4}, {1, 1, 2, 8},
	} {
		cfg := layout(base, c.dp, c.tp, c.pp, nil)
		cfg.GlobalBatch = cfg.MicroBatch * c.dp * c.micro
		b.Run(fmt.Sprintf("DP%d_TP%d_PP%d_m%d", c.dp, c.tp, c.pp, c.micro), func(b *testing.B) {
			cfg.Steps = b.N + 1 // the first step allocates: not counted
			res, err := runJob(context.Background(), cfg, tinySource(b, cfg), nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			var tps []float64
			var idle, recvWait, dpWait float64
			for r, st := range res.stats {
				for _, s := range st[1:] {
					if r == 0 {
						tps = append(tps, s.TokensPerSec)
					}
					idle += 1 - s.Compute/s.Seconds
					recvWait += s.PipeWait / s.Seconds
					dpWait += s.DPWait / s.Seconds
				}
			}
			n := float64(len(res.stats) * (len(res.stats[0]) - 1))
			slices.Sort(tps)
			b.ReportMetric(tps[len(tps)/2], "tokens/s")
			b.ReportMetric(idle/n, "idle")
			b.ReportMetric(recvWait/n, "recv_wait")
			b.ReportMetric(BubbleFraction(c.pp, c.micro), "ideal_bubble")
			b.ReportMetric(dpWait/n, "dp_wait")
		})
	}
}
