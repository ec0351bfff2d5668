package cpu

import (
	"math"

	"bloom/npu"
)

// LayerNormForward normalizes in (rows,cols) into out with weight and bias
// (cols) and saves mean and rstd (rows). Mean and biased variance take two
// passes in float32; rstd = 1/√(var+eps).
func (d *Device) LayerNormForward(out, mean, rstd, in, weight, bias npu.Buf, rows, cols int, eps float32) {
	const op = "LayerNormForward"
	dims(op, rows, cols)
	y := view(op, "out", out, rows*cols)
	mu := view(op, "mean", mean, rows)
	rs := view(op, "rstd", rstd, rows)
	x := view(op, "in", in, rows*cols)
	w := view(op, "weight", weight, cols)
	b := view(op, "bias", bias, cols)
	if cols == 0 {
		return
	}
	n := float32(cols)
	d.pool.parallelFor(rows, rowGrain(cols), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr, yr := x[r*cols:(r+1)*cols], y[r*cols:(r+1)*cols]
			m := sum(xr) / n
			s := 1 / float32(math.Sqrt(float64(sumSqDev(xr, m)/n+eps)))
			for i, v := range xr {
				yr[i] = float32((v-m)*s)*w[i] + b[i]
			}
			mu[r], rs[r] = m, s
		}
	})
}

// LayerNormBackward adds into din (rows,cols), dweight and dbias (cols), as
// llm.c's layernorm_backward. din is computed row by row; dweight and dbias
// are summed over rows in order in float64, one goroutine per column range,
// so they do not depend on the thread count.
func (d *Device) LayerNormBackward(din, dweight, dbias, dout, in, weight, mean, rstd npu.Buf, rows, cols int) {
	const op = "LayerNormBackward"
	dims(op, rows, cols)
	dx := view(op, "din", din, rows*cols)
	dw := view(op, "dweight", dweight, cols)
	db := view(op, "dbias", dbias, cols)
	dy := view(op, "dout", dout, rows*cols)
	x := view(op, "in", in, rows*cols)
	w := view(op, "weight", weight, cols)
	mu := view(op, "mean", mean, rows)
	rs := view(op, "rstd", rstd, rows)
	if cols == 0 {
		return
	}
	n := float32(cols)
	d.pool.parallelFor(rows, rowGrain(cols), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr, dyr, dxr := x[r*cols:(r+1)*cols], dy[r*cols:(r+1)*cols], dx[r*cols:(r+1)*cols]
			m, s := mu[r], rs[r]
			var g0, g1, gn0, gn1 float32 // Σ dnorm and Σ dnorm·norm, two lanes each
			i := 0
			for ; i+2 <= cols; i += 2 {
				a, b := w[i]*dyr[i], w[i+1]*dyr[i+1]
				g0 += a
				g1 += b
				gn0 += a * float32((xr[i]-m)*s)
				gn1 += b * float32((xr[i+1]-m)*s)
			}
			if i < cols {
				a := w[i] * dyr[i]
				g0 += a
				gn0 += a * float32((xr[i]-m)*s)
			}
			g, gn := (g0+g1)/n, (gn0+gn1)/n
			for i, v := range xr {
				norm := float32((v - m) * s)
				dxr[i] += float32(float32(w[i]*dyr[i])-g-float32(norm*gn)) * s
			}
		}
	})
	d.pool.parallelFor(cols, colGrain(rows), func(lo, hi int) {
		var sw, sb [colChunk]float64
		for c0 := lo; c0 < hi; c0 += colChunk {
			c1 := min(c0+colChunk, hi)
			aw, ab := sw[:c1-c0], sb[:c1-c0]
			clear(aw)
			clear(ab)
			for r := range rows {
				m, s := mu[r], rs[r]
				xr, dyr := x[r*cols+c0:r*cols+c1], dy[r*cols+c0:r*cols+c1]
				for i, v := range xr {
					g := dyr[i]
					aw[i] += float64(float32((v-m)*s) * g)
					ab[i] += float64(g)
				}
			}
			for i := range aw {
				dw[c0+i] += float32(aw[i])
				db[c0+i] += float32(ab[i])
			}
		}
	})
}
