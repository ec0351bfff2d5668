package nputest

import (
	"fmt"
	"math"

	"bloom/internal/half"
	"bloom/npu"
)

// halfTypes are the half types every backend stores.
var halfTypes = []npu.DType{npu.F16, npu.BF16}

// halfSentinel fills half buffers' guard values: a NaN in both formats
// (fp16 exponent 0x1f, bf16 exponent 0xff, non-zero mantissas), so a GEMM
// that reads past A or B poisons C.
const halfSentinel = 0x7fc5

// hbuf returns a half buffer of type t holding bits, cut from a larger
// allocation whose guard values are checked when the test ends.
func (e *env) hbuf(t npu.DType, bits []uint16) npu.HalfBuf {
	host := make([]uint16, len(bits)+2*guard)
	for i := range guard {
		host[i], host[len(host)-1-i] = halfSentinel, halfSentinel
	}
	copy(host[guard:], bits)
	parent := e.dev.AllocHalf(t, len(host))
	e.dev.WriteHalf(parent, host)
	e.t.Cleanup(func() {
		got := e.hget(parent)
		for i, v := range got {
			if (i < guard || i >= len(got)-guard) && v != halfSentinel {
				e.t.Errorf("a kernel wrote outside a %v buffer of %d values: guard value %d is %#04x", t, len(bits), i-guard, v)
				return
			}
		}
	})
	return parent.Slice(guard, len(bits))
}

// hget reads a whole half buffer back.
func (e *env) hget(b npu.HalfBuf) []uint16 {
	x := make([]uint16, b.Len())
	e.dev.ReadHalf(x, b)
	return x
}

// sameBits fails the test unless got and want are identical.
func (e *env) sameBits(what string, got, want []uint16) {
	e.t.Helper()
	sameOf(e.t, what, got, want, func(a, b uint16) bool { return a == b },
		func(i int) string { return fmt.Sprintf("%s[%d] = %#04x, want %#04x", what, i, got[i], want[i]) })
}

// toHalf rounds x to type t on the host, with internal/half's scalar
// conversions: the reference every backend's ToHalf matches.
func toHalf(t npu.DType, x []float32) []uint16 {
	h := make([]uint16, len(x))
	for i, v := range x {
		if t == npu.BF16 {
			h[i] = half.F32ToBF16(v)
		} else {
			h[i] = half.F32ToF16(v)
		}
	}
	return h
}

// fromHalf widens h of type t on the host, exactly.
func fromHalf(t npu.DType, h []uint16) []float32 {
	x := make([]float32, len(h))
	for i, v := range h {
		if t == npu.BF16 {
			x[i] = half.BF16ToF32(v)
		} else {
			x[i] = half.F16ToF32(v)
		}
	}
	return x
}

// isNaNHalf reports whether h is a NaN of type t.
func isNaNHalf(t npu.DType, h uint16) bool {
	if t == npu.BF16 {
		return h&0x7f80 == 0x7f80 && h&0x7f != 0
	}
	return h&0x7c00 == 0x7c00 && h&0x3ff != 0
}

// testHalfMemory checks AllocHalf, WriteHalf, ReadHalf and half Slice views,
// bit for bit: storage moves bits without arithmetic, NaN payloads included.
func testHalfMemory(e *env) {
	for _, t := range halfTypes {
		e.run(t.String(), func(e *env) { checkHalfMemory(e, t) })
	}
}

func checkHalfMemory(e *env, t npu.DType) {
	for _, n := range []int{0, 1, 7, 1000} {
		b := e.dev.AllocHalf(t, n)
		if b.Len() != n || b.DType() != t {
			e.t.Fatalf("AllocHalf(%v, %d): Len() = %d, DType() = %v", t, n, b.Len(), b.DType())
		}
		e.sameBits(name("AllocHalf(%d)", n), e.hget(b), make([]uint16, n))
	}
	x := []uint16{0x0000, 0x8000, 0x3c00, 0x7c00, 0xfc00, 0x7e01, 0x7f81, 0x0001, 0xffff, 0x1234}

	b := e.dev.AllocHalf(t, 10)
	e.dev.WriteHalf(b, x)
	e.sameBits("WriteHalf then ReadHalf", e.hget(b), x)

	short := e.dev.AllocHalf(t, 4)
	e.dev.WriteHalf(short, x) // host longer: copies short.Len() values
	e.sameBits("WriteHalf of a longer host slice", e.hget(short), x[:4])

	e.dev.WriteHalf(b, []uint16{7, 7, 7, 7, 7, 7, 7, 7, 7, 7})
	e.dev.WriteHalf(b, x[:3]) // host shorter: the rest is untouched
	e.sameBits("WriteHalf of a shorter host slice", e.hget(b), []uint16{x[0], x[1], x[2], 7, 7, 7, 7, 7, 7, 7})

	e.dev.WriteHalf(b, x)
	host := []uint16{9, 9, 9}
	e.dev.ReadHalf(host, b) // host shorter: copies len(host) values
	e.sameBits("ReadHalf into a shorter host slice", host, x[:3])
	host = []uint16{9, 9, 9, 9, 9, 9}
	e.dev.ReadHalf(host, short) // host longer: the rest is untouched
	e.sameBits("ReadHalf into a longer host slice", host, []uint16{x[0], x[1], x[2], x[3], 9, 9})

	parent := e.dev.AllocHalf(t, 10)
	v := parent.Slice(3, 4)
	if v.Len() != 4 || v.DType() != t {
		e.t.Fatalf("Slice(3, 4): Len() = %d, DType() = %v", v.Len(), v.DType())
	}
	e.dev.WriteHalf(v, []uint16{1, 2, 3, 4})
	e.sameBits("parent after writing a view", e.hget(parent), []uint16{0, 0, 0, 1, 2, 3, 4, 0, 0, 0})
	w := v.Slice(1, 2) // a view of a view
	e.dev.ToHalf(w, e.dev.Alloc(2), 2)
	e.sameBits("view of a view", e.hget(parent), []uint16{0, 0, 0, 1, 0, 0, 4, 0, 0, 0})
	e.sameBits("empty view", e.hget(parent.Slice(10, 0)), nil)
	e.dev.WriteHalf(parent, x)
	e.sameBits("ReadHalf of a view", e.hget(parent.Slice(5, 5)), x[5:])
}

// halfEdges are the float32 inputs where rounding to a half type can go
// wrong: ties (which go to the even neighbour), values just either side of a
// tie, fp16's overflow threshold 65520 and bf16's past its largest finite
// value, fp16 subnormals and float32 subnormals (bf16's), ±0, ±Inf, and
// NaNs quiet, signalling and with payloads only in low bits (which a
// rounding carry could turn into Inf).
var halfEdges = []float32{
	0, float32(math.Copysign(0, -1)), 1, -1, 0.1, -2.5, 3.1415927,
	math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32, 0x1p-126,
	float32(math.Inf(1)), float32(math.Inf(-1)),
	math.Float32frombits(0x7fc00000), math.Float32frombits(0x7f800001), math.Float32frombits(0xffc00001),
	math.Float32frombits(0x7fa00000), math.Float32frombits(0xff800100),
	// fp16 ties and their neighbours at 1 (ulp 2⁻¹⁰).
	1 + 0x1p-11, 1 + 3*0x1p-11, 1 + 0x1p-11 + 0x1p-23, 1 + 0x1p-11 - 0x1p-23, -(1 + 3*0x1p-11),
	// fp16's top: 65504 is the largest finite value, 65520 the tie to Inf.
	65504, 65519, 65519.996, 65520, -65520, 65536, 1e10,
	// fp16 subnormals (multiples of 2⁻²⁴) and the normal boundary 2⁻¹⁴.
	0x1p-24, 0x1p-25, 0x1.000002p-25, 3 * 0x1p-25, -0x1p-25, 0x1p-26, 0x1p-15, 0x1p-14, 0x1p-14 - 0x1p-25, 5.96e-8,
	// bf16 ties and their neighbours at 1 (ulp 2⁻⁷).
	1 + 0x1p-8, 1 + 3*0x1p-8, 1 + 0x1p-8 + 0x1p-23, 1 + 0x1p-8 - 0x1p-23,
	// bf16's top: 0x1.fep127 is its largest finite value, 0x1.ffp127 the tie to Inf.
	0x1.fep127, 0x1.ffp127, -0x1.ffp127, 0x1.fefffep127,
	// float32 subnormals: ties at bf16's subnormal resolution 2⁻¹³³.
	math.Float32frombits(0x00008000), math.Float32frombits(0x00018000), math.Float32frombits(0x00008001),
	math.Float32frombits(0x007fffff), math.Float32frombits(0x807fffff), 0x1p-133,
}

// testToHalf checks that ToHalf rounds as internal/half's scalar
// conversions, bit for bit, on the edge values and on random data spanning
// every float32 bit pattern and BLOOM-like magnitudes; a NaN must stay a
// NaN (its payload is the backend's).
func testToHalf(e *env) {
	for _, t := range halfTypes {
		e.run(t.String(), func(e *env) { checkToHalf(e, t) })
	}
}

func checkToHalf(e *env, t npu.DType) {
	convert := func(x []float32) []uint16 {
		h := e.hbuf(t, make([]uint16, len(x)))
		e.dev.ToHalf(h, e.buf(x), len(x))
		return e.hget(h)
	}
	e.sameRounded("edge values", t, halfEdges, convert(halfEdges))

	// Random bit patterns, then normal values at scales from 2⁻³⁰ to 2²⁰;
	// large enough to be split across threads.
	const n = 200003
	x := make([]float32, n)
	for i := range n / 2 {
		x[i] = math.Float32frombits(e.rng.Uint32())
	}
	for i := n / 2; i < n; i++ {
		x[i] = float32(math.Ldexp(e.rng.NormFloat64(), e.rng.IntN(51)-30))
	}
	got := convert(x)
	e.sameRounded("random values", t, x, got)
	e.sameBits("random values of a second run", convert(x), got)

	// n below the buffers' lengths: the rest of dst is untouched.
	h := e.hbuf(t, []uint16{5, 5, 5, 5, 5, 5, 5, 5})
	e.dev.ToHalf(h, e.buf(x[:8]), 5)
	want := append(toHalf(t, x[:5]), 5, 5, 5)
	e.sameRounded("the first 5 of 8", t, x[:5], e.hget(h)[:5])
	e.sameBits("the 3 values past n", e.hget(h)[5:], want[5:])

	// A saturating device (npu.OverflowFlagger: the 910) raises its
	// overflow flag for an fp16 result beyond range, and only then.
	if f := saturates(e.dev, t); f != nil {
		f.FloatOverflow()
		convert([]float32{1, -2.5, 65504, 65519})
		if f.FloatOverflow() {
			e.t.Error("the overflow flag is up after values in fp16's range")
		}
		if got := convert([]float32{70000}); got[0] != 0x7bff || !f.FloatOverflow() {
			e.t.Errorf("ToHalf(70000) = %#04x and no overflow flag; want 65504 (0x7bff) and the flag", got[0])
		}
		if f.FloatOverflow() {
			e.t.Error("FloatOverflow did not clear the flag")
		}
	}
}

// saturates is dev as an npu.OverflowFlagger when it saturates type t's
// results instead of producing Inf and NaN (fp16 on Ascend 910), else nil.
func saturates(dev npu.Device, t npu.DType) npu.OverflowFlagger {
	if f, ok := dev.(npu.OverflowFlagger); ok && f.Saturates() && t == npu.F16 {
		return f
	}
	return nil
}

// sameRounded fails the test unless got is x rounded to type t as
// internal/half rounds it: bit for bit, but any NaN for a NaN (on a
// saturating device: ±65504 for what rounds beyond fp16's range, 0 for a
// NaN).
func (e *env) sameRounded(what string, t npu.DType, x []float32, got []uint16) {
	e.t.Helper()
	want := toHalf(t, x)
	sat := saturates(e.dev, t) != nil
	bad := 0
	for i, v := range x {
		if sat { // beyond range ±65504, NaN 0
			switch {
			case v != v:
				want[i] = 0
			case want[i]&0x7fff == 0x7c00:
				want[i] = want[i]&0x8000 | 0x7bff
			}
		}
		ok := got[i] == want[i]
		if v != v && !sat {
			ok = isNaNHalf(t, got[i])
		}
		if !ok {
			if bad < 5 {
				e.t.Errorf("%s: ToHalf(%v) of %v (%#08x) = %#04x, want %#04x", what, t, v, math.Float32bits(v), got[i], want[i])
			}
			bad++
		}
	}
	if bad > 0 {
		e.t.Errorf("%s: %d of %d values rounded wrongly", what, bad, len(x))
	}
}

// testFromHalf checks that FromHalf widens every one of the 65536 bit
// patterns exactly (bit for bit as internal/half; any NaN for a NaN).
func testFromHalf(e *env) {
	for _, t := range halfTypes {
		e.run(t.String(), func(e *env) { checkFromHalf(e, t) })
	}
}

func checkFromHalf(e *env, t npu.DType) {
	const reps = 3 // 196608 values: large enough to be split across threads
	h := make([]uint16, reps<<16)
	for i := range h {
		h[i] = uint16(i)
	}
	widen := func(h []uint16, n, size int) []float32 {
		f := e.buf(make([]float32, size))
		e.dev.FromHalf(f, e.hbuf(t, h), n)
		return e.get(f)
	}
	got := widen(h, len(h), len(h))
	want := fromHalf(t, h)
	bad := 0
	for i, v := range h {
		ok := math.Float32bits(got[i]) == math.Float32bits(want[i])
		if isNaNHalf(t, v) {
			ok = got[i] != got[i]
		}
		if !ok {
			if bad < 5 {
				e.t.Errorf("FromHalf(%v) of %#04x = %v (%#08x), want %v (%#08x)", t, v, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
			}
			bad++
		}
	}
	if bad > 0 {
		e.t.Errorf("%d of %d values widened wrongly", bad, len(h))
	}
	e.same("a second run", widen(h, len(h), len(h)), got)
	// n below the buffers' lengths: the rest of dst is untouched (zeros).
	e.same("the first 5 of 8", widen(h[0x3c00:0x3c08], 5, 8), append(clone(want[0x3c00:0x3c05]), 0, 0, 0))
}

// testGemmHalf checks GemmHalf as testGemm checks Gemm, for both half types,
// against the float64 product of the widened inputs. The tolerance is
// refGemm's, γ(k+2)·Σ|terms| doubled: the products of two halves are exact
// in float32 (see npu's doc), so only the float32 sums round, as in a float32
// Gemm. Then three products whose exact results a half accumulator could
// not give.
func testGemmHalf(e *env) {
	scalars := [][2]float32{{1, 0}, {0.5, 1}, {-1.25, -0.75}}
	shapes := [][3]int{{1, 1, 1}, {3, 5, 7}, {17, 13, 9}, {67, 131, 259}, {4, 5, 0}}
	for _, t := range halfTypes {
		for _, tA := range []bool{false, true} {
			for _, tB := range []bool{false, true} {
				for si, sh := range shapes {
					for ci, ab := range scalars {
						c := gemmCase{tA, tB, sh[0], sh[1], sh[2], (si + ci) % 3, ab[0], ab[1]}
						e.run(name("%v,tA=%v,tB=%v,%dx%dx%d,alpha=%g,beta=%g,pad=%d", t, tA, tB, c.m, c.n, c.k, c.alpha, c.beta, c.pad),
							func(e *env) { checkGemmHalf(e, t, c) })
					}
				}
			}
		}
		e.run(name("%v,float32 accumulation", t), func(e *env) { checkGemmHalfExact(e, t) })
	}
}

// halfMatrix returns a random rows×cols matrix of type t with leading
// dimension ld whose padding holds halfSentinel (a NaN), and its widened
// values.
func (e *env) halfMatrix(t npu.DType, rows, cols, ld int) ([]uint16, []float32) {
	h := toHalf(t, e.matrix(rows, cols, ld, 0))
	for i := range h {
		if i%ld >= cols {
			h[i] = halfSentinel
		}
	}
	return h, fromHalf(t, h)
}

func checkGemmHalf(e *env, t npu.DType, c gemmCase) {
	ar, ac := stored(c.transA, c.m, c.k)
	br, bc := stored(c.transB, c.k, c.n)
	lda, ldb, ldc := max(ac, 1)+c.pad, max(bc, 1)+c.pad, max(c.n, 1)+c.pad
	a, aw := e.halfMatrix(t, ar, ac, lda)
	b, bw := e.halfMatrix(t, br, bc, ldb)
	c0 := e.matrix(c.m, c.n, ldc, gemmPadC)
	if c.beta == 0 {
		for i := range c0 {
			if i%ldc < c.n {
				c0[i] = float32(math.NaN()) // beta = 0 must not read C
			}
		}
	}
	want, bound := refGemm(c, aw, lda, bw, ldb, c0, ldc)
	run := func() []float32 {
		cb := e.buf(c0)
		e.dev.GemmHalf(c.transA, c.transB, c.m, c.n, c.k, c.alpha, e.hbuf(t, a), lda, e.hbuf(t, b), ldb, c.beta, cb, ldc)
		return e.get(cb)
	}
	got := run()
	e.within("C", got, want, bound)
	e.same("C of a second run", run(), got)
}

// checkGemmHalfExact multiplies a row by a column (beta = 0) where the
// float32 result is exact and a half accumulator's is not: a product that
// needs more bits than the half type has ((1+ε)², ε its ulp at 1), a sum of
// ties that half additions would each round away (1 + 16·2⁻¹¹), and a sum
// past fp16's largest value (4·256²).
func checkGemmHalfExact(e *env, t npu.DType) {
	eps := float32(0x1p-10)
	if t == npu.BF16 {
		eps = 0x1p-7
	}
	ties := make([]float32, 17)
	ones := make([]float32, 17)
	for i := range ties {
		ties[i], ones[i] = 0x1p-11, 1
	}
	ties[0] = 1
	for _, c := range []struct {
		what string
		a, b []float32
		want float32
	}{
		{"exact product", []float32{1 + eps}, []float32{1 + eps}, 1 + 2*eps + eps*eps},
		{"exact sum", ties, ones, 1 + 0x1p-7},
		{"past fp16's range", []float32{256, 256, 256, 256}, []float32{256, 256, 256, 256}, 262144},
	} {
		k := len(c.a)
		cb := e.buf([]float32{float32(math.NaN())})
		e.dev.GemmHalf(false, false, 1, 1, k, 1, e.hbuf(t, toHalf(t, c.a)), k, e.hbuf(t, toHalf(t, c.b)), 1, 0, cb, 1)
		e.same(c.what, e.get(cb), []float32{c.want})
	}
}
