package cpu

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"bloom/npu"
)

// BenchmarkPagedAttention is one decode step's attention in the serving
// benchmark's preset (4 layers, 8 heads of 32, blocks of 16 positions)
// for 16 sequences of 100-160 positions whose blocks are scattered over
// each layer's pool (together larger than L2), keys and values in float32
// and in fp16, e.g.
//
//	go test ./npu/cpu/ -run '^$' -bench PagedAttention -benchtime 300x
func BenchmarkPagedAttention(b *testing.B) {
	const L, R, NH, HD, Size, maxLen = 4, 16, 8, 32, 16, 160
	r := rand.New(rand.NewPCG(1, 2))
	N := R * maxLen / Size
	s := npu.PagedShape{Rows: R, NH: NH, HD: HD, Size: Size, N: N, Slopes: make([]float32, NH)}
	for h := range NH {
		s.Slopes[h] = 1 / float32(uint(2)<<h)
	}
	perm := r.Perm(N)
	for row := range R {
		var t []int32
		for j := range maxLen / Size {
			t = append(t, int32(perm[row*maxLen/Size+j]))
		}
		s.Tables = append(s.Tables, t)
		s.Lens = append(s.Lens, 100+r.IntN(maxLen-100))
	}
	for _, threads := range []int{1, 2} {
		d := New(threads)
		var k, v []npu.Buf
		for range L {
			k, v = append(k, d.Alloc(N*NH*Size*HD)), append(v, d.Alloc(N*NH*Size*HD))
			d.Fill(k[len(k)-1], 0.01)
			d.Fill(v[len(v)-1], 0.02)
		}
		q, out := d.Alloc(R*NH*HD), d.Alloc(R*NH*HD)
		d.Fill(q, 0.5)
		b.Run(fmt.Sprintf("fp32/threads=%d", threads), func(b *testing.B) {
			for range b.N {
				for l := range L {
					d.PagedAttention(out, q, k[l], v[l], s)
				}
			}
		})
		var kh, vh []npu.HalfBuf
		for l := range L {
			kh, vh = append(kh, d.AllocHalf(npu.F16, N*NH*Size*HD)), append(vh, d.AllocHalf(npu.F16, N*NH*Size*HD))
			d.ToHalf(kh[l], k[l], N*NH*Size*HD)
			d.ToHalf(vh[l], v[l], N*NH*Size*HD)
		}
		b.Run(fmt.Sprintf("fp16/threads=%d", threads), func(b *testing.B) {
			for range b.N {
				for l := range L {
					d.PagedAttentionHalf(out, q, kh[l], vh[l], s)
				}
			}
		})
	}
}
