package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"bloom/internal/half"
	"bloom/npu"
)

// halfOperands is a GEMM case's A and B as half bits (NaN in the padding
// columns, so reading them poisons C) and the same values widened.
type halfOperands struct {
	gemmOperands          // the widened A and B, and C
	ha, hb       []uint16 // A and B as bits
	widen        func([]float32, []uint16)
}

func newHalfOperands(t npu.DType, tc gemmCase, rng *rand.Rand) halfOperands {
	o := halfOperands{gemmOperands: newGemmOperands(tc, rng), widen: half.FromF16}
	round := half.F32ToF16
	if t == npu.BF16 {
		o.widen, round = half.FromBF16, half.F32ToBF16
	}
	toHalf := func(x []float32) []uint16 {
		h := make([]uint16, len(x))
		for i, v := range x {
			// Spread the exponents a little so that fp16's subnormals and
			// both types' roundings occur.
			h[i] = round(v * float32(math.Ldexp(1, rng.IntN(9)-4)))
		}
		o.widen(x, h)
		return h
	}
	o.ha, o.hb = toHalf(o.a), toHalf(o.b)
	return o
}

// halfGemmShapes are small odd sizes that put edges in every place of both
// tiles (6×16 and 14×32), and sizes past them.
var halfGemmShapes = []int{1, 2, 3, 5, 7, 13, 15, 17, 31, 33, 47}

// TestGemmHalfMatchesWidened checks, on every kernel this CPU has, that
// hgemm gives exactly the bits of sgemm on the widened operands, for both
// half types, every transpose pair, scalars, padded leading dimensions, all
// small odd shapes and some that cross the KC, MC and NC blocks. bf16 runs
// the widening path here even where the CPU has a bf16 kernel.
func TestGemmHalfMatchesWidened(t *testing.T) {
	useBgemm(t, nil)
	var cases []gemmCase
	scalars := [][2]float32{{1, 0}, {0.5, 1}, {-2, 0.25}}
	i := 0
	for _, m := range halfGemmShapes {
		for _, n := range halfGemmShapes {
			for _, k := range halfGemmShapes {
				for tr := range 4 {
					ab := scalars[i%3]
					cases = append(cases, gemmCase{transA: tr&1 != 0, transB: tr&2 != 0, m: m, n: n, k: k,
						padA: i % 3, padB: (i / 3) % 2, padC: i % 2, alpha: ab[0], beta: ab[1]})
					i++
				}
			}
		}
	}
	for tr := range 4 {
		tA, tB := tr&1 != 0, tr&2 != 0
		cases = append(cases,
			gemmCase{transA: tA, transB: tB, m: 151, n: 70, k: 600, padA: 1, alpha: 1, beta: 0.25},
			gemmCase{transA: tA, transB: tB, m: 351, n: 40, k: 70, padA: 2, alpha: 1, beta: 1},
			gemmCase{transA: tA, transB: tB, m: 7, n: 4100, k: 19, padB: 2, alpha: -2, beta: 1},
			gemmCase{transA: tA, transB: tB, m: 50, n: 300, k: 260, padB: 3, alpha: 1, beta: 1},
			gemmCase{transA: tA, transB: tB, m: 5, n: 3, k: 0, padC: 1, alpha: 1, beta: 0.25},
			gemmCase{transA: tA, transB: tB, m: 4, n: 4, k: 4, alpha: 0, beta: 0.5},
		)
	}
	for _, im := range gemmImpls {
		t.Run(im.name, func(t *testing.T) {
			useGemm(t, im)
			for _, dt := range []npu.DType{npu.F16, npu.BF16} {
				rng := rand.New(rand.NewPCG(3, 4))
				for ci, tc := range cases {
					p := newPool(1 + ci%3)
					if !checkHalfAgainstWidened(t, p, dt, tc, rng) {
						return
					}
				}
			}
		})
	}
}

// checkHalfAgainstWidened runs one case both ways and compares the bits of
// C, padding included; it reports whether they matched.
func checkHalfAgainstWidened(t *testing.T, p *pool, dt npu.DType, tc gemmCase, rng *rand.Rand) bool {
	t.Helper()
	o := newHalfOperands(dt, tc, rng)
	want := append([]float32(nil), o.c...)
	sgemm(p, tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, o.a, o.lda, o.b, o.ldb, tc.beta, want, o.ldc)
	got := append([]float32(nil), o.c...)
	hgemm(p, dt, tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, o.ha, o.lda, o.hb, o.ldb, tc.beta, got, o.ldc)
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Errorf("%v %v: C[%d] = %v (%#08x), widened Gemm gives %v (%#08x)", dt, tc, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
			return false
		}
	}
	return true
}

// TestGemmHalfConcurrent runs GemmHalf from several goroutines on one
// device at once (run it with -race): each must get the single-call bits.
func TestGemmHalfConcurrent(t *testing.T) {
	useBgemm(t, nil)
	d := New(2)
	const calls = 6
	tc := gemmCase{transB: true, m: 40, n: 70, k: 90, alpha: 1}
	want := make([][]float32, calls)
	ops := make([]halfOperands, calls)
	for i := range ops {
		dt := npu.F16
		if i%2 == 1 {
			dt = npu.BF16
		}
		ops[i] = newHalfOperands(dt, tc, rand.New(rand.NewPCG(uint64(i), 9)))
		want[i] = append([]float32(nil), ops[i].c...)
		sgemm(newPool(1), tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, ops[i].a, ops[i].lda, ops[i].b, ops[i].ldb, tc.beta, want[i], ops[i].ldc)
	}
	var wg sync.WaitGroup
	for i := range ops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := ops[i]
			dt := npu.F16
			if i%2 == 1 {
				dt = npu.BF16
			}
			a, b := d.AllocHalf(dt, len(o.ha)), d.AllocHalf(dt, len(o.hb))
			d.WriteHalf(a, o.ha)
			d.WriteHalf(b, o.hb)
			c := Buf(o.c)
			for range 3 {
				d.GemmHalf(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, o.lda, b, o.ldb, tc.beta, c, o.ldc)
			}
		}()
	}
	wg.Wait()
	for i, o := range ops {
		if fmt.Sprint(o.c) != fmt.Sprint(want[i]) {
			t.Errorf("call %d: concurrent GemmHalf differs from the single-thread widened Gemm", i)
		}
	}
}
