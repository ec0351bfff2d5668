package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// geluForwardRef and geluBackwardRef are GeluForward and GeluBackward as
// they were before the vector kernels: geluTanh on whole chunks (expSum's
// vector exp on the first len&^7 values, exp32 on the rest), then the Go
// loops. The kernels must give their bits exactly: training is bit-identical
// with its goldens and across layouts.
func geluForwardRef(p *pool, y, x []float32) {
	p.parallelFor(len(x), grain/8, func(lo, hi int) {
		var t [geluChunk]float32
		for c := lo; c < hi; c += geluChunk {
			xs := x[c:min(c+geluChunk, hi)]
			geluTanh(t[:len(xs)], xs)
			for i, v := range xs {
				y[c+i] = float32(v*0.5) * (1 + t[i])
			}
		}
	})
}

func geluBackwardRef(p *pool, dx, x, dy []float32) {
	p.parallelFor(len(x), grain/8, func(lo, hi int) {
		var ts [geluChunk]float32
		for c := lo; c < hi; c += geluChunk {
			xs := x[c:min(c+geluChunk, hi)]
			geluTanh(ts[:len(xs)], xs)
			for i, v := range xs {
				t := ts[i]
				slope := geluA + float32(float32(geluC*v)*v)
				ff := float32(float32(0.5*v)*float32((1-float32(t*t))*slope)) + float32(0.5*(1+t))
				dx[c+i] += float32(ff * dy[c+i])
			}
		}
	})
}

// geluSpecials are inputs at the edges: signed zeros, subnormals, values
// whose tanh argument meets the exponential's clamps (|x| ≈ 10), values whose
// squares overflow, infinities and NaNs with several payloads (the x86
// default NaN, a positive quiet NaN, a signaling NaN).
var geluSpecials = []float32{
	0, float32(math.Copysign(0, -1)), 1e-45, -1e-45, 1e-40, -1e-40, 0x1p-126, -0x1p-126, 1e-20, -1e-20,
	9.9, -9.9, 10, -10, 10.03, -10.03, 10.1, -10.1, 11, -11, 20, -20, 87, -87, 88.5, -88.5,
	1e18, -1e18, 1e19, -1e19, 1e20, -1e20, math.MaxFloat32, -math.MaxFloat32,
	float32(math.Inf(1)), float32(math.Inf(-1)),
	math.Float32frombits(0xffc00000), math.Float32frombits(0x7fc00001), math.Float32frombits(0x7f800001),
	math.Float32frombits(0xffa5a5a5),
}

// geluInputs returns n values of one kind: normals at a scale, the
// specials, a fine sweep through the exponential's clamps, or a mix.
func geluInputs(r *rand.Rand, kind string, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		switch kind {
		case "specials":
			x[i] = geluSpecials[r.IntN(len(geluSpecials))]
		case "clamps": // tanh's argument near ±87.34 and 88.72
			x[i] = float32(9.95+r.Float64()*0.15) * float32(1-2*r.IntN(2))
		case "mix":
			if r.IntN(4) == 0 {
				x[i] = geluSpecials[r.IntN(len(geluSpecials))]
			} else {
				x[i] = float32(r.NormFloat64() * math.Pow(10, float64(r.IntN(9)-4)))
			}
		default:
			var scale float64
			fmt.Sscan(kind, &scale)
			x[i] = float32(r.NormFloat64() * scale)
		}
	}
	return x
}

var geluLengths = []int{0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 255, 256, 257, 263, 511, 1000, 2049, 4096 + 13, 3*geluChunk*8 + 5, 20011}

// TestGeluBits checks GeluForward and GeluBackward against the reference
// bit for bit, NaN payloads included, on 1, 2 and 3 threads (so over the
// ranges each split gives), for every length and kind of input.
func TestGeluBits(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	kinds := []string{"1e-3", "0.1", "1", "3", "10", "100", "1e4", "specials", "clamps", "mix"}
	for _, threads := range []int{1, 2, 3} {
		d := New(threads)
		for _, n := range geluLengths {
			for _, kind := range kinds {
				x := geluInputs(r, kind, n)
				dy := geluInputs(r, "mix", n)
				dx0 := geluInputs(r, "mix", n)
				name := fmt.Sprintf("threads=%d/n=%d/%s", threads, n, kind)

				want, got := make([]float32, n), make([]float32, n)
				geluForwardRef(d.pool, want, x)
				d.GeluForward(Buf(got), Buf(x), n)
				sameBits(t, name+"/forward", got, want, x)

				want, got = append([]float32(nil), dx0...), append([]float32(nil), dx0...)
				geluBackwardRef(d.pool, want, x, dy)
				d.GeluBackward(Buf(got), Buf(x), Buf(dy), n)
				sameBits(t, name+"/backward", got, want, x)
			}
		}
	}
}

// TestGeluShortRuns checks many short runs, where the tails that must keep
// the scalar exp32 are a large share of the values.
func TestGeluShortRuns(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	d := New(1)
	for n := 1; n <= 40; n++ {
		for rep := range 200 {
			x := geluInputs(r, "1", n)
			dy := geluInputs(r, "1", n)
			name := fmt.Sprintf("n=%d/rep=%d", n, rep)
			want, got := make([]float32, n), make([]float32, n)
			geluForwardRef(d.pool, want, x)
			d.GeluForward(Buf(got), Buf(x), n)
			sameBits(t, name+"/forward", got, want, x)
			clear(want)
			clear(got)
			geluBackwardRef(d.pool, want, x, dy)
			d.GeluBackward(Buf(got), Buf(x), Buf(dy), n)
			sameBits(t, name+"/backward", got, want, x)
		}
	}
}

// TestGeluTailsMatter checks that the bit tests can fail: the vector and
// scalar exponentials give different GELU values for some inputs, so a
// kernel that took a chunk's tail (or left values of its own to exp32)
// would be caught.
func TestGeluTailsMatter(t *testing.T) {
	if !hasVec {
		t.Skip("no vector kernels on this CPU or build")
	}
	x := geluInputs(rand.New(rand.NewPCG(3, 3)), "1", 4096)
	vec := make([]float32, len(x))
	geluTanh(vec, x) // vector exp for all: 4096 is a multiple of 8
	for i := range x {
		var one [1]float32
		geluTanh(one[:], x[i:i+1]) // exp32
		if one[0] != vec[i] {
			return
		}
	}
	t.Fatal("exp32 and expSumAVX2 give the same tanh for every input: the bit tests cannot tell the paths apart")
}

func sameBits(t *testing.T, name string, got, want, x []float32) {
	t.Helper()
	for i := range got {
		if g, w := math.Float32bits(got[i]), math.Float32bits(want[i]); g != w {
			t.Fatalf("%s: value %d (x = %g, %#08x): got %g (%#08x), want %g (%#08x)",
				name, i, x[i], math.Float32bits(x[i]), got[i], g, want[i], w)
		}
	}
}

// BenchmarkGelu compares GeluForward and GeluBackward ("new") with the
// reference loops they replaced ("old"), e.g.
//
//	go test ./npu/cpu/ -run '^$' -bench 'Gelu/' -count 5
func BenchmarkGelu(b *testing.B) {
	for _, n := range []int{16 << 10, 128 << 10} {
		x := geluInputs(rand.New(rand.NewPCG(1, 2)), "1", n)
		dy := geluInputs(rand.New(rand.NewPCG(2, 3)), "1", n)
		y := make([]float32, n)
		for _, threads := range []int{1, 2} {
			d := New(threads)
			run := func(name string, f func()) {
				b.Run(fmt.Sprintf("%s/n=%d/threads=%d", name, n, threads), func(b *testing.B) {
					b.SetBytes(4 * int64(n))
					for range b.N {
						f()
					}
				})
			}
			run("forward/old", func() { geluForwardRef(d.pool, y, x) })
			run("forward/new", func() { d.GeluForward(Buf(y), Buf(x), n) })
			run("backward/old", func() { geluBackwardRef(d.pool, y, x, dy) })
			run("backward/new", func() { d.GeluBackward(Buf(y), Buf(x), Buf(dy), n) })
		}
	}
}
