package cpu

import (
	"math"
	"math/rand/v2"
	"testing"

	"bloom/internal/half"
	"bloom/npu"
)

// The pure-Go model of VDPBF16PS, the reference the assembly kernel must
// match bit for bit. It implements the Operation section of the Intel SDM,
// Vol. 2C, "VDPBF16PS—Dot Product of BF16 Pairs Accumulated into Packed
// Single Precision", for one lane i of the accumulator (srcdest), src1 and
// the 32-bit pair t of src2:
//
//	srcdest.fp32[i] += make_fp32(src1.bfloat16[2i+1]) · make_fp32(t.bfloat[1])
//	srcdest.fp32[i] += make_fp32(src1.bfloat16[2i+0]) · make_fp32(t.bfloat[0])
//
// each "+=" a float32 fused multiply-add rounded to nearest, ties to even,
// "with daz in, ftz out" (MXCSR is neither read nor written): so the odd
// (high) pair's product is added first, then the even (low) one's, each
// with one rounding; every input of each FMA (the two widened bf16 values
// and the accumulator) that is a float32 subnormal counts as a zero of its
// sign, and a result that is subnormal becomes a zero of its sign. What the
// model decides that the SDM leaves open: a result is flushed when it is
// subnormal after rounding to float32 (an exact result within half an ulp
// below 2^-126 could be flushed by hardware that tests before rounding);
// a NaN result is any NaN (the SDM's NaN priorities pick the payload; the
// tests compare NaN to NaN only).

// dpbf16 is one lane of VDPBF16PS: acc plus the two products of the bf16
// pairs a and b (even k in the low 16 bits).
func dpbf16(acc float32, a, b uint32) float32 {
	hi := func(x uint32) float32 { return math.Float32frombits(x &^ 0xffff) }
	lo := func(x uint32) float32 { return math.Float32frombits(x << 16) }
	acc = ftz(fma32(daz(hi(a)), daz(hi(b)), daz(acc)))
	return ftz(fma32(daz(lo(a)), daz(lo(b)), daz(acc)))
}

// daz is a subnormal input read as a zero of its sign.
func daz(x float32) float32 {
	if x != 0 && math.Abs(float64(x)) < 0x1p-126 {
		return float32(math.Copysign(0, float64(x)))
	}
	return x
}

// ftz flushes a subnormal result to a zero of its sign (the same test).
func ftz(x float32) float32 { return daz(x) }

// fma32 is x·y + z rounded once to float32, to nearest even. x·y is exact
// in float64; the sum is rounded to float64 by round-to-odd (TwoSum, then
// the odd neighbour when inexact), which makes the final rounding to
// float32's 24 bits correct (53 ≥ 24+2).
func fma32(x, y, z float32) float32 {
	a, b := float64(x)*float64(y), float64(z)
	s := a + b
	if math.IsInf(s, 0) || math.IsNaN(s) {
		return float32(s)
	}
	bv := s - a
	e := (a - (s - bv)) + (b - bv)
	if e != 0 && math.Float64bits(s)&1 == 0 {
		s = math.Nextafter(s, math.Inf(int(math.Copysign(1, e))))
	}
	return float32(s)
}

// modelKernel is the gemmKernel of the VDPBF16PS kernel in Go, for an
// mr×nr tile on k-pair panels: kd pair steps per lane in order, then
// alpha·acc rounded (VMULPS) and beta·C + that fused (VFMADD231PS), with
// IEEE subnormals as the float32 instructions under Go's MXCSR.
func modelKernel(mr, nr int) gemmKernel {
	return func(tiles, kd int, a []float32, rsa, csa, tsa int, b []float32, ldb int, c []float32, ldc int, alpha, beta float32) {
		for t := range tiles {
			for r := range mr {
				for j := range nr {
					var acc float32
					for q := range kd {
						acc = dpbf16(acc, math.Float32bits(a[t*tsa+q*csa+r*rsa]), math.Float32bits(b[q*ldb+j]))
					}
					v := float32(alpha * acc)
					ci := (t*mr+r)*ldc + j
					if beta == 0 {
						c[ci] = v
					} else {
						c[ci] = fma32(beta, c[ci], v)
					}
				}
			}
		}
	}
}

// gemmBF16Model is gemmBF16AVX512 with the model for its kernel.
var gemmBF16Model = &gemmImpl{
	name: "bf16model", mr: 14, nr: 32, kc: 512, mc: 14 * 24, nc: 1024, kmajorA: true, pairs: true,
	kern: modelKernel(14, 32),
}

// useBgemm switches GemmHalf's bf16 kernel to im (nil: widen) until the
// test ends.
func useBgemm(t testing.TB, im *gemmImpl) {
	prev := bgemmImpl
	t.Cleanup(func() { bgemmImpl = prev })
	bgemmImpl = im
}

// TestDPBF16Semantics checks the model on values whose result shows each
// rule: the odd pair first, one rounding per product, DAZ and FTZ.
func TestDPBF16Semantics(t *testing.T) {
	bf := func(x float32) uint32 { return uint32(half.F32ToBF16(x)) }
	p := func(lo, hi float32) uint32 { return bf(lo) | bf(hi)<<16 }
	for _, tc := range []struct {
		what string
		acc  float32
		a, b uint32
		want float32
	}{
		// 1 + (-1·1) = 0 first, then + 2^-30: the odd product goes first
		// (the other order would round 1 + 2^-30 to 1 and give 0).
		{"odd pair first", 1, p(0x1p-15, -1), p(0x1p-15, 1), 0x1p-30},
		// 1 + 2^-24 is a tie that rounds to 1, twice; a single rounding of
		// the exact sum 1 + 2^-23 would not.
		{"a rounding per product", 1, p(0x1p-12, 0x1p-12), p(0x1p-12, 0x1p-12), 1},
		// A subnormal bf16 input is zero: 2^-130 · 2^10 would be 2^-120.
		{"DAZ on inputs", 0, p(0x1p-130, 0), p(0x1p10, 0), 0},
		// A subnormal accumulator is zero too.
		{"DAZ on the accumulator", math.Float32frombits(1), p(0, 0), p(0, 0), 0},
		// 2^-70 · 2^-60 = 2^-130 is subnormal: flushed.
		{"FTZ on the result", 0, p(0x1p-70, 0), p(0x1p-60, 0), 0},
		{"exact pair", 2, p(3, 5), p(7, 11), 2 + 21 + 55},
	} {
		if got := dpbf16(tc.acc, tc.a, tc.b); math.Float32bits(got) != math.Float32bits(tc.want) {
			t.Errorf("%s: got %g, want %g", tc.what, got, tc.want)
		}
	}
	// fma32 rounds once: 1 + 2^-24 + 2^-48 is just above the tie.
	if got := fma32(1+0x1p-23, 1+0x1p-23, 0); got != 1+0x1p-22 {
		t.Errorf("fma32((1+2^-23)², 0) = %g", got)
	}
	if got := fma32(0x1p-24, 1+0x1p-23, 1); got != 1+0x1p-23 {
		t.Errorf("fma32 above a tie = %g, want 1+2^-23", got)
	}
}

// TestPackPairs checks the k-pair packers against their definition (see
// gemm_bf16.go), for both storage orders, odd and even depths, and partial
// tiles and panels (zero past m, n and kc).
func TestPackPairs(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	im := gemmBF16Model
	for _, tr := range []bool{false, true} {
		for _, kc := range []int{1, 2, 7, 8, 33} {
			for _, mn := range []int{1, 13, 14, 29, 70} {
				m, n, k := mn, mn, kc+3
				g := gemmOp{transA: tr, transB: tr, m: m, n: n, k: k, halves: true, gemmImpl: im}
				ar, ac := stored(tr, m, k)
				br, bc := stored(tr, k, n)
				g.lda, g.ldb = ac+2, bc+1
				g.ha, g.hb = randHalf(rng, ar*g.lda), randHalf(rng, br*g.ldb)
				opA := func(i, p int) uint16 {
					if tr {
						return g.ha[p*g.lda+i]
					}
					return g.ha[i*g.lda+p]
				}
				opB := func(p, j int) uint16 {
					if tr {
						return g.hb[j*g.ldb+p]
					}
					return g.hb[p*g.ldb+j]
				}
				const p0 = 2
				kd := ceilDiv(kc, 2)
				at := func(get func(x, p int) uint16, x, lim, p int) uint16 {
					if x >= lim || p >= kc {
						return 0
					}
					return get(x, p0+p)
				}
				tiles := ceilDiv(m, im.mr)
				d := randFloats(rng, tiles*im.mr*kd)
				g.packBlockAPairs(d, 0, m, p0, kc)
				for i, v := range d {
					tl, q, r := i/(im.mr*kd), i/im.mr%kd, i%im.mr
					row := tl*im.mr + r
					want := pair(at(opA, row, m, 2*q), at(func(x, p int) uint16 { return opA(x, p) }, row, m, 2*q+1))
					if math.Float32bits(v) != math.Float32bits(want) {
						t.Fatalf("trans=%v kc=%d m=%d: A slot %d = %#08x, want %#08x", tr, kc, m, i, math.Float32bits(v), math.Float32bits(want))
					}
				}
				panels := ceilDiv(n, im.nr)
				st := gemmStep{pc: p0, kc: kc, kd: kd, jc: 0}
				st.bp = randFloats(rng, panels*im.nr*kd)
				g.packPanelsBPairs(&st, panels)
				for i, v := range st.bp {
					pn, q, c := i/(im.nr*kd), i/im.nr%kd, i%im.nr
					col := pn*im.nr + c
					bAt := func(p int) uint16 {
						if col >= n || p >= kc {
							return 0
						}
						return opB(p0+p, col)
					}
					if want := pair(bAt(2*q), bAt(2*q+1)); math.Float32bits(v) != math.Float32bits(want) {
						t.Fatalf("trans=%v kc=%d n=%d: B slot %d = %#08x, want %#08x", tr, kc, n, i, math.Float32bits(v), math.Float32bits(want))
					}
				}
			}
		}
	}
}

func randHalf(rng *rand.Rand, n int) []uint16 {
	h := make([]uint16, max(n, 1))
	for i := range h {
		h[i] = uint16(rng.Uint32())
	}
	return h
}

func randFloats(rng *rand.Rand, n int) []float32 {
	f := make([]float32, n)
	for i := range f {
		f[i] = rng.Float32()
	}
	return f
}

// bf16Cases are GEMMs for the k-pair nest: odd and even depths, partial
// tiles and panels, and sizes past KC (512 values), MC and NC.
func bf16Cases() []gemmCase {
	var cases []gemmCase
	sizes := []int{1, 2, 5, 14, 15, 33, 47}
	i := 0
	for _, m := range sizes {
		for _, n := range sizes {
			for _, k := range []int{1, 2, 3, 16, 31} {
				cases = append(cases, gemmCase{transA: i&1 != 0, transB: i&2 != 0, m: m, n: n, k: k,
					padA: i % 3, padB: i % 2, padC: i % 2, alpha: []float32{1, -0.5}[i%2], beta: []float32{0, 1, 0.25}[i%3]})
				i++
			}
		}
	}
	for tr := range 4 {
		tA, tB := tr&1 != 0, tr&2 != 0
		cases = append(cases,
			gemmCase{transA: tA, transB: tB, m: 151, n: 70, k: 1100, padA: 1, alpha: 1, beta: 0.25},
			gemmCase{transA: tA, transB: tB, m: 351, n: 40, k: 71, padA: 2, alpha: 1, beta: 1},
			gemmCase{transA: tA, transB: tB, m: 7, n: 2100, k: 19, padB: 2, alpha: -2, beta: 1},
		)
	}
	return cases
}

// TestBF16ModelGemm runs GemmHalf's bf16 path with the model kernel: the
// k-pair packers and the nest around them, against the float64 product of
// the widened inputs, within checkGemm's bound (the model rounds once per
// product, k times in all, as the float32 kernel does).
func TestBF16ModelGemm(t *testing.T) {
	useBgemm(t, gemmBF16Model)
	rng := rand.New(rand.NewPCG(13, 14))
	for ci, tc := range bf16Cases() {
		o := newHalfOperands(npu.BF16, tc, rng)
		c0 := append([]float32(nil), o.c...)
		hgemm(newPool(1+ci%2), npu.BF16, tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, o.ha, o.lda, o.hb, o.ldb, tc.beta, o.c, o.ldc)
		const u = 1.0 / (1 << 24)
		for i := range tc.m {
			for j := range tc.n {
				var sum, mag float64
				for p := range tc.k {
					x := float64(opAt(o.a, o.lda, tc.transA, i, p)) * float64(opAt(o.b, o.ldb, tc.transB, p, j))
					sum += x
					mag += math.Abs(x)
				}
				want, tol := float64(tc.alpha)*sum, math.Abs(float64(tc.alpha))*mag
				if tc.beta != 0 {
					want += float64(tc.beta) * float64(c0[i*o.ldc+j])
					tol += math.Abs(float64(tc.beta) * float64(c0[i*o.ldc+j]))
				}
				tol *= 2 * float64(tc.k+4) * u
				if got := float64(o.c[i*o.ldc+j]); !(math.Abs(got-want) <= tol) {
					t.Fatalf("%v: C[%d][%d] = %g, want %g (tol %g)", tc, i, j, got, want, tol)
				}
			}
			for j := tc.n; j < o.ldc && i*o.ldc+j < len(o.c); j++ {
				if o.c[i*o.ldc+j] != gemmSentinel {
					t.Fatalf("%v: wrote C[%d][%d] outside the matrix", tc, i, j)
				}
			}
		}
	}
}
