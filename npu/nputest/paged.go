package nputest

import (
	"fmt"
	"math"

	"bloom/npu"
)

// testPagedAttention checks PagedAttention on devices that have it (an
// optional capability): sequences of different lengths in scattered blocks
// of one pool, a sequence of one position, lengths that end inside a block
// and on its edge, head dimensions that are and are not multiples of 8
// (vector and scalar paths). Each sequence's output is checked against the
// float64 reference of AttentionForward's decode over its keys gathered,
// with the same bounds; pool blocks no sequence holds are NaN, so a read of
// them shows; a second run gives the same bits, and so does a sequence
// decoded alone; rows that are positions of one sequence (checkPagedPrompt).
func testPagedAttention(e *env) {
	pa, ok := e.dev.(npu.PagedAttender)
	if !ok {
		e.t.Skip("the device gathers paged keys and values before AttentionForward (no PagedAttender)")
	}
	for _, c := range []struct {
		name         string
		NH, HD, Size int
		lens         []int
	}{
		{"vector rows", 3, 8, 4, []int{5, 1, 8, 13}},
		{"scalar rows", 2, 5, 4, []int{7, 4, 1}},
		{"wide heads", 2, 40, 16, []int{17, 33, 16}},
		{"BLOOM head", 1, 128, 16, []int{40}},
	} {
		e.run(c.name, func(e *env) { checkPaged(e, pa, c.NH, c.HD, c.Size, c.lens) })
	}
	e.run("one sequence's positions", func(e *env) { checkPagedPrompt(e, pa) })
	hp, ok := e.dev.(npu.HalfPagedAttender)
	if !ok {
		return // pools of float32 only
	}
	for _, t := range halfTypes {
		e.run("half pool "+t.String(), func(e *env) { checkPagedHalf(e, hp, t) })
	}
}

// checkPagedHalf: a pool of half values (lone rows and one sequence's
// positions together; head dimensions that are and are not multiples of 8,
// and wider than 32; blocks of 4 and of 16 positions) gives the bits
// PagedAttention gives over the same pool widened to float32; PutHalf
// rounds each span as ToHalf does and writes nothing else.
func checkPagedHalf(e *env, hp npu.HalfPagedAttender, t npu.DType) {
	for _, c := range []struct{ HD, Size int }{{8, 4}, {5, 4}, {40, 4}, {40, 16}} {
		const NH, N = 2, 12
		HD, Size := c.HD, c.Size
		s := npu.PagedShape{NH: NH, HD: HD, Size: Size, N: N, Slopes: []float32{0.5, 0.25}}
		order := e.rng.Perm(N)
		table := func(blocks int) []int32 {
			t := make([]int32, blocks)
			for i := range t {
				t[i], order = int32(order[0]), order[1:]
			}
			return t
		}
		seq := table(4)
		s.Tables = [][]int32{table(2), seq, seq, seq, table(1), table(3)}
		s.Lens = []int{7, 16, 14, 15, 1, 9}
		if Size == 16 { // blocks of 16: full and partial, several per row
			s.Lens = []int{23, 64, 50, 61, 1, 40}
		}
		s.Rows = len(s.Lens)
		per := N * NH * Size * HD
		wide := e.normal(2*per, 0, 1)
		for i := range wide {
			wide[i] *= 300 // beyond bf16's precision and near fp16's range
		}
		bits := toHalf(t, wide)
		wide = fromHalf(t, bits) // the pool as the device reads it
		q := e.normal(s.Rows*NH*HD, 0, 1)
		out := func(f func(o npu.Buf)) []float32 {
			o := e.buf(e.normal(len(q), 0, 1))
			f(o)
			return e.get(o)
		}
		qb := e.buf(q)
		want := out(func(o npu.Buf) { hp.PagedAttention(o, qb, e.buf(wide[:per]), e.buf(wide[per:]), s) })
		got := out(func(o npu.Buf) {
			hp.PagedAttentionHalf(o, qb, e.hbuf(t, bits[:per]), e.hbuf(t, bits[per:]), s)
		})
		e.same(fmt.Sprintf("HD %d, blocks of %d: out over the half pool", HD, Size), got, want)
	}
	// PutHalf: three spans of src into a pool of sentinels.
	src := e.normal(40, 0, 100)
	dst := make([]uint16, 64)
	for i := range dst {
		dst[i] = halfSentinel
	}
	db := e.hbuf(t, dst)
	spans := []npu.Span{{Dst: 3, Src: 0, N: 8}, {Dst: 40, Src: 20, N: 13}, {Dst: 11, Src: 39, N: 1}}
	hp.PutHalf(db, e.buf(src), spans)
	got := e.hget(db)
	for _, sp := range spans {
		e.sameRounded("PutHalf's span", t, src[sp.Src:sp.Src+sp.N], got[sp.Dst:sp.Dst+sp.N])
		for i := range sp.N {
			got[sp.Dst+i] = halfSentinel
		}
	}
	e.sameBits("values outside the spans", got, dst)
}

// checkPagedPrompt: rows that are positions of one sequence (the same
// table slice, lengths in any order, one repeated) beside a row of another
// sequence, as a prompt prefilled within a decoding step; each row against
// the reference over its own first keys; the same bits in a second run and
// for the rows of a smaller group.
func checkPagedPrompt(e *env, pa npu.PagedAttender) {
	const NH, HD, Size, n = 2, 8, 4, 23
	slopes := []float32{0.5, 0.25}
	order := e.rng.Perm(10)
	seq := make([]int32, (n+Size-1)/Size)
	for i := range seq {
		seq[i] = int32(order[i])
	}
	other := []int32{int32(order[len(seq)])}
	s := npu.PagedShape{NH: NH, HD: HD, Size: Size, N: 10, Slopes: slopes}
	s.Tables, s.Lens = append(s.Tables, other), append(s.Lens, 3) // another sequence's row first
	for _, l := range []int{n, 17, 18, n, 19, 21, 20, 22} {
		s.Tables, s.Lens = append(s.Tables, seq), append(s.Lens, l)
	}
	s.Rows = len(s.Lens)
	per := NH * Size * HD
	k, v := make([]float32, s.N*per), make([]float32, s.N*per)
	for i := range k {
		k[i], v[i] = float32(math.NaN()), float32(math.NaN())
	}
	fill := func(table []int32, n int) (dk, dv []float32) {
		dk, dv = e.normal(NH*n*HD, 0, 1), e.normal(NH*n*HD, 0, 1)
		for h := range NH {
			for j := range n {
				at := ((int(table[j/Size])*NH+h)*Size + j%Size) * HD
				copy(k[at:at+HD], dk[(h*n+j)*HD:(h*n+j+1)*HD])
				copy(v[at:at+HD], dv[(h*n+j)*HD:(h*n+j+1)*HD])
			}
		}
		return dk, dv
	}
	ok, ov := fill(other, 3)
	sk, sv := fill(seq, n)
	q := e.normal(s.Rows*NH*HD, 0, 1)
	want, bound := make([]float64, len(q)), make([]float64, len(q))
	for r, l := range s.Lens {
		dk, dv, m := sk, sv, n
		if r == 0 {
			dk, dv, m = ok, ov, 3
		}
		// The row's first l keys of each head, dense (1,NH,l,HD).
		rk, rv := make([]float32, NH*l*HD), make([]float32, NH*l*HD)
		for h := range NH {
			copy(rk[h*l*HD:(h+1)*l*HD], dk[h*m*HD:(h*m+l)*HD])
			copy(rv[h*l*HD:(h+1)*l*HD], dv[h*m*HD:(h*m+l)*HD])
		}
		dense := npu.AttentionShape{B: 1, Tq: 1, Tk: l, NH: NH, HD: HD, Cap: l, Slopes: slopes}
		ref := newAttnRef(dense, f64(q[r*NH*HD:(r+1)*NH*HD]), f64(rk), f64(rv), e.opt.gemmTerm())
		copy(want[r*NH*HD:], ref.out)
		copy(bound[r*NH*HD:], ref.outBound)
	}
	kb, vb := e.buf(k), e.buf(v)
	run := func(s npu.PagedShape, q []float32) []float32 {
		ob := e.buf(e.normal(len(q), 0, 1))
		pa.PagedAttention(ob, e.buf(q), kb, vb, s)
		return e.get(ob)
	}
	out := run(s, q)
	e.within("out", out, want, bound)
	e.same("out of a second run", run(s, q), out)
	small := s // the last three positions' rows alone
	small.Rows, small.Tables, small.Lens = 3, s.Tables[s.Rows-3:], s.Lens[s.Rows-3:]
	e.same("rows of a smaller group", run(small, q[(s.Rows-3)*NH*HD:]), out[(s.Rows-3)*NH*HD:])
}

func checkPaged(e *env, pa npu.PagedAttender, NH, HD, Size int, lens []int) {
	s := npu.PagedShape{Rows: len(lens), NH: NH, HD: HD, Size: Size, Lens: lens}
	for h := range NH {
		s.Slopes = append(s.Slopes, float32(math.Pow(0.5, float64(h+1))))
	}
	held := 0
	for _, n := range lens {
		held += (n + Size - 1) / Size
	}
	s.N = held + 3 // blocks no sequence holds
	order := e.rng.Perm(s.N)
	for _, n := range lens {
		nb := (n + Size - 1) / Size
		t := make([]int32, nb)
		for i := range t {
			t[i], order = int32(order[0]), order[1:]
		}
		s.Tables = append(s.Tables, t)
	}
	per := NH * Size * HD
	k, v := make([]float32, s.N*per), make([]float32, s.N*per)
	for i := range k {
		k[i], v[i] = float32(math.NaN()), float32(math.NaN())
	}
	q := e.normal(s.Rows*NH*HD, 0, 1)
	want, bound := make([]float64, len(q)), make([]float64, len(q))
	for r, n := range lens {
		// The sequence's keys and values, dense (1,NH,n,HD), also written
		// into its blocks; its query alone; the reference over them.
		dk, dv := e.normal(NH*n*HD, 0, 1), e.normal(NH*n*HD, 0, 1)
		for h := range NH {
			for j := range n {
				at := ((int(s.Tables[r][j/Size])*NH+h)*Size + j%Size) * HD
				copy(k[at:at+HD], dk[(h*n+j)*HD:(h*n+j+1)*HD])
				copy(v[at:at+HD], dv[(h*n+j)*HD:(h*n+j+1)*HD])
			}
		}
		dense := npu.AttentionShape{B: 1, Tq: 1, Tk: n, NH: NH, HD: HD, Cap: n, Slopes: s.Slopes}
		ref := newAttnRef(dense, f64(q[r*NH*HD:(r+1)*NH*HD]), f64(dk), f64(dv), e.opt.gemmTerm())
		copy(want[r*NH*HD:], ref.out)
		copy(bound[r*NH*HD:], ref.outBound)
	}
	kb, vb := e.buf(k), e.buf(v)
	out0 := e.normal(len(q), 0, 1) // every value must be overwritten
	run := func(s npu.PagedShape, q []float32) []float32 {
		ob := e.buf(out0[:len(q)])
		pa.PagedAttention(ob, e.buf(q), kb, vb, s)
		return e.get(ob)
	}
	out := run(s, q)
	e.within("out", out, want, bound)
	e.same("out of a second run", run(s, q), out)
	last := s.Rows - 1
	alone := s
	alone.Rows, alone.Tables, alone.Lens = 1, s.Tables[last:], s.Lens[last:]
	e.same("a sequence alone", run(alone, q[last*NH*HD:]), out[last*NH*HD:])
}
