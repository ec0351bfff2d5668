package cpu

import (
	"fmt"

	"bloom/npu"
)

// stored is the shape of a matrix as memory holds it: op(X) is rows×cols,
// so X is cols×rows when transposed.
func stored(trans bool, rows, cols int) (int, int) {
	if trans {
		return cols, rows
	}
	return rows, cols
}

// Gemm computes C = alpha·op(A)·op(B) + beta·C (see npu.Linear). Sizes and
// leading dimensions are checked against the buffers' lengths; a mismatch is
// a programmer error and panics.
func (d *Device) Gemm(transA, transB bool, m, n, k int, alpha float32, a npu.Buf, lda int, b npu.Buf, ldb int, beta float32, c npu.Buf, ldc int) {
	const op = "Gemm"
	dims(op, m, n, k)
	ar, ac := stored(transA, m, k)
	br, bc := stored(transB, k, n)
	av := view(op, "a", a, matLen(op, "a", ar, ac, lda))
	bv := view(op, "b", b, matLen(op, "b", br, bc, ldb))
	cv := view(op, "c", c, matLen(op, "c", m, n, ldc))
	if m == 0 || n == 0 {
		return
	}
	sgemm(d.pool, transA, transB, m, n, k, alpha, av, lda, bv, ldb, beta, cv, ldc)
}

// matLen returns the values a row-major rows×cols matrix with leading
// dimension ld spans, or panics when ld is too small.
func matLen(op, name string, rows, cols, ld int) int {
	if ld < max(cols, 1) {
		panic(fmt.Sprintf("cpu: %s: leading dimension of %s is %d, need at least %d", op, name, ld, max(cols, 1)))
	}
	if rows == 0 || cols == 0 {
		return 0
	}
	return (rows-1)*ld + cols
}

// AddBias adds bias (cols) to every row of out (rows,cols).
func (d *Device) AddBias(out, bias npu.Buf, rows, cols int) {
	const op = "AddBias"
	dims(op, rows, cols)
	o := view(op, "out", out, rows*cols)
	b := view(op, "bias", bias, cols)
	d.pool.parallelFor(rows, rowGrain(cols), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			add(o[r*cols:(r+1)*cols], b)
		}
	})
}

// BiasBackward adds the column sums of dout (rows,cols) into dbias (cols).
// Each column is summed over rows in order in float64 by one goroutine, so
// the result does not depend on the thread count.
func (d *Device) BiasBackward(dbias, dout npu.Buf, rows, cols int) {
	const op = "BiasBackward"
	dims(op, rows, cols)
	db := view(op, "dbias", dbias, cols)
	dy := view(op, "dout", dout, rows*cols)
	d.pool.parallelFor(cols, colGrain(rows), func(lo, hi int) {
		var acc [colChunk]float64
		for c0 := lo; c0 < hi; c0 += colChunk {
			c1 := min(c0+colChunk, hi)
			s := acc[:c1-c0]
			clear(s)
			for r := range rows {
				for i, v := range dy[r*cols+c0 : r*cols+c1] {
					s[i] += float64(v)
				}
			}
			for i, v := range s {
				db[c0+i] += float32(v)
			}
		}
	})
}

// colChunk is how many columns a column reduction sums at once; its partial
// sums live on the stack.
const colChunk = 64

// colGrain is the least number of columns of rows values worth a goroutine:
// at least a cache line's worth, so goroutines do not share lines.
func colGrain(rows int) int { return max(16, grain/max(rows, 1)) }
