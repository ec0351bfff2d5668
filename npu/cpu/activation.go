package cpu

import "bloom/npu"

// BLOOM's tanh GELU constants (HF bloom_gelu_forward and bloom_gelu_back):
// √(2/π), the cubic coefficient, and 3·0.044715·√(2/π).
const (
	geluA = 0.79788456
	geluB = 0.044715
	geluC = 0.1070322243
)

// geluChunk is how many tanh values the GELU kernels compute at once, on the
// stack, with the vector exponential.
const geluChunk = 256

// geluTanh sets t[i] = tanh(0.79788456·x·(1 + 0.044715·x²)), with the inner
// expression rounded as HF's float32 ops round it and tanh(u) taken as
// 1 − 2/(e^{2u} + 1), within a few 1e-8 absolute.
func geluTanh(t, x []float32) {
	for i, v := range x {
		inner := 1 + float32(float32(geluB*v)*v)
		t[i] = 2 * float32(geluA*v) * inner
	}
	expInPlace(t)
	for i, e := range t {
		t[i] = 1 - 2/(e+1)
	}
}

// GeluForward sets out = x·0.5·(1 + tanh(0.79788456·x·(1 + 0.044715·x²))).
func (d *Device) GeluForward(out, in npu.Buf, n int) {
	const op = "GeluForward"
	y := view(op, "out", out, n)
	x := view(op, "in", in, n)
	d.pool.parallelFor(n, grain/8, func(lo, hi int) {
		var t [geluChunk]float32
		for c := lo; c < hi; c += geluChunk {
			xs := x[c:min(c+geluChunk, hi)]
			v := geluVec(len(xs))
			if v > 0 {
				geluForwardAVX2(&y[c], &xs[0], v)
			}
			ys, xs := y[c+v:], xs[v:]
			geluTanh(t[:len(xs)], xs)
			for i, v := range xs {
				ys[i] = float32(v*0.5) * (1 + t[i])
			}
		}
	})
}

// GeluBackward adds dout·gelu'(in) into din, with gelu' as HF's
// bloom_gelu_back: 0.5·x·((1−t²)·(0.79788456 + 0.1070322243·x²)) + 0.5·(1+t).
func (d *Device) GeluBackward(din, in, dout npu.Buf, n int) {
	const op = "GeluBackward"
	dx := view(op, "din", din, n)
	x := view(op, "in", in, n)
	dy := view(op, "dout", dout, n)
	d.pool.parallelFor(n, grain/8, func(lo, hi int) {
		var ts [geluChunk]float32
		for c := lo; c < hi; c += geluChunk {
			xs := x[c:min(c+geluChunk, hi)]
			v := geluVec(len(xs))
			if v > 0 {
				geluBackwardAVX2(&dx[c], &xs[0], &dy[c], v)
			}
			dxs, dys, xs := dx[c+v:], dy[c+v:], xs[v:]
			geluTanh(ts[:len(xs)], xs)
			for i, v := range xs {
				t := ts[i]
				slope := geluA + float32(float32(geluC*v)*v)
				ff := float32(float32(0.5*v)*float32((1-float32(t*t))*slope)) + float32(0.5*(1+t))
				dxs[i] += float32(ff * dys[i])
			}
		}
	})
}

// geluVec returns how many of a chunk's n values the vector kernels
// (gelu_amd64.s) take: the first n&^7, the values geluTanh would give
// expSumAVX2, with the same bits as geluTanh and the loops after it; 0
// without them. The rest go through geluTanh, whose expSum then uses the
// scalar exp32 for all of them, as it did for the chunk's tail.
func geluVec(n int) int {
	if !hasVec {
		return 0
	}
	return n &^ 7
}

// Add sets out = a + b; out may alias a or b.
func (d *Device) Add(out, a, b npu.Buf, n int) {
	const op = "Add"
	o := view(op, "out", out, n)
	x := view(op, "a", a, n)
	y := view(op, "b", b, n)
	d.pool.parallelFor(n, grain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			o[i] = x[i] + y[i]
		}
	})
}

// Axpy sets y += alpha·x.
func (d *Device) Axpy(y npu.Buf, alpha float32, x npu.Buf, n int) {
	const op = "Axpy"
	yv := view(op, "y", y, n)
	xv := view(op, "x", x, n)
	d.pool.parallelFor(n, grain, func(lo, hi int) {
		axpy(yv[lo:hi], alpha, xv[lo:hi])
	})
}

// Scale sets x *= s.
func (d *Device) Scale(x npu.Buf, s float32, n int) {
	xv := view("Scale", "x", x, n)
	d.pool.parallelFor(n, grain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			xv[i] *= s
		}
	})
}

// sumBlock is the fixed block of values whose squares SumSquares sums
// separately; the blocks' sums are added in order, so the result does not
// depend on the thread count.
const sumBlock = 1 << 14

// SumSquares returns Σx² accumulated in float64.
func (d *Device) SumSquares(x npu.Buf, n int) float64 {
	xv := view("SumSquares", "x", x, n)
	blocks := (n + sumBlock - 1) / sumBlock
	if blocks <= 1 {
		return sumSq64(xv)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	part := d.scratch64(blocks)
	d.pool.parallelFor(blocks, 1, func(lo, hi int) {
		for b := lo; b < hi; b++ {
			part[b] = sumSq64(xv[b*sumBlock : min((b+1)*sumBlock, n)])
		}
	})
	var s float64
	for _, p := range part {
		s += p
	}
	return s
}
