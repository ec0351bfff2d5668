package bloom

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"bloom/npu"
	"bloom/npu/cpu"
)

// TestHalfGemm: under a half precision a model's Gemm equals the float32
// Gemm of its operands rounded to the half type, for every transpose and
// leading dimension (bit for bit where the CPU device widens the halves for
// its float32 kernel; a native bf16 kernel sums in another order, so it is
// held to the float32 Gemm's rounding instead); LoRA's products (fp32) and
// F32 leave them unrounded.
func TestHalfGemm(t *testing.T) {
	d := cpu.New(1)
	r := rand.New(rand.NewPCG(1, 2))
	for _, p := range []npu.DType{npu.BF16, npu.F16} {
		exact := strings.HasSuffix(cpu.GemmHalfKernel(p), "+widen")
		h := &halfGemm{Device: d, t: p}
		for _, tc := range []struct {
			ta, tb      bool
			m, n, k, ld int
			alpha, beta float32
		}{{false, true, 5, 7, 9, 0, 1, 0}, {false, false, 6, 3, 4, 2, 0.5, 1}, {true, false, 8, 5, 3, 1, 1, 1}, {true, true, 3, 4, 5, 3, 2, 0}} {
			ar, ac := tc.m, tc.k // op(A) is m×k: A is stored k×m when transposed
			if tc.ta {
				ar, ac = ac, ar
			}
			br, bc := tc.k, tc.n
			if tc.tb {
				br, bc = bc, br
			}
			lda, ldb, ldc := ac+tc.ld, bc+tc.ld, tc.n+tc.ld
			host := func(n int) []float32 {
				x := make([]float32, n)
				for i := range x {
					x[i] = float32(r.NormFloat64() * 3)
				}
				return x
			}
			av, bv, cv := host(ar*lda), host(br*ldb), host(tc.m*ldc)
			a, b, c, want := d.Alloc(len(av)), d.Alloc(len(bv)), d.Alloc(len(cv)), d.Alloc(len(cv))
			d.Write(a, av)
			d.Write(b, bv)
			d.Write(c, cv)
			d.Write(want, cv)
			h.Gemm(tc.ta, tc.tb, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, c, ldc)
			ra, rb := roundVia(d, p, a), roundVia(d, p, b)
			d.Gemm(tc.ta, tc.tb, tc.m, tc.n, tc.k, tc.alpha, ra, lda, rb, ldb, tc.beta, want, ldc)
			got, exp := make([]float32, len(cv)), make([]float32, len(cv))
			d.Read(got, c)
			d.Read(exp, want)
			for i := range got {
				// Inputs ~N(0, 9), k ≤ 9: sums of at most 9 products,
				// each under ~100, rounded in float32 in another order.
				if got[i] != exp[i] && (exact || math.Abs(float64(got[i]-exp[i])) > 1e-4) {
					t.Fatalf("%v %+v: c[%d] = %v, the rounded operands' product %v", p, tc, i, got[i], exp[i])
				}
			}
		}
		m, err := New(d, Config{Vocab: 8, Hidden: 8, Heads: 2, Layers: 1, Eps: 1e-5})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.SetPrecision(p); err != nil || m.Precision() != p || fp32(m.dev) != d {
			t.Fatalf("SetPrecision(%v): %v, precision %v", p, err, m.Precision())
		}
		if err := m.SetPrecision(npu.F32); err != nil || m.dev != d {
			t.Fatalf("SetPrecision(F32) keeps a rounding device: %v", err)
		}
	}
}

// roundVia returns x rounded to p and widened back, through the device.
func roundVia(d npu.Device, p npu.DType, x npu.Buf) npu.Buf {
	h, out := d.AllocHalf(p, x.Len()), d.Alloc(x.Len())
	d.ToHalf(h, x, x.Len())
	d.FromHalf(out, h, x.Len())
	return out
}
