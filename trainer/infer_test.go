package trainer

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"bloom/npu/cpu"
	"bloom/trainer/bloom"
)

// TestInferMatchesLocal: generation split over TP2, PP2 and TP2×PP2 ranks
// (uneven stages included) gives every rank the tokens one process gives,
// greedy and sampled, with padded prompts of different lengths.
func TestInferMatchesLocal(t *testing.T) {
	c := bloom.Config{Vocab: 264, Hidden: 32, Heads: 4, Layers: 4, Eps: 1e-5}
	full, err := bloom.New(cpu.New(1), c)
	if err != nil {
		t.Fatal(err)
	}
	full.InitRandom(5, 0.3) // large weights: logits far apart, no near ties
	prompts := [][]int32{{5, 17, 42, 99, 3}, {7, 8}, {200, 1, 2, 3, 4, 5, 6}}
	pick := func(seed uint64) func(int, []float32) int32 {
		if seed == 0 {
			return bloom.Greedy
		}
		return bloom.NewSampler(0.8, 20, 0.9, seed).Pick
	}
	for _, seed := range []uint64{0, 9} {
		want, err := full.Generate(prompts, 0, bloom.GenerateOptions{MaxNew: 12, EOS: -1, Pick: pick(seed)})
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range []struct {
			tp, pp    int
			partition []int
		}{{2, 1, nil}, {1, 2, []int{3, 1}}, {2, 2, nil}} {
			t.Run(fmt.Sprintf("seed%d_TP%d_PP%d%v", seed, l.tp, l.pp, l.partition), func(t *testing.T) {
				cfg := DefaultRankConfig()
				cfg.Model, cfg.Layout, cfg.PartitionLayers = c, Layout{TP: l.tp, PP: l.pp, DP: 1}, l.partition
				w := newWorld(cfg)
				got := make([][][]int32, cfg.World())
				errs := make([]error, cfg.World())
				var wg sync.WaitGroup
				for r := range cfg.World() {
					wg.Add(1)
					go func() {
						defer wg.Done()
						p, err := Place(c, cfg.Layout, r, l.partition)
						if err == nil {
							var inf *Infer
							if inf, err = NewInfer(full, p, w.envs[r]); err == nil {
								got[r], err = inf.Generate(context.Background(), prompts, 0,
									bloom.GenerateOptions{MaxNew: 12, EOS: -1, Pick: pick(seed)})
							}
						}
						errs[r] = err
					}()
				}
				wg.Wait()
				for r := range got {
					if errs[r] != nil {
						t.Fatalf("rank %d: %v", r, errs[r])
					}
					for b := range want {
						if !slices.Equal(got[r][b], want[b]) {
							t.Fatalf("rank %d row %d: %v, one process %v", r, b, got[r][b], want[b])
						}
					}
				}
			})
		}
	}
}
