package cpu

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkDecodeGemms runs the matrix products of one decode step of the
// serving benchmark's preset (C=256, 4 layers, V=4096; weights packed, each
// its own memory, together larger than L2) for a batch of m rows, e.g.
//
//	go test ./npu/cpu/ -run '^$' -bench DecodeGemms -benchtime 200x
func BenchmarkDecodeGemms(b *testing.B) {
	const C, L, V = 256, 4, 4096
	type lin struct{ k, n int }
	var shapes []lin
	for range L {
		shapes = append(shapes, lin{C, 3 * C}, lin{C, C}, lin{C, 4 * C}, lin{4 * C, C})
	}
	shapes = append(shapes, lin{C, V})
	for _, threads := range []int{1, 2} {
		d := New(threads)
		var packed []*packedB
		flops := 0
		for _, s := range shapes {
			w := d.Alloc(s.k * s.n)
			d.Fill(w, 0.01)
			packed = append(packed, d.PackB(true, s.k, s.n, w, s.k).(*packedB))
		}
		for _, m := range []int{1, 2, 4, 8, 16, 32} {
			b.Run(fmt.Sprintf("m=%d/threads=%d", m, threads), func(b *testing.B) {
				a, c := d.Alloc(m*4*C), d.Alloc(m*V)
				d.Fill(a, 0.5)
				flops = 0
				for _, s := range shapes {
					flops += 2 * m * s.k * s.n
				}
				start := time.Now()
				for range b.N {
					for _, p := range packed {
						d.GemmPacked(false, m, 1, a, p.k, p, 0, c, p.n)
					}
				}
				el := time.Since(start).Seconds()
				b.ReportMetric(float64(flops)*float64(b.N)/el/1e9, "GFLOP/s")
				b.ReportMetric(el/float64(b.N)*1e6, "µs/step")
			})
		}
	}
}
