package trainer

import (
	"fmt"
	"math"
	"path/filepath"
	"sync"
	"testing"

	"bloom/trainer/bloom"
)

// TestGoldenTensorParallel: the golden Hugging Face checkpoints, loaded into
// tensor-parallel ranks (qkv and dense_h_to_4h split by rows with their
// heads and ALiBi slopes, dense and dense_4h_to_h by columns, the vocabulary
// split for the embedding and the cross-entropy), give PyTorch's loss and
// gradients on the golden batch, with its left padding and ignored labels.
// Tolerances are the golden tests' (golden_test.go).
func TestGoldenTensorParallel(t *testing.T) {
	for _, tc := range []struct {
		name string
		tp   int
	}{{"h4", 2}, {"h4", 4}, {"h6", 2}, {"h12bf16", 4}} {
		t.Run(fmt.Sprintf("%s/TP%d", tc.name, tc.tp), func(t *testing.T) {
			ref, g := openGolden(t, tc.name)
			b := g.batch(t)
			c := DefaultRankConfig()
			c.Model, c.TP, c.SeqLength, c.Load = ref.Cfg, tc.tp, b.T, filepath.Join("testdata", "golden", tc.name)
			w := newWorld(c)
			ranks := make([]*Rank, tc.tp)
			for r := range ranks {
				rc := c
				rc.Rank = r
				env := w.envs[r]
				env.Data = tinySource(t, tinyJob())
				rk, err := NewRank(rc, env)
				if err != nil {
					t.Fatal(err)
				}
				ranks[r] = rk
			}
			losses := make([]float64, tc.tp)
			var wg sync.WaitGroup
			for r, rk := range ranks {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var err error
					if losses[r], _, err = rk.Model.Step(b, 1); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			want := float64(g.floats(t, "loss")[0])
			for r, l := range losses {
				if math.Abs(l-want) > lossTol*math.Abs(want) {
					t.Errorf("rank %d: loss %.7f, PyTorch %.7f", r, l, want)
				}
			}
			full := bloom.NewLayout(c.Model)
			got := make([]float32, full.Size)
			for _, rk := range ranks {
				gr := readBuf(rk.Model.Dev, rk.Model.Grads)
				for _, tn := range rk.Model.Layout.Tensors {
					f, _ := full.Lookup(tn.Name)
					rk.Model.Layout.Unshard(tn, gr[tn.Offset:tn.Offset+tn.Size], got[f.Offset:f.Offset+f.Size])
				}
			}
			for _, tn := range full.Tensors {
				wantG := g.floats(t, "grad."+tn.Name)
				gotG := got[tn.Offset : tn.Offset+tn.Size]
				if i, d, scale := worstRel(gotG, wantG); d > gradTol*scale {
					t.Errorf("grad %s[%d]: got %g, want %g", tn.Name, i, gotG[i], wantG[i])
				}
			}
		})
	}
}
