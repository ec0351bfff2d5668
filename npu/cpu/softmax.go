package cpu

import "bloom/npu"

// SoftmaxForward sets each row of out (rows,cols) to the softmax of the row
// of in. The row maximum is subtracted in float32; exponentials and their sum
// are taken in float64 and rounded once. out may alias in.
func (d *Device) SoftmaxForward(out, in npu.Buf, rows, cols int) {
	const op = "SoftmaxForward"
	dims(op, rows, cols)
	y := view(op, "out", out, rows*cols)
	x := view(op, "in", in, rows*cols)
	d.pool.parallelFor(rows, rowGrain(cols), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			softmaxRow(y[r*cols:(r+1)*cols], x[r*cols:(r+1)*cols])
		}
	})
}

// softmaxRow sets y = softmax(x); y may alias x.
func softmaxRow(y, x []float32) {
	inv := 1 / expSum(y, x, maxOf(x))
	for i, v := range y {
		y[i] = float32(float64(v) * inv)
	}
}

// SoftmaxBackward adds out ⊙ (dout − Σ dout⊙out) into din, row by row.
func (d *Device) SoftmaxBackward(din, out, dout npu.Buf, rows, cols int) {
	const op = "SoftmaxBackward"
	dims(op, rows, cols)
	dx := view(op, "din", din, rows*cols)
	y := view(op, "out", out, rows*cols)
	dy := view(op, "dout", dout, rows*cols)
	d.pool.parallelFor(rows, rowGrain(cols), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			yr, dyr, dxr := y[r*cols:(r+1)*cols], dy[r*cols:(r+1)*cols], dx[r*cols:(r+1)*cols]
			s := dot(dyr, yr)
			for i, v := range yr {
				dxr[i] += v * (dyr[i] - s)
			}
		}
	})
}
