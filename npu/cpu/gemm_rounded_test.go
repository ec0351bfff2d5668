package cpu

import (
	"math"
	"math/rand/v2"
	"testing"

	"bloom/npu"
)

// TestGemmRoundedBF16Kernel: where bf16 products run the VDPBF16PS kernel
// (here its Go model, gemmBF16Model), GemmRounded rounds float32 operands
// into reused copies and gives GemmHalf's bits on ToHalf's values.
func TestGemmRoundedBF16Kernel(t *testing.T) {
	useBgemm(t, gemmBF16Model)
	d := New(2)
	r := rand.New(rand.NewPCG(9, 9))
	for _, sh := range [][3]int{{3, 5, 7}, {17, 40, 33}} {
		m, n, k := sh[0], sh[1], sh[2]
		fill := func(x []float32) npu.Buf {
			for i := range x {
				x[i] = float32(r.NormFloat64())
			}
			return d.Alloc(len(x))
		}
		a, b := make([]float32, m*k), make([]float32, k*n)
		ab, bb := fill(a), fill(b)
		d.Write(ab, a)
		d.Write(bb, b)
		ah, bh := d.AllocHalf(npu.BF16, m*k), d.AllocHalf(npu.BF16, k*n)
		d.ToHalf(ah, ab, m*k)
		d.ToHalf(bh, bb, k*n)
		for _, kinds := range []int{0, 1, 2} { // both float32, A half, B half
			want, got := d.Alloc(m*n), d.Alloc(m*n)
			d.GemmHalf(false, false, m, n, k, 1, ah, k, bh, n, 0, want, n)
			oa, ob := npu.Operand{F32: ab}, npu.Operand{F32: bb}
			if kinds == 1 {
				oa = npu.Operand{Half: ah}
			}
			if kinds == 2 {
				ob = npu.Operand{Half: bh}
			}
			d.GemmRounded(npu.BF16, false, false, m, n, k, 1, oa, k, ob, n, 0, got, n)
			w, g := make([]float32, m*n), make([]float32, m*n)
			d.Read(w, want)
			d.Read(g, got)
			for i := range w {
				if math.Float32bits(w[i]) != math.Float32bits(g[i]) {
					t.Fatalf("%v kinds %d: C[%d] = %v, GemmHalf gives %v", sh, kinds, i, g[i], w[i])
				}
			}
		}
	}
}
