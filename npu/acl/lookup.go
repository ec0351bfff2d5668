//go:build ascend && cgo

package acl

import (
	"fmt"
	"math"

	"bloom/npu"
)

// Embedding gathers with aclnnEmbedding and scatters with
// aclnnEmbeddingDenseBackward. A device returns garbage for an index past
// the table, silently, so ids are checked or remapped on the host before
// they are uploaded (as INT32): an id outside a vocabulary shard reads row
// 0 and has its output zeroed, and in the backward names an extra padding
// row that is never added.

// checkIDs panics unless every id is a row of a table of v rows.
func checkIDs(op string, ids []int32, v int) {
	for i, id := range ids {
		if id < 0 || int(id) >= v {
			panic(fmt.Sprintf("acl: %s: ids[%d] = %d is outside the table's %d rows", op, i, id, v))
		}
	}
}

// shard remaps ids for the rows [lo, lo+V) of a table: local ids become
// their row, the others miss (a row ≥ V is never valid; the caller picks
// it). It returns the remapped ids, which ids are not local, and how many
// are.
func shard(ids []int32, lo, V int, miss int32) (rows []int32, other []bool, local int) {
	rows, other = make([]int32, len(ids)), make([]bool, len(ids))
	for i, id := range ids {
		if r := int(id) - lo; r >= 0 && r < V {
			rows[i] = int32(r)
			local++
			continue
		}
		rows[i], other[i] = miss, true
	}
	return rows, other, local
}

// EmbeddingForward sets out[i] = table[ids[i]] for out (N,C), table (V,C).
func (d *Device) EmbeddingForward(out, table npu.Buf, ids []int32, C int) {
	const op = "EmbeddingForward"
	dims(op, C)
	if C == 0 {
		return
	}
	checkIDs(op, ids, d.f32(op, "table", table, 0).n/C)
	d.EmbeddingForwardRange(out, table, ids, 0, C)
}

// EmbeddingBackward adds dout[i] into dtable[ids[i]].
func (d *Device) EmbeddingBackward(dtable, dout npu.Buf, ids []int32, C int) {
	const op = "EmbeddingBackward"
	dims(op, C)
	if C == 0 {
		return
	}
	checkIDs(op, ids, d.f32(op, "dtable", dtable, 0).n/C)
	d.EmbeddingBackwardRange(dtable, dout, ids, 0, C)
}

// EmbeddingForwardRange sets out[i] = table[ids[i]−lo] for the ids in the
// shard and zeros for the others.
func (d *Device) EmbeddingForwardRange(out, table npu.Buf, ids []int32, lo, C int) {
	const op = "EmbeddingForwardRange"
	dims(op, C, lo)
	if C == 0 || len(ids) == 0 {
		return
	}
	N := len(ids)
	tab := d.f32(op, "table", table, 0)
	V := tab.n / C
	o := d.f32(op, "out", out, N*C)
	rows, other, local := shard(ids, lo, V, 0)
	d.kernel(op, func(a *arena) {
		ot := a.t(o, N, C)
		if local == 0 {
			a.fill(ot, 0)
			return
		}
		a.embedding(a.t(tab, V, C), a.ints(rows, N), ot)
		if local < N {
			a.maskedFill(ot, a.bools(other, N, 1), 0)
		}
	})
}

// EmbeddingBackwardRange adds dout[i] (N,C) into dtable[ids[i]−lo] for the
// ids in the shard: the scatter writes a table of V+1 rows whose last is
// the padding row the other ids name, and the first V rows are added.
func (d *Device) EmbeddingBackwardRange(dtable, dout npu.Buf, ids []int32, lo, C int) {
	const op = "EmbeddingBackwardRange"
	dims(op, C, lo)
	if C == 0 || len(ids) == 0 {
		return
	}
	N := len(ids)
	dt := d.f32(op, "dtable", dtable, 0)
	V := dt.n / C
	dy := d.f32(op, "dout", dout, N*C)
	rows, _, local := shard(ids, lo, V, int32(V))
	if local == 0 {
		return
	}
	d.kernel(op, func(a *arena) {
		g := a.tmp((V + 1) * C)
		a.scatterAdd(a.t(dy, N, C), a.ints(rows, N), V+1, V, a.t(g, V+1, C))
		a.addTo(a.t(dt, V, C), a.t(g, V, C), 1)
	})
}

// checkTargets panics on a target outside [0, V) that is not the ignore
// index (V < 0: any non-negative target).
func checkTargets(op string, targets []int32, N, V int) {
	if len(targets) < N {
		panic(fmt.Sprintf("acl: %s: %d targets for %d rows", op, len(targets), N))
	}
	for i, t := range targets[:N] {
		if t != npu.IgnoreIndex && (t < 0 || V >= 0 && int(t) >= V) {
			panic(fmt.Sprintf("acl: %s: targets[%d] = %d is not a class and not the ignore index %d", op, i, t, npu.IgnoreIndex))
		}
	}
}

// flatTargets returns, for logits (N,V) seen as one column of N·V values,
// the index of each row's target among them where the target is in
// [lo, lo+V), else miss; which rows are ignored; which rows' targets are
// elsewhere (ignored included); and how many are here.
func flatTargets(targets []int32, lo, N, V int, miss int32) (idx []int32, ignored, elsewhere []bool, here int) {
	if int64(N)*int64(V) >= math.MaxInt32 {
		panic(fmt.Sprintf("acl: logits of %d×%d values are too many for INT32 indices", N, V))
	}
	idx, ignored, elsewhere = make([]int32, N), make([]bool, N), make([]bool, N)
	for i, t := range targets[:N] {
		ignored[i] = t == npu.IgnoreIndex
		if r := int(t) - lo; !ignored[i] && r >= 0 && r < V {
			idx[i] = int32(i*V + r)
			here++
			continue
		}
		idx[i], elsewhere[i] = miss, true
	}
	return idx, ignored, elsewhere, here
}

// oneHotSub adds −scale at each row's target in dl (N,V): a scatter of the
// column −scale (N,1) into N·V+1 values, whose last is the padding that
// rows without a target here name, then an add. It then zeroes the ignored
// rows.
func (a *arena) oneHotSub(dl Buf, targets []int32, lo, N, V int, scale float32) {
	idx, ignored, _, here := flatTargets(targets, lo, N, V, int32(N*V))
	if here > 0 {
		col, g := a.tmp(N), a.tmp(N*V+1)
		a.fill(a.t(col, N, 1), -scale)
		a.scatterAdd(a.t(col, N, 1), a.ints(idx, N), N*V+1, N*V, a.t(g, N*V+1, 1))
		a.addTo(a.t(dl, N*V), a.t(g, N*V), 1)
	}
	for _, ig := range ignored {
		if ig {
			a.maskedFill(a.t(dl, N, V), a.bools(ignored, N, 1), 0)
			break
		}
	}
}

// CrossEntropy writes the losses with LogSoftmax and NLLLoss (reduction
// none, the ignore index -100), and dlogits = scale·(softmax − onehot) as
// scale·exp(log-softmax) with −scale scattered at the targets (see
// oneHotSub). dlogits may alias logits: the log-softmax is computed first,
// into scratch memory.
func (d *Device) CrossEntropy(losses, dlogits, logits npu.Buf, targets []int32, N, V int, scale float32) {
	const op = "CrossEntropy"
	dims(op, N, V)
	checkTargets(op, targets, N, V)
	loss, x := d.f32(op, "losses", losses, N), d.f32(op, "logits", logits, N*V)
	var dl Buf
	if dlogits != nil {
		dl = d.f32(op, "dlogits", dlogits, N*V)
	}
	if N == 0 || V == 0 {
		return
	}
	tg := make([]int64, N)
	for i, t := range targets[:N] {
		tg[i] = int64(t)
	}
	d.kernel(op, func(a *arena) {
		lp, w, total := a.tmp(N*V), a.tmp(V), a.tmp(1)
		lpt, wt := a.t(lp, N, V), a.t(w, V)
		a.logSoftmax(a.t(x, N, V), lpt)
		a.fill(wt, 1)
		a.nllLoss(lpt, a.int64s(tg, N), wt, a.t(loss, N), a.t(total, 1))
		if dlogits == nil {
			return
		}
		dt := a.t(dl, N, V)
		a.exp(lpt, dt)
		a.scale(dt, scale)
		a.oneHotSub(dl, targets, 0, N, V, scale)
	})
}

// CrossEntropyMax writes rowMax[i] = max_j logits[i,j] with aclnnAmax.
func (d *Device) CrossEntropyMax(rowMax, logits npu.Buf, N, V int) {
	const op = "CrossEntropyMax"
	dims(op, N, V)
	m, x := d.f32(op, "rowMax", rowMax, N), d.f32(op, "logits", logits, N*V)
	if N == 0 {
		return
	}
	d.kernel(op, func(a *arena) {
		if V == 0 {
			a.fill(a.t(m, N), float32(math.Inf(-1)))
			return
		}
		a.amax(a.t(x, N, V), 1, a.t(m, N))
	})
}

// CrossEntropySums writes sumExp[i] = Σ_j e^(logits[i,j]−rowMax[i]) (Sub,
// Exp, ReduceSum: a float32 sum) and target[i] = logits[i, targets[i]−lo]
// where the target is in the shard, else 0 (a gather from the logits seen
// as one column, then a masked fill).
func (d *Device) CrossEntropySums(sumExp, target, logits, rowMax npu.Buf, targets []int32, lo, N, V int) {
	const op = "CrossEntropySums"
	dims(op, N, V, lo)
	checkTargets(op, targets, N, -1)
	s, tg := d.f32(op, "sumExp", sumExp, N), d.f32(op, "target", target, N)
	x, m := d.f32(op, "logits", logits, N*V), d.f32(op, "rowMax", rowMax, N)
	if N == 0 {
		return
	}
	idx, _, elsewhere, here := flatTargets(targets, lo, N, V, 0)
	d.kernel(op, func(a *arena) {
		if V == 0 {
			a.fill(a.t(s, N), 0)
			a.fill(a.t(tg, N), 0)
			return
		}
		e := a.tmp(N * V)
		et := a.t(e, N, V)
		a.sub(a.t(x, N, V), a.t(m, N, 1), 1, et)
		a.exp(et, et)
		a.sum(et, 1, a.t(s, N))
		tt := a.t(tg, N, 1)
		if here == 0 {
			a.fill(tt, 0)
			return
		}
		a.embedding(a.t(x, N*V, 1), a.ints(idx, N), tt)
		if here < N {
			a.maskedFill(tt, a.bools(elsewhere, N, 1), 0)
		}
	})
}

// CrossEntropyBackwardRange writes dlogits = scale·(e^(logits−rowMax)/sumExp
// − onehot), zeros for ignored rows: Sub, Exp, Div, Muls, then oneHotSub.
// dlogits may alias logits, which are read first.
func (d *Device) CrossEntropyBackwardRange(dlogits, logits, rowMax, sumExp npu.Buf, targets []int32, lo, N, V int, scale float32) {
	const op = "CrossEntropyBackwardRange"
	dims(op, N, V, lo)
	checkTargets(op, targets, N, -1)
	dl, x := d.f32(op, "dlogits", dlogits, N*V), d.f32(op, "logits", logits, N*V)
	m, s := d.f32(op, "rowMax", rowMax, N), d.f32(op, "sumExp", sumExp, N)
	if N*V == 0 {
		return
	}
	d.kernel(op, func(a *arena) {
		e := a.tmp(N * V)
		et, dt := a.t(e, N, V), a.t(dl, N, V)
		a.sub(a.t(x, N, V), a.t(m, N, 1), 1, et)
		a.exp(et, et)
		a.div(et, a.t(s, N, 1), dt)
		a.scale(dt, scale)
		a.oneHotSub(dl, targets, lo, N, V, scale)
	})
}
