package cpu

import (
	"fmt"
	"testing"
	"time"

	"bloom/npu"
)

// BenchmarkDecodeGemms runs the matrix products of one decode step for a
// batch of m rows, the weights packed (each its own memory) in float32
// (PackB) and in fp16 (PackBHalf: half the bytes), with each vector kernel
// this CPU has, on two models: the
// serving benchmark's preset (C=256, 4 layers, V=4096: 17 MB of float32
// weights, in L3) and make bench's larger serving model (C=1024, 8 layers,
// V=16384: 470 MB, streamed from memory every step), e.g.
//
//	go test ./npu/cpu/ -run '^$' -bench 'DecodeGemms/C=256/avx512' -benchtime 200x
//	go test ./npu/cpu/ -run '^$' -bench 'DecodeGemms/C=1024/avx512/.*/m=1/' -benchtime 20x
func BenchmarkDecodeGemms(b *testing.B) {
	for _, model := range [][3]int{{256, 4, 4096}, {1024, 8, 16384}} {
		C, L, V := model[0], model[1], model[2]
		for _, im := range gemmImpls {
			if im != gemmGo {
				b.Run(fmt.Sprintf("C=%d/%s", C, im.name), func(b *testing.B) {
					useGemm(b, im)
					decodeGemms(b, C, L, V)
				})
			}
		}
	}
}

func decodeGemms(b *testing.B, C, L, V int) {
	type lin struct{ k, n int }
	var shapes []lin
	for range L {
		shapes = append(shapes, lin{C, 3 * C}, lin{C, C}, lin{C, 4 * C}, lin{4 * C, C})
	}
	shapes = append(shapes, lin{C, V})
	for _, w := range []npu.DType{npu.F32, npu.F16} {
		b.Run(w.String(), func(b *testing.B) {
			for _, threads := range []int{1, 2} {
				d := New(threads)
				var packed []npu.PackedB
				for _, s := range shapes {
					f := d.Alloc(s.k * s.n)
					d.Fill(f, 0.01)
					if w == npu.F32 {
						packed = append(packed, d.PackB(true, s.k, s.n, f, s.k))
						continue
					}
					h := d.AllocHalf(w, s.k*s.n)
					d.ToHalf(h, f, s.k*s.n)
					packed = append(packed, d.PackBHalf(true, s.k, s.n, h, s.k))
				}
				for _, m := range []int{1, 2, 4, 8, 12, 13, 16, 32} {
					b.Run(fmt.Sprintf("m=%d/threads=%d", m, threads), func(b *testing.B) {
						a, c := d.Alloc(m*4*C), d.Alloc(m*V)
						d.Fill(a, 0.5)
						flops := 0
						for _, s := range shapes {
							flops += 2 * m * s.k * s.n
						}
						start := time.Now()
						for range b.N {
							for _, p := range packed {
								k, n := p.Dims()
								d.GemmPacked(false, m, 1, a, k, p, 0, c, n)
							}
						}
						el := time.Since(start).Seconds()
						b.ReportMetric(float64(flops)*float64(b.N)/el/1e9, "GFLOP/s")
						b.ReportMetric(el/float64(b.N)*1e6, "µs/step")
					})
				}
			}
		})
	}
}
