package cpu

import (
	"math"

	"bloom/npu"
)

// Alloc returns n zeroed values.
func (d *Device) Alloc(n int) npu.Buf {
	dims("Alloc", n)
	return make(Buf, n)
}

// Write copies min(len(src), dst.Len()) values from host memory into dst and
// keeps neither.
func (d *Device) Write(dst npu.Buf, src []float32) { copy(Floats(dst), src) }

// Read copies min(len(dst), src.Len()) values of src into host memory and
// keeps neither.
func (d *Device) Read(dst []float32, src npu.Buf) { copy(dst, Floats(src)) }

// Copy copies min(dst.Len(), src.Len()) values; overlapping views are
// allowed.
func (d *Device) Copy(dst, src npu.Buf) { copy(Floats(dst), Floats(src)) }

// CopySpans implements npu.SpanCopier.
func (d *Device) CopySpans(dst, src npu.Buf, spans []npu.Span) {
	x, y := Floats(dst), Floats(src)
	for _, s := range spans {
		copy(x[s.Dst:s.Dst+s.N], y[s.Src:s.Src+s.N])
	}
}

// Fill sets every value of dst to v.
func (d *Device) Fill(dst npu.Buf, v float32) {
	x := Floats(dst)
	d.pool.parallelFor(len(x), 1<<16, func(lo, hi int) {
		y := x[lo:hi]
		if math.Float32bits(v) == 0 { // +0 only: -0 must keep its sign
			clear(y)
			return
		}
		for i := range y {
			y[i] = v
		}
	})
}
