package cpu

import (
	"fmt"

	"bloom/npu"
)

// The vocab-parallel kernels: embedding and cross-entropy over the rows
// [lo, lo+V) of a vocabulary split across tensor-parallel ranks.

// EmbeddingForwardRange sets out[i] = table[ids[i]−lo] for out (N,C) and
// table (V,C) where lo ≤ ids[i] < lo+V, and zeros for the other ids.
func (d *Device) EmbeddingForwardRange(out, table npu.Buf, ids []int32, lo, C int) {
	const op = "EmbeddingForwardRange"
	dims(op, C, lo)
	if C == 0 {
		return
	}
	tab := Floats(table)
	V := len(tab) / C
	o := view(op, "out", out, len(ids)*C)
	d.pool.parallelFor(len(ids), rowGrain(C), func(a, b int) {
		for i := a; i < b; i++ {
			row := o[i*C : (i+1)*C]
			if r := int(ids[i]) - lo; r >= 0 && r < V {
				copy(row, tab[r*C:])
			} else {
				clear(row)
			}
		}
	})
}

// EmbeddingBackwardRange adds dout[i] (N,C) into dtable[ids[i]−lo] for the
// ids in [lo, lo+V) and skips the others. As EmbeddingBackward, each
// goroutine owns a range of columns and walks the ids in order.
func (d *Device) EmbeddingBackwardRange(dtable, dout npu.Buf, ids []int32, lo, C int) {
	const op = "EmbeddingBackwardRange"
	dims(op, C, lo)
	if C == 0 {
		return
	}
	dt := Floats(dtable)
	V := len(dt) / C
	dy := view(op, "dout", dout, len(ids)*C)
	d.pool.parallelFor(C, colGrain(len(ids)), func(a, b int) {
		for i, id := range ids {
			if r := int(id) - lo; r >= 0 && r < V {
				add(dt[r*C+a:r*C+b], dy[i*C+a:i*C+b])
			}
		}
	})
}

// CrossEntropyMax writes rowMax[i] = max_j logits[i,j] for logits (N,V).
func (d *Device) CrossEntropyMax(rowMax, logits npu.Buf, N, V int) {
	const op = "CrossEntropyMax"
	dims(op, N, V)
	m := view(op, "rowMax", rowMax, N)
	x := view(op, "logits", logits, N*V)
	d.pool.parallelFor(N, rowGrain(V), func(a, b int) {
		for i := a; i < b; i++ {
			m[i] = maxOf(x[i*V : (i+1)*V])
		}
	})
}

// checkTargets panics on a target that is neither a vocabulary row nor the
// ignore index.
func checkTargets(op string, targets []int32, N int) {
	if len(targets) < N {
		panic(fmt.Sprintf("cpu: %s: %d targets for %d rows", op, len(targets), N))
	}
	for i, t := range targets[:N] {
		if t < 0 && t != npu.IgnoreIndex {
			panic(fmt.Sprintf("cpu: %s: targets[%d] = %d is negative and is not the ignore index %d", op, i, t, npu.IgnoreIndex))
		}
	}
}

// CrossEntropySums writes sumExp[i] = Σ_j e^(logits[i,j]−rowMax[i]),
// accumulated in float64 as CrossEntropy does, and target[i] =
// logits[i, targets[i]−lo] where the target is in the shard, else 0.
func (d *Device) CrossEntropySums(sumExp, target, logits, rowMax npu.Buf, targets []int32, lo, N, V int) {
	const op = "CrossEntropySums"
	dims(op, N, V, lo)
	checkTargets(op, targets, N)
	s := view(op, "sumExp", sumExp, N)
	tg := view(op, "target", target, N)
	x := view(op, "logits", logits, N*V)
	m := view(op, "rowMax", rowMax, N)
	d.pool.parallelFor(N, rowGrain(V), func(a, b int) {
		for i := a; i < b; i++ {
			row := x[i*V : (i+1)*V]
			s[i] = float32(expSum(nil, row, m[i]))
			tg[i] = 0
			if t := int(targets[i]) - lo; targets[i] != npu.IgnoreIndex && t >= 0 && t < V {
				tg[i] = row[t]
			}
		}
	})
}

// CrossEntropyBackwardRange writes dlogits[i,j] =
// scale·(e^(logits[i,j]−rowMax[i])/sumExp[i] − [lo+j = targets[i]]), zeros for
// ignored rows. dlogits may alias logits. The arithmetic is CrossEntropy's,
// with the sum read from sumExp.
func (d *Device) CrossEntropyBackwardRange(dlogits, logits, rowMax, sumExp npu.Buf, targets []int32, lo, N, V int, scale float32) {
	const op = "CrossEntropyBackwardRange"
	dims(op, N, V, lo)
	checkTargets(op, targets, N)
	dx := view(op, "dlogits", dlogits, N*V)
	x := view(op, "logits", logits, N*V)
	m := view(op, "rowMax", rowMax, N)
	s := view(op, "sumExp", sumExp, N)
	d.pool.parallelFor(N, rowGrain(V), func(a, b int) {
		for i := a; i < b; i++ {
			dr := dx[i*V : (i+1)*V]
			if targets[i] == npu.IgnoreIndex {
				clear(dr)
				continue
			}
			t := int(targets[i]) - lo
			var xt float32
			if t >= 0 && t < V {
				xt = x[i*V+t] // read before dr, which may alias x, is written
			}
			expSum(dr, x[i*V:(i+1)*V], m[i])
			c := float32(float64(scale) / float64(s[i]))
			for j, e := range dr {
				dr[j] = e * c
			}
			if t >= 0 && t < V {
				dr[t] = float32(float64(exp32(xt-m[i]))*float64(c) - float64(scale))
			}
		}
	})
}
