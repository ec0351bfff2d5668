package nputest

import (
	"math"

	"bloom/npu"
)

// testGemmRounded checks GemmRounded on devices that have it (an optional
// capability): for both half types, every combination of float32 and half
// operands, both transposes, odd shapes, padding and scalars, the result is
// bit for bit ToHalf of the float32 operands followed by GemmHalf. The
// float32 operands hold values that round (ties included), subnormals of
// the half type, overflow to ±Inf under fp16, and NaN in the padding.
func testGemmRounded(e *env) {
	rg, ok := e.dev.(npu.RoundingGemmer)
	if !ok {
		e.t.Skip("the device multiplies rounded copies (no RoundingGemmer)")
	}
	shapes := [][3]int{{1, 1, 1}, {3, 5, 7}, {17, 13, 9}, {67, 131, 259}}
	for _, t := range halfTypes {
		for _, tA := range []bool{false, true} {
			for _, tB := range []bool{false, true} {
				for si, sh := range shapes {
					for kinds := range 4 { // bit 0: A half, bit 1: B half
						c := gemmCase{tA, tB, sh[0], sh[1], sh[2], si % 3, 0.5, float32(si % 2)}
						e.run(name("%v,tA=%v,tB=%v,%dx%dx%d,kinds=%d", t, tA, tB, c.m, c.n, c.k, kinds),
							func(e *env) { checkGemmRounded(e, rg, t, c, kinds&1 != 0, kinds&2 != 0) })
					}
				}
			}
		}
	}
}

func checkGemmRounded(e *env, rg npu.RoundingGemmer, t npu.DType, c gemmCase, halfA, halfB bool) {
	ar, ac := stored(c.transA, c.m, c.k)
	br, bc := stored(c.transB, c.k, c.n)
	lda, ldb, ldc := ac+c.pad, bc+c.pad, c.n+c.pad
	operand := func(rows, cols, ld int, half bool) (npu.Operand, npu.HalfBuf) {
		x := e.matrix(rows, cols, ld, 0)
		for i := range x {
			switch {
			case i%ld >= cols:
				x[i] = float32(math.NaN()) // padding: never read
			case i%17 == 3:
				x[i] = 1 + 0x1p-9 // a bf16 tie (and an fp16 value)
			case i%19 == 5:
				x[i] = 3e-7 // an fp16 subnormal
			case i%23 == 7 && t == npu.F16:
				x[i] = 7e4 // past fp16's largest: Inf
			}
		}
		rounded := e.dev.AllocHalf(t, len(x))
		e.dev.ToHalf(rounded, e.buf(x), len(x))
		if half {
			return npu.Operand{Half: rounded}, rounded
		}
		return npu.Operand{F32: e.buf(x)}, rounded
	}
	a, ah := operand(ar, ac, lda, halfA)
	b, bh := operand(br, bc, ldb, halfB)
	c0 := e.matrix(c.m, c.n, ldc, gemmPadC)
	want := e.buf(c0)
	e.dev.GemmHalf(c.transA, c.transB, c.m, c.n, c.k, c.alpha, ah, lda, bh, ldb, c.beta, want, ldc)
	got := e.buf(c0)
	rg.GemmRounded(t, c.transA, c.transB, c.m, c.n, c.k, c.alpha, a, lda, b, ldb, c.beta, got, ldc)
	e.same("C", e.get(got), e.get(want))
}
