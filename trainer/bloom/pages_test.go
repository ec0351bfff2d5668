package bloom

import (
	"errors"
	"testing"

	"bloom/npu"
	"bloom/npu/cpu"
)

// TestDecodePages: sequences of different lengths, stored in scattered
// blocks of a shared pool and decoded together, get each step the logits
// each gets decoded alone in a cache of its own (within float32 rounding:
// a row's masked prefix changes how the softmax's sums group) and so the
// same greedy tokens; a sequence whose blocks are full is refused. Both
// ways: attending over the blocks in place and gathering them first.
func TestDecodePages(t *testing.T) {
	// In place on the CPU device (a PagedAttender); gathered on a device
	// without that capability.
	for name, dev := range map[string]npu.Device{"in place": cpu.New(1), "gathered": struct{ npu.Device }{cpu.New(1)}} {
		t.Run(name, func(t *testing.T) { decodePages(t, dev, npu.F32) })
	}
	for _, kv := range []npu.DType{npu.F16, npu.BF16} {
		t.Run("in place, "+kv.String(), func(t *testing.T) { decodePages(t, cpu.New(1), kv) })
	}
	m, err := New(struct{ npu.Device }{cpu.New(1)}, Config{Vocab: 64, Hidden: 32, Heads: 4, Layers: 3, Eps: 1e-5})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.NewHalfPages(npu.F16, 16, 4); !errors.Is(err, ErrInput) {
		t.Errorf("a half pool on a device that cannot attend over one: %v", err)
	}
	m, err = New(cpu.New(1), Config{Vocab: 64, Hidden: 32, Heads: 4, Layers: 3, Eps: 1e-5})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.NewHalfPages(npu.F32, 16, 4); !errors.Is(err, ErrInput) {
		t.Errorf("a half pool of fp32: %v", err)
	}
}

// logitTol is how far a logit decoded over pages of type kv may be from
// the one decoded alone in float32: float32 rounding, or, for a half pool,
// the error of keys and values rounded to it. A value rounded to a type of
// p significand bits moves by at most u = 2^-p of itself; an attention
// output (a convex combination of values) by u of the largest value, and
// each score by u·|q|·|k|, which moves the probabilities by about as much
// relatively. Through three layers of weights of this size the logits
// move by a fraction of u of their scale (measured: under 0.5u·max|logit|
// for both types); the bound is 8u·max|logit|.
func logitTol(kv npu.DType, scale float32) float32 {
	switch kv {
	case npu.F16:
		return 8 * scale / (1 << 11)
	case npu.BF16:
		return 8 * scale / (1 << 8)
	}
	return 1e-5
}

func decodePages(t *testing.T, dev npu.Device, kv npu.DType) {
	c := Config{Vocab: 64, Hidden: 32, Heads: 4, Layers: 3, Eps: 1e-5}
	m, err := New(dev, c)
	if err != nil {
		t.Fatal(err)
	}
	m.InitRandom(3, 0.2)
	prompts := [][]int32{{5, 17, 42, 9, 3}, {7, 8, 1, 2, 3, 4, 5, 6, 11}, {30, 31}}
	const size, steps = 4, 6
	p := m.NewPages(16, size, 4, 32)
	if kv != npu.F32 {
		if p, err = m.NewHalfPages(kv, 16, size); err != nil {
			t.Fatal(err)
		}
	}
	if p.KV() != kv {
		t.Fatalf("a pool of %v, want %v", p.KV(), kv)
	}
	worst := float32(0)
	free := []int32{9, 2, 14, 0, 7, 3, 12, 5, 1, 11, 6, 13, 4, 10, 8, 15} // scattered on purpose
	alone := make([]*Cache, len(prompts))
	seqs := make([]Seq, len(prompts))
	next := make([]int32, len(prompts))
	for i, pr := range prompts {
		alone[i] = m.NewCache(1, 32)
		logits, err := m.Decode(alone[i], pr, nil)
		if err != nil {
			t.Fatal(err)
		}
		row := make([]float32, c.Vocab)
		m.Dev.Read(row, logits)
		next[i] = Greedy(0, row)
		blocks := (len(pr) + steps + size - 1) / size
		seqs[i].Blocks, free = free[:blocks], free[blocks:]
		if err := m.Store(p, &seqs[i], alone[i]); err != nil {
			t.Fatal(err)
		}
	}
	for step := range steps {
		ids := append([]int32(nil), next...)
		logits, err := m.DecodePages(p, seqs, ids, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]float32, len(prompts)*c.Vocab)
		m.Dev.Read(got, logits)
		for i := range prompts {
			wl, err := m.Decode(alone[i], ids[i:i+1], nil)
			if err != nil {
				t.Fatal(err)
			}
			want := make([]float32, c.Vocab)
			m.Dev.Read(want, wl)
			scale := float32(0)
			for _, w := range want {
				scale = max(scale, w, -w)
			}
			tol := logitTol(kv, scale)
			for k := range want {
				d := got[i*c.Vocab+k] - want[k]
				worst = max(worst, d/scale, -d/scale)
				if d > tol || d < -tol {
					t.Fatalf("step %d sequence %d logit %d: %v in pages, %v alone", step, i, k, got[i*c.Vocab+k], want[k])
				}
			}
			if g, w := Greedy(0, got[i*c.Vocab:(i+1)*c.Vocab]), Greedy(0, want); g != w && want[w]-want[g] > 2*tol {
				t.Fatalf("step %d sequence %d: another token in pages", step, i)
			}
			next[i] = Greedy(0, want)
			if seqs[i].Len != len(prompts[i])+step+1 {
				t.Fatalf("sequence %d: length %d after step %d", i, seqs[i].Len, step)
			}
		}
	}
	t.Logf("worst logit error %.3g of the largest logit", worst)
	full := Seq{Blocks: []int32{free[0]}, Len: size}
	if _, err := m.DecodePages(p, []Seq{full}, []int32{1}, nil); err == nil {
		t.Error("a sequence with full blocks was decoded")
	}
}

// TestDecodePagesPrompt: on a pool attended over in place, a prompt's
// positions decoded as rows of one step (its last position first, the
// others after it in any order, one repeated) beside a sequence's ordinary
// row give the prompt's last logits as a prefill alone does, only for the
// rows the head is asked for, and leave its keys and values so that the
// next step continues it as after that prefill.
func TestDecodePagesPrompt(t *testing.T) {
	c := Config{Vocab: 64, Hidden: 32, Heads: 4, Layers: 3, Eps: 1e-5}
	m, err := New(cpu.New(2), c)
	if err != nil {
		t.Fatal(err)
	}
	m.InitRandom(4, 0.2)
	p := m.NewPages(16, 4, 2, 32)
	if !p.InPlace() {
		t.Fatal("the cpu device's pool is not attended over in place")
	}
	other, prompt := []int32{5, 17, 42}, []int32{7, 8, 1, 2, 3, 4, 5, 6, 11}
	logitsOf := func(l npu.Buf, rows int) []float32 {
		out := make([]float32, rows*c.Vocab)
		m.Dev.Read(out, l)
		return out
	}
	// The other sequence, stored after a prefill alone.
	oc := m.NewCache(1, 32)
	if _, err := m.Decode(oc, other, nil); err != nil {
		t.Fatal(err)
	}
	so := Seq{Blocks: []int32{9, 2}}
	if err := m.Store(p, &so, oc); err != nil {
		t.Fatal(err)
	}
	sp := Seq{Blocks: []int32{14, 0, 7, 3}} // scattered on purpose
	var seqs []Seq
	var ids []int32
	add := func(s Seq, id int32) { seqs, ids = append(seqs, s), append(ids, id) }
	add(so, 20)
	last := sp
	last.Len = len(prompt) - 1
	add(last, prompt[len(prompt)-1])
	for _, j := range []int{3, 0, 7, 1, 2, 6, 5, 4} {
		v := sp
		v.Len = j
		add(v, prompt[j])
	}
	add(last, prompt[len(prompt)-1]) // a repeat
	if _, err := m.DecodePagesHead(p, seqs, ids, nil, 0); err == nil {
		t.Fatal("logits of no rows: no error")
	}
	got, err := m.DecodePagesHead(p, seqs, ids, nil, 2)
	if err != nil {
		t.Fatal(err)
	}
	if got.Len() != 2*c.Vocab {
		t.Fatalf("%d logits for 2 rows", got.Len())
	}
	g := logitsOf(got, 2)
	pc := m.NewCache(1, 32)
	wantP, err := m.Decode(pc, prompt, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantO, err := m.Decode(oc, []int32{20}, nil)
	if err != nil {
		t.Fatal(err)
	}
	near := func(what string, got, want []float32) {
		t.Helper()
		for k := range want {
			if d := got[k] - want[k]; d > 1e-5 || d < -1e-5 {
				t.Fatalf("%s logit %d: %v in the step, %v alone", what, k, got[k], want[k])
			}
		}
	}
	near("the other sequence's", g[:c.Vocab], logitsOf(wantO, 1))
	near("the prompt's last", g[c.Vocab:], logitsOf(wantP, 1))
	// The next position of the prompt, decoded as usual.
	sp.Len = len(prompt)
	next, err := m.DecodePages(p, []Seq{sp}, []int32{13}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want, err := m.Decode(pc, []int32{13}, nil)
	if err != nil {
		t.Fatal(err)
	}
	near("the prompt's next", logitsOf(next, 1), logitsOf(want, 1))
}
