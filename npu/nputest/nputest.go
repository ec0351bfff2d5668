package nputest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"bloom/npu"
)

// Run runs the conformance suite against dev, one subtest per kernel family.
func Run(t *testing.T, dev npu.Device) {
	t.Helper()
	run(t, dev, Options{})
}

// run runs every kernel family's subtest with the options o.
func run(t *testing.T, dev npu.Device, o Options) {
	t.Helper()
	for _, c := range []struct {
		name string
		f    func(*env)
	}{
		{"Memory", testMemory},
		{"HalfMemory", testHalfMemory},
		{"ToHalf", testToHalf},
		{"FromHalf", testFromHalf},
		{"Gemm", testGemm},
		{"GemmHalf", testGemmHalf},
		{"GemmRounded", testGemmRounded},
		{"Bias", testBias},
		{"LayerNorm", testLayerNorm},
		{"Gelu", testGelu},
		{"Elementwise", testElementwise},
		{"SumSquares", testSumSquares},
		{"Softmax", testSoftmax},
		{"Attention", testAttention},
		{"PagedAttention", testPagedAttention},
		{"QKV", testQKV},
		{"Embedding", testEmbedding},
		{"CrossEntropy", testCrossEntropy},
		{"VocabEmbedding", testVocabEmbedding},
		{"VocabCrossEntropy", testVocabCrossEntropy},
		{"AdamW", testAdamW},
		{"Determinism", testDeterminism},
	} {
		t.Run(c.name, func(t *testing.T) { c.f(newEnv(t, dev, o)) })
	}
}

// u is the float32 unit roundoff: a correctly rounded float32 operation errs
// by at most u times the magnitude of its exact result.
const u = 0x1p-24

// tiny absorbs results that underflow float32's normal range.
const tiny = 1e-37

// env is one test's device, random source and failure reporting.
type env struct {
	t   *testing.T
	dev npu.Device
	rng *rand.Rand
	opt Options
}

// newEnv seeds the random source from the test's name, so every subtest sees
// the same inputs on every run and every backend.
func newEnv(t *testing.T, dev npu.Device, o Options) *env {
	var seed uint64 = 14695981039346656037
	for _, c := range []byte(t.Name()) {
		seed = (seed ^ uint64(c)) * 1099511628211
	}
	return &env{t: t, dev: dev, rng: rand.New(rand.NewPCG(seed, 1)), opt: o}
}

// guard is how many sentinel values surround every buffer the suite makes.
const guard = 3

// sentinel fills the guard values: a quiet NaN, so a kernel that reads past
// its buffer poisons its result, and one that writes there is caught by bits.
var sentinel = math.Float32frombits(0x7fc0beef)

// buf returns a device buffer holding x, cut from a larger allocation whose
// guard values are checked when the test ends.
func (e *env) buf(x []float32) npu.Buf {
	host := make([]float32, len(x)+2*guard)
	for i := range guard {
		host[i], host[len(host)-1-i] = sentinel, sentinel
	}
	copy(host[guard:], x)
	parent := e.dev.Alloc(len(host))
	e.dev.Write(parent, host)
	e.t.Cleanup(func() {
		got := e.get(parent)
		for i, v := range got {
			if (i < guard || i >= len(got)-guard) && math.Float32bits(v) != math.Float32bits(sentinel) {
				e.t.Errorf("a kernel wrote outside a buffer of %d values: guard value %d is %v", len(x), i-guard, v)
				return
			}
		}
	})
	return parent.Slice(guard, len(x))
}

// zeros returns a guarded device buffer of n zeros.
func (e *env) zeros(n int) npu.Buf { return e.buf(make([]float32, n)) }

// get reads a whole buffer back.
func (e *env) get(b npu.Buf) []float32 {
	x := make([]float32, b.Len())
	e.dev.Read(x, b)
	return x
}

// normal returns n values drawn from N(mean, sd²).
func (e *env) normal(n int, mean, sd float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(mean + sd*e.rng.NormFloat64())
	}
	return x
}

// uniform returns n values drawn from U[lo, hi).
func (e *env) uniform(n int, lo, hi float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(lo + (hi-lo)*e.rng.Float64())
	}
	return x
}

// f64 widens x.
func f64(x []float32) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = float64(v)
	}
	return y
}

// clone copies x.
func clone[T any](x []T) []T { return append([]T(nil), x...) }

// within fails the test where |got−want| > bound (NaN never passes),
// listing the first few, and logs the
// largest err/bound so a reader can see each tolerance's margin.
func (e *env) within(what string, got []float32, want, bound []float64) {
	e.t.Helper()
	if len(got) != len(want) {
		e.t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	bad, worst := 0, 0.0
	for i, g := range got {
		err := math.Abs(float64(g) - want[i])
		if float64(g) == want[i] {
			continue
		}
		if !(err <= bound[i]) {
			if bad < 5 {
				e.t.Errorf("%s[%d] = %v, want %v ± %.3g (error %.3g)", what, i, g, want[i], bound[i], err)
			}
			bad++
			continue
		}
		if bound[i] > 0 {
			worst = max(worst, err/bound[i])
		}
	}
	if bad > 0 {
		e.t.Errorf("%s: %d of %d values outside their tolerance", what, bad, len(got))
	}
	if testing.Verbose() {
		e.t.Logf("%s: worst error is %.2g of its tolerance", what, worst)
	}
}

// rel returns the bounds r·|want[i]| + abs.
func rel(want []float64, r, abs float64) []float64 {
	b := make([]float64, len(want))
	for i, w := range want {
		b[i] = r*math.Abs(w) + abs
	}
	return b
}

// same fails the test unless got and want are bit-identical.
func (e *env) same(what string, got, want []float32) {
	e.t.Helper()
	sameOf(e.t, what, got, want, func(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) },
		func(i int) string {
			return fmt.Sprintf("%s[%d] = %v (%#08x), want %v (%#08x) bit for bit", what, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
		})
}

// sameOf fails t unless got and want hold the same values by eq, naming
// the first five that differ (described by show) and counting them all.
func sameOf[T any](t testing.TB, what string, got, want []T, eq func(a, b T) bool, show func(i int) string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	bad := 0
	for i := range got {
		if !eq(got[i], want[i]) {
			if bad < 5 {
				t.Error(show(i))
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d values differ", what, bad, len(got))
	}
}

// fdStep is the central-difference step. With float64 objectives of size
// O(10) the truncation error is about h² times the third derivative, ~1e-12,
// and the rounding error ~1e-16·|f|/h ≈ 1e-9.
const fdStep = 1e-6

// fdMax is the most coordinates checkFD differentiates; larger inputs are
// sampled at a fixed stride.
const fdMax = 400

// checkFD compares the analytic gradient g of f at x with central
// differences, to 1e-6 of the gradient's scale: well above the differencing
// error stated at fdStep, far below the O(1) error of a wrong formula.
func (e *env) checkFD(what string, x, g []float64, f func([]float64) float64) {
	e.t.Helper()
	x = clone(x)
	scale := 0.0
	for _, v := range g {
		scale = max(scale, math.Abs(v))
	}
	f0 := math.Abs(f(x))
	bad, stride := 0, (len(x)+fdMax-1)/fdMax
	for i := 0; i < len(x); i += stride {
		xi := x[i]
		x[i] = xi + fdStep
		fp := f(x)
		x[i] = xi - fdStep
		fm := f(x)
		x[i] = xi
		fd := (fp - fm) / (2 * fdStep)
		tol := 1e-6*(math.Abs(g[i])+scale) + 1e-14*(1+f0)/fdStep
		if !(math.Abs(fd-g[i]) <= tol) {
			if bad < 5 {
				e.t.Errorf("%s: finite difference %d = %.9g, analytic reference %.9g", what, i, fd, g[i])
			}
			bad++
		}
	}
	if bad > 0 {
		e.t.Errorf("%s: %d of %d derivatives disagree with finite differences", what, bad, len(x))
	}
}

// dotW returns Σ out[i]·w[i]: the scalar objective whose gradient with
// respect to out is w.
func dotW(out, w []float64) float64 {
	s := 0.0
	for i, v := range out {
		s += v * w[i]
	}
	return s
}

// name formats a case name for subtests.
func name(format string, args ...any) string { return fmt.Sprintf(format, args...) }

// run runs f as a subtest sharing e's device and random source.
func (e *env) run(name string, f func(*env)) {
	e.t.Helper()
	e.t.Run(name, func(t *testing.T) {
		e.opt.skip(t, name)
		f(&env{t: t, dev: e.dev, rng: e.rng, opt: e.opt})
	})
}
