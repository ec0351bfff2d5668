package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

// gemmCase is one sgemm call: shapes, transposes, padding of the leading
// dimensions and the scalars.
type gemmCase struct {
	transA, transB bool
	m, n, k        int
	padA, padB     int // lda, ldb beyond the minimum
	padC           int
	alpha, beta    float32
}

func (tc gemmCase) String() string {
	return fmt.Sprintf("tA=%v,tB=%v,m=%d,n=%d,k=%d,pad=%d/%d/%d,alpha=%g,beta=%g",
		tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.padA, tc.padB, tc.padC, tc.alpha, tc.beta)
}

// gemmOperands holds the inputs of a case; the padding columns of A and B
// are NaN so that reading them poisons the result, and those of C hold a
// sentinel that must survive.
type gemmOperands struct {
	a, b, c       []float32
	lda, ldb, ldc int
}

const gemmSentinel = 12345

func newGemmOperands(tc gemmCase, rng *rand.Rand) gemmOperands {
	ar, ac := tc.m, tc.k
	if tc.transA {
		ar, ac = ac, ar
	}
	br, bc := tc.k, tc.n
	if tc.transB {
		br, bc = bc, br
	}
	o := gemmOperands{lda: max(ac, 1) + tc.padA, ldb: max(bc, 1) + tc.padB, ldc: max(tc.n, 1) + tc.padC}
	o.a = randPadded(rng, ar, ac, o.lda, float32(math.NaN()))
	o.b = randPadded(rng, br, bc, o.ldb, float32(math.NaN()))
	o.c = randPadded(rng, tc.m, tc.n, o.ldc, gemmSentinel)
	if tc.beta == 0 {
		for i := range tc.m {
			for j := range tc.n {
				o.c[i*o.ldc+j] = float32(math.NaN())
			}
		}
	}
	return o
}

// randPadded returns a rows×ld matrix with uniform [-1,1) entries in the first
// cols columns and pad elsewhere. It is at least one element long.
func randPadded(rng *rand.Rand, rows, cols, ld int, pad float32) []float32 {
	s := make([]float32, max(rows*ld, 1))
	for i := range s {
		s[i] = pad
		if i%ld < cols {
			s[i] = 2*rng.Float32() - 1
		}
	}
	return s
}

// checkGemm runs sgemm on tc and compares every element with a float64
// reference. The bound is Higham's for a length-k dot product with FMA,
// |error| <= γ(k)·Σ|a||b| with γ(k) ≈ k·u, u = 2⁻²⁴, plus a few roundings for
// alpha, beta and the KC-block sums stored into C; we allow (k+4)·u·2 of
// |alpha|·Σ|a_ip·b_pj| + |beta·c_ij|, which is data-independent and tight.
func checkGemm(t *testing.T, p *pool, tc gemmCase, rng *rand.Rand) {
	t.Helper()
	o := newGemmOperands(tc, rng)
	c0 := append([]float32(nil), o.c...)
	sgemm(p, tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, o.a, o.lda, o.b, o.ldb, tc.beta, o.c, o.ldc)
	const u = 1.0 / (1 << 24)
	bad := 0
	for i := range tc.m {
		for j := range tc.n {
			var sum, mag float64
			for p := range tc.k {
				x := float64(opAt(o.a, o.lda, tc.transA, i, p)) * float64(opAt(o.b, o.ldb, tc.transB, p, j))
				sum += x
				mag += math.Abs(x)
			}
			want := float64(tc.alpha) * sum
			mag *= math.Abs(float64(tc.alpha))
			if tc.beta != 0 {
				want += float64(tc.beta) * float64(c0[i*o.ldc+j])
				mag += math.Abs(float64(tc.beta) * float64(c0[i*o.ldc+j]))
			}
			got := float64(o.c[i*o.ldc+j])
			tol := 2 * float64(tc.k+4) * u * mag
			if !(math.Abs(got-want) <= tol) {
				if bad++; bad <= 3 {
					t.Errorf("%v: C[%d][%d] = %g, want %g (tol %g)", tc, i, j, got, want, tol)
				}
			}
		}
		for j := tc.n; j < o.ldc && i*o.ldc+j < len(o.c); j++ {
			if o.c[i*o.ldc+j] != gemmSentinel {
				t.Fatalf("%v: wrote C[%d][%d] outside the matrix", tc, i, j)
			}
		}
	}
	if bad > 3 {
		t.Errorf("%v: %d elements out of tolerance", tc, bad)
	}
}

// opAt is op(X)[r][c] for X stored row-major with leading dimension ld.
func opAt(x []float32, ld int, trans bool, r, c int) float32 {
	if trans {
		return x[c*ld+r]
	}
	return x[r*ld+c]
}

var gemmEdgeSizes = []int{0, 1, 7, 13, 17, 31, 33, 97, 129, 257}

// gemmCases returns count random cases over the edge sizes, with every
// transpose combination, padding and scalar, plus shapes that cross the
// KC, MC and NC block boundaries.
func gemmCases(rng *rand.Rand, count int) []gemmCase {
	alphas := []float32{1, 0.5, -2}
	betas := []float32{0, 1, 0.25}
	pick := func() int { return gemmEdgeSizes[rng.IntN(len(gemmEdgeSizes))] }
	var cases []gemmCase
	for i := range count {
		cases = append(cases, gemmCase{
			transA: i&1 != 0, transB: i&2 != 0,
			m: pick(), n: pick(), k: pick(),
			padA: rng.IntN(2) * 3, padB: rng.IntN(2) * 5, padC: rng.IntN(2) * 2,
			alpha: alphas[rng.IntN(3)], beta: betas[rng.IntN(3)],
		})
	}
	for tr := range 4 {
		tA, tB := tr&1 != 0, tr&2 != 0
		cases = append(cases,
			gemmCase{transA: tA, transB: tB, m: 151, n: 70, k: 600, padA: 1, alpha: 1, beta: 0.25}, // k > 2·KC, m > MC, packed
			gemmCase{transA: tA, transB: tB, m: 351, n: 40, k: 70, padA: 2, alpha: 1, beta: 1},     // m > MC of every kernel
			gemmCase{transA: tA, transB: tB, m: 7, n: 4100, k: 19, padB: 2, alpha: -2, beta: 1},    // n > NC, column split
			gemmCase{transA: tA, transB: tB, m: 50, n: 300, k: 260, padB: 3, alpha: 1, beta: 1},    // packed B, 8-panel groups
			gemmCase{transA: tA, transB: tB, m: 96, n: 64, k: 256, alpha: 0.5, beta: 0},            // exact tiles
			gemmCase{transA: tA, transB: tB, m: 1, n: 1, k: 1, alpha: 1, beta: 0},
			gemmCase{transA: tA, transB: tB, m: 5, n: 3, k: 0, padC: 1, alpha: 1, beta: 0.25}, // k = 0 scales C
		)
	}
	return cases
}

// TestGemmMatchesReference runs the reference comparison through every
// kernel this CPU has (gemmImpls: AVX-512, AVX2/FMA and the portable Go one
// on an AVX-512 machine), each on 1, 2 and 3 threads.
func TestGemmMatchesReference(t *testing.T) {
	for _, im := range gemmImpls {
		t.Run(im.name, func(t *testing.T) {
			useGemm(t, im)
			rng := rand.New(rand.NewPCG(1, 2))
			cases := gemmCases(rng, 160)
			for _, threads := range []int{1, 2, 3} {
				p := newPool(threads)
				for _, tc := range cases {
					checkGemm(t, p, tc, rng)
				}
			}
		})
	}
}

// useGemm switches sgemm to kernel im until the test ends.
func useGemm(t testing.TB, im *gemmImpl) {
	prev := sgemmImpl
	t.Cleanup(func() { sgemmImpl = prev })
	sgemmImpl = im
}

// TestGemmPackers checks the packers of every kernel against their
// definitions, element for element, and that the A packer writes nothing
// past its slack.
func TestGemmPackers(t *testing.T) {
	for _, im := range gemmImpls {
		t.Run(im.name, func(t *testing.T) { testGemmPackers(t, im) })
	}
}

func testGemmPackers(t *testing.T, im *gemmImpl) {
	rng := rand.New(rand.NewPCG(7, 8))
	const ld = 300
	mr, nr := im.mr, im.nr
	for _, kc := range []int{1, 7, 8, 9, 16, 100, 256} {
		b := randPadded(rng, nr, kc, ld, 0)
		got := make([]float32, kc*nr)
		im.packBT(got, b, ld, kc)
		for i := range got {
			if def := b[(i%nr)*ld+i/nr]; got[i] != def {
				t.Fatalf("packBT kc=%d: d[%d] = %v, want %v", kc, i, got[i], def)
			}
		}

		a := randPadded(rng, mr, kc, ld, 0)
		n := kc*mr + gemmPackSlack
		got = make([]float32, n+1)
		got[n] = gemmSentinel
		im.packAN(got, a, ld, kc)
		for i := range kc * mr {
			if def := a[(i%mr)*ld+i/mr]; got[i] != def {
				t.Fatalf("packAN kc=%d: d[%d] = %v, want %v", kc, i, got[i], def)
			}
		}
		if got[n] != gemmSentinel {
			t.Fatalf("packAN kc=%d wrote past its slack", kc)
		}

		const tiles = 5
		at := randPadded(rng, kc, tiles*mr, ld, 0)
		n = tiles * kc * mr
		got = make([]float32, n+1)
		got[n] = gemmSentinel
		im.packAT(got[:n], at, ld, kc, tiles)
		for i := range n {
			tile, p, r := i/(kc*mr), i/mr%kc, i%mr
			if def := at[p*ld+tile*mr+r]; got[i] != def {
				t.Fatalf("packAT kc=%d: d[%d] = %v, want %v", kc, i, got[i], def)
			}
		}
		if got[n] != gemmSentinel {
			t.Fatalf("packAT kc=%d wrote past its end", kc)
		}
	}
}

// TestGemmAlphaZero checks BLAS semantics: alpha == 0 only scales C, so NaN
// in A or B does not reach it.
func TestGemmAlphaZero(t *testing.T) {
	a := []float32{float32(math.NaN()), 1, 2, 3}
	c := []float32{1, 2, 3, 4}
	sgemm(newPool(1), false, false, 2, 2, 2, 0, a, 2, a, 2, 0.5, c, 2)
	if want := []float32{0.5, 1, 1.5, 2}; fmt.Sprint(c) != fmt.Sprint(want) {
		t.Fatalf("C = %v, want %v", c, want)
	}
}

// TestGemmDeterministic checks that results are bit-identical on repeat and
// for every thread count, for both ways of splitting the work (the shared
// nest when m has a few tiles per thread, column panels when it has not),
// for every kernel.
func TestGemmDeterministic(t *testing.T) {
	for _, im := range gemmImpls {
		useGemm(t, im)
		kern := im.name
		for _, tc := range []gemmCase{
			{transA: false, transB: true, m: 301, n: 203, k: 700, alpha: 1, beta: 0.25},
			{transA: true, transB: true, m: 150, n: 1100, k: 90, alpha: 1, beta: 0},
			{transA: true, transB: false, m: 13, n: 1500, k: 530, alpha: -2, beta: 1},
			{transA: false, transB: false, m: 97, n: 4100, k: 33, alpha: 0.5, beta: 0},
		} {
			rng := rand.New(rand.NewPCG(5, 6))
			o := newGemmOperands(tc, rng)
			var first []float32
			for _, threads := range []int{1, 2, 3, 4, 2, 1} {
				c := append([]float32(nil), o.c...)
				sgemm(newPool(threads), tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, o.a, o.lda, o.b, o.ldb, tc.beta, c, o.ldc)
				if first == nil {
					first = c
					continue
				}
				for i := range c {
					if math.Float32bits(c[i]) != math.Float32bits(first[i]) {
						t.Fatalf("%s %v: threads=%d: C[%d] = %x, first run %x", kern, tc, threads, i, math.Float32bits(c[i]), math.Float32bits(first[i]))
					}
				}
			}
		}
	}
}

// TestGemmSteadyStateAllocs checks that packing memory and call state are
// reused: after a warm-up call, a one-thread sgemm allocates nothing, and a
// two-thread one only the pool's fork-join bookkeeping (a closure and a
// goroutine), never a packing buffer or the shared nest's step counters.
func TestGemmSteadyStateAllocs(t *testing.T) {
	const m, n, k = 200, 300, 400 // packed A and B, two KC steps
	a, b, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
	for _, threads := range []int{1, 2} {
		p := newPool(threads)
		call := func() { sgemm(p, false, true, m, n, k, 1, a, k, b, k, 0, c, n) }
		call()
		// The threads of the warm-up call may not have overlapped; hold a
		// scratch per thread at once so the free list reaches its high-water
		// mark.
		var held []*gemmScratch
		for range threads {
			held = append(held, getScratch(sgemmImpl))
		}
		for _, s := range held {
			gemmScratchFree.put(s)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		const calls = 20
		for range calls {
			call()
		}
		runtime.ReadMemStats(&after)
		perCall := (after.TotalAlloc - before.TotalAlloc) / calls
		// One fork-join per call, under 256 bytes.
		limit := uint64(256)
		if threads == 1 {
			limit = 0
		}
		if perCall > limit {
			t.Errorf("%d threads: sgemm allocates %d bytes per call, want at most %d", threads, perCall, limit)
		}
	}
}
