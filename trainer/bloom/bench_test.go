package bloom

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"bloom/npu/cpu"
)

// BenchmarkStep times forward, loss and backward for the make bench shapes
// (vocab, hidden, heads, layers, seq, batch) and reports tokens/s.
func BenchmarkStep(b *testing.B) {
	for _, s := range [][6]int{{320, 64, 4, 2, 16, 2}, {4096, 256, 8, 4, 128, 8}, {16384, 1024, 16, 4, 256, 4}} {
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("V%d_C%d_L%d_T%d_B%d/threads=%d", s[0], s[1], s[3], s[4], s[5], threads), func(b *testing.B) {
				m, err := New(cpu.New(threads), Config{Vocab: s[0], Hidden: s[1], Heads: s[2], Layers: s[3], Eps: 1e-5})
				if err != nil {
					b.Fatal(err)
				}
				m.InitRandom(1, 0.02)
				B, T := s[5], s[4]
				r := rand.New(rand.NewPCG(1, 1))
				batch := Batch{B: B, T: T, IDs: make([]int32, B*T), Targets: make([]int32, B*T)}
				for i := range batch.IDs {
					batch.IDs[i], batch.Targets[i] = int32(r.IntN(s[0])), int32(r.IntN(s[0]))
				}
				b.ResetTimer()
				for range b.N {
					m.ZeroGrads()
					if _, _, err := m.Step(batch, 1); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*B*T)/b.Elapsed().Seconds(), "tokens/s")
			})
		}
	}
}
