package cpu

import (
	"fmt"
	"math"

	"bloom/npu"
)

// checkIDs panics unless every id is a row of a table of v rows.
func checkIDs(op string, ids []int32, v int) {
	for i, id := range ids {
		if id < 0 || int(id) >= v {
			panic(fmt.Sprintf("cpu: %s: ids[%d] = %d is outside the table's %d rows", op, i, id, v))
		}
	}
}

// EmbeddingForward sets out[i] = table[ids[i]] for out (N,C) and table
// (V,C), N = len(ids) and V = table.Len()/C.
func (d *Device) EmbeddingForward(out, table npu.Buf, ids []int32, C int) {
	const op = "EmbeddingForward"
	dims(op, C)
	if C == 0 {
		return
	}
	tab := Floats(table)
	checkIDs(op, ids, len(tab)/C)
	o := view(op, "out", out, len(ids)*C)
	d.pool.parallelFor(len(ids), rowGrain(C), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			copy(o[i*C:(i+1)*C], tab[int(ids[i])*C:])
		}
	})
}

// EmbeddingBackward adds dout[i] (N,C) into dtable[ids[i]] (V,C). Each
// goroutine owns a range of columns and walks the ids in order, so repeated
// ids add up in the same order whatever the thread count.
func (d *Device) EmbeddingBackward(dtable, dout npu.Buf, ids []int32, C int) {
	const op = "EmbeddingBackward"
	dims(op, C)
	if C == 0 {
		return
	}
	dt := Floats(dtable)
	checkIDs(op, ids, len(dt)/C)
	dy := view(op, "dout", dout, len(ids)*C)
	d.pool.parallelFor(C, colGrain(len(ids)), func(lo, hi int) {
		for i, id := range ids {
			add(dt[int(id)*C+lo:int(id)*C+hi], dy[i*C+lo:i*C+hi])
		}
	})
}

// CrossEntropy writes losses[i] = −log softmax(logits[i])[targets[i]] for
// logits (N,V), or 0 where targets[i] == npu.IgnoreIndex, and, when dlogits
// is not nil, dlogits[i] = scale·(softmax(logits[i]) − onehot) or zeros for
// ignored rows. dlogits may alias logits. The log-sum-exp subtracts the row
// maximum and sums in float64. A target outside [0,V) other than the ignore
// index is a programmer error and panics.
func (d *Device) CrossEntropy(losses, dlogits, logits npu.Buf, targets []int32, N, V int, scale float32) {
	const op = "CrossEntropy"
	dims(op, N, V)
	if len(targets) < N {
		panic(fmt.Sprintf("cpu: %s: %d targets for %d rows", op, len(targets), N))
	}
	for i, t := range targets[:N] {
		if t != npu.IgnoreIndex && (t < 0 || int(t) >= V) {
			panic(fmt.Sprintf("cpu: %s: targets[%d] = %d is outside [0,%d) and is not the ignore index %d", op, i, t, V, npu.IgnoreIndex))
		}
	}
	loss := view(op, "losses", losses, N)
	x := view(op, "logits", logits, N*V)
	var dx []float32
	if dlogits != nil {
		dx = view(op, "dlogits", dlogits, N*V)
	}
	d.pool.parallelFor(N, rowGrain(V), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			var dr []float32
			if dx != nil {
				dr = dx[i*V : (i+1)*V]
			}
			loss[i] = crossEntropyRow(dr, x[i*V:(i+1)*V], int(targets[i]), scale)
		}
	})
}

// crossEntropyRow returns the loss of one row and, when dx is not nil, writes
// its gradient there; dx may alias x.
func crossEntropyRow(dx, x []float32, t int, scale float32) float32 {
	if t == npu.IgnoreIndex {
		clear(dx)
		return 0
	}
	xt := x[t] // read before dx, which may alias x, is written
	m := maxOf(x)
	s := expSum(dx, x, m)
	if dx != nil {
		c := float32(float64(scale) / s)
		for i, e := range dx {
			dx[i] = e * c
		}
		dx[t] = float32(float64(exp32(xt-m))*float64(c) - float64(scale))
	}
	return float32(float64(m) + math.Log(s) - float64(xt))
}
