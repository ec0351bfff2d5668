package half

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
)

// inputs returns n float32 values drawn from the formats' edges (ties,
// overflow, subnormals, ±0, ±Inf, NaN payloads) and random bit patterns.
func inputs(r *rand.Rand, n int) []float32 {
	edges := allEdges()
	out := make([]float32, n)
	for i := range out {
		if r.IntN(2) == 0 {
			out[i] = edges[r.IntN(len(edges))]
		} else {
			out[i] = math.Float32frombits(r.Uint32())
		}
	}
	return out
}

// allEdges is both formats' edges, computed once.
var allEdges = sync.OnceValue(func() []float32 { return append(formats[0].edges(), formats[1].edges()...) })

// halves returns n random 16-bit patterns.
func halves(r *rand.Rand, n int) []uint16 {
	out := make([]uint16, n)
	for i := range out {
		out[i] = uint16(r.Uint32())
	}
	return out
}

const guard = 5 // elements past each dst that must stay untouched

// checkSet runs one kernel set's four converters on src (through the
// exported converters' shape: the kernel's prefix, then the scalar tail)
// and compares every output bit with the scalar functions, and the guard
// elements after dst with their sentinels.
func checkSet(t *testing.T, k kernelSet, f32 []float32, h16 []uint16) {
	t.Helper()
	n := len(f32)
	got16 := make([]uint16, n+guard)
	for i := range got16 {
		got16[i] = 0xdead
	}
	for _, c := range []struct {
		name   string
		kernel func([]uint16, []float32) int
		scalar func(float32) uint16
	}{{"ToF16", k.toF16, F32ToF16}, {"ToBF16", k.toBF16, F32ToBF16}} {
		d := got16[:n]
		done := c.kernel(d, f32)
		if done < 0 || done > n {
			t.Fatalf("%s %s: did %d of %d", k.name, c.name, done, n)
		}
		for i, x := range f32 {
			if i >= done {
				d[i] = c.scalar(x)
			} else if want := c.scalar(x); d[i] != want {
				t.Fatalf("%s %s n=%d [%d] %#08x: %#04x, scalar %#04x", k.name, c.name, n, i, math.Float32bits(x), d[i], want)
			}
		}
		for i, v := range got16[n:] {
			if v != 0xdead {
				t.Fatalf("%s %s n=%d wrote past the end at %d", k.name, c.name, n, n+i)
			}
		}
	}
	// The round trips: the bits of widening the narrowed value.
	gotR := make([]float32, n+guard)
	for i := range gotR {
		gotR[i] = -7
	}
	for _, c := range []struct {
		name   string
		kernel func([]float32, []float32) int
		scalar func(float32) float32
	}{{"RoundF16", k.roundF16, func(x float32) float32 { return F16ToF32(F32ToF16(x)) }},
		{"RoundBF16", k.roundBF16, func(x float32) float32 { return BF16ToF32(F32ToBF16(x)) }}} {
		d := gotR[:n]
		done := c.kernel(d, f32)
		if done < 0 || done > n {
			t.Fatalf("%s %s: did %d of %d", k.name, c.name, done, n)
		}
		for i, x := range f32[:done] {
			if want := c.scalar(x); math.Float32bits(d[i]) != math.Float32bits(want) {
				t.Fatalf("%s %s n=%d [%d] %#08x: %#08x, scalar %#08x", k.name, c.name, n, i, math.Float32bits(x), math.Float32bits(d[i]), math.Float32bits(want))
			}
		}
		for i, v := range gotR[n:] {
			if v != -7 {
				t.Fatalf("%s %s n=%d wrote past the end at %d", k.name, c.name, n, n+i)
			}
		}
	}
	got32 := make([]float32, len(h16)+guard)
	for i := range got32 {
		got32[i] = -7
	}
	for _, c := range []struct {
		name   string
		kernel func([]float32, []uint16) int
		scalar func(uint16) float32
	}{{"FromF16", k.fromF16, F16ToF32}, {"FromBF16", k.fromBF16, BF16ToF32}} {
		d := got32[:len(h16)]
		done := c.kernel(d, h16)
		if done < 0 || done > len(h16) {
			t.Fatalf("%s %s: did %d of %d", k.name, c.name, done, len(h16))
		}
		for i, h := range h16[:done] {
			if want := c.scalar(h); math.Float32bits(d[i]) != math.Float32bits(want) {
				t.Fatalf("%s %s n=%d [%d] %#04x: %#08x, scalar %#08x", k.name, c.name, len(h16), i, h, math.Float32bits(d[i]), math.Float32bits(want))
			}
		}
		for i, v := range got32[len(h16):] {
			if v != -7 {
				t.Fatalf("%s %s n=%d wrote past the end at %d", k.name, c.name, len(h16), len(h16)+i)
			}
		}
	}
}

// TestKernelsMatchScalar runs every kernel set this CPU has against the
// scalar functions: every length 0..67 (all the block and unroll
// remainders), large slices at unaligned starts, all 65,536 16-bit patterns
// widened, and every edge narrowed.
func TestKernelsMatchScalar(t *testing.T) {
	for _, k := range kernels {
		t.Logf("kernel set %s", k.name)
	}
	r := rand.New(rand.NewPCG(3, 4))
	for _, k := range kernels {
		t.Run(k.name, func(t *testing.T) {
			for n := 0; n <= 67; n++ {
				for range 20 {
					checkSet(t, k, inputs(r, n), halves(r, n))
				}
			}
			f32, h16 := inputs(r, 1<<17+9), halves(r, 1<<17+9)
			for off := range 9 {
				checkSet(t, k, f32[off:1<<17+off-3], h16[off:1<<17+off-3])
			}
			all := make([]uint16, 1<<16)
			for i := range all {
				all[i] = uint16(i)
			}
			checkSet(t, k, allEdges(), all)
		})
	}
}

// TestExportedConverters: the exported converters give the scalar results
// with the best kernel set, keep the tail, and refuse a short dst.
func TestExportedConverters(t *testing.T) {
	t.Logf("slice converters use %s", Kernel())
	r := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{0, 1, 7, 8, 15, 16, 17, 63, 64, 65, 1000, 4099} {
		src := inputs(r, n)
		h, b := make([]uint16, n+3), make([]uint16, n+3)
		ToF16(h, src)
		ToBF16(b, src)
		w, v := make([]float32, n), make([]float32, n)
		FromF16(w, h[:n])
		FromBF16(v, b[:n])
		for i, x := range src {
			if h[i] != F32ToF16(x) || b[i] != F32ToBF16(x) {
				t.Fatalf("n=%d [%d] %#08x: %#04x %#04x", n, i, math.Float32bits(x), h[i], b[i])
			}
			if math.Float32bits(w[i]) != math.Float32bits(F16ToF32(h[i])) || math.Float32bits(v[i]) != math.Float32bits(BF16ToF32(b[i])) {
				t.Fatalf("n=%d [%d]: widened %#08x %#08x", n, i, math.Float32bits(w[i]), math.Float32bits(v[i]))
			}
		}
	}
	for name, f := range map[string]func(){
		"ToF16":    func() { ToF16(make([]uint16, 3), make([]float32, 4)) },
		"ToBF16":   func() { ToBF16(make([]uint16, 3), make([]float32, 4)) },
		"FromF16":  func() { FromF16(make([]float32, 3), make([]uint16, 4)) },
		"FromBF16": func() { FromBF16(make([]float32, 3), make([]uint16, 4)) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s with a short dst did not panic", name)
				}
			}()
			f()
		}()
	}
}

// BenchmarkConvert measures each kernel set's converters, through the
// exported converters' path (kernel then scalar tail), on a slice that
// stays in L2 (16Ki elements) and one that streams from memory (4Mi).
// Bytes are those read and written: 6 per element.
func BenchmarkConvert(b *testing.B) {
	for _, n := range []int{16 << 10, 4 << 20} {
		r := rand.New(rand.NewPCG(7, 8))
		f32 := make([]float32, n)
		for i := range f32 {
			f32[i] = float32(r.NormFloat64())
		}
		h16, b16, out := make([]uint16, n), make([]uint16, n), make([]float32, n)
		ToF16(h16, f32)
		ToBF16(b16, f32)
		for _, k := range kernels {
			run := func(name string, fn func()) {
				b.Run(fmt.Sprintf("%s/%s/n=%d", name, k.name, n), func(b *testing.B) {
					b.SetBytes(int64(6 * n))
					for b.Loop() {
						fn()
					}
				})
			}
			dst16 := make([]uint16, n)
			run("ToF16", func() { d := k.toF16(dst16, f32); toF16Go(dst16[d:], f32[d:]) })
			run("FromF16", func() { d := k.fromF16(out, h16); fromF16Go(out[d:], h16[d:]) })
			run("ToBF16", func() { d := k.toBF16(dst16, f32); toBF16Go(dst16[d:], f32[d:]) })
			run("FromBF16", func() { d := k.fromBF16(out, b16); fromBF16Go(out[d:], b16[d:]) })
		}
	}
}
