package bloom

import (
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
		t.Run(name, func(t *testing.T) { decodePages(t, dev) })
	}
}

func decodePages(t *testing.T, dev npu.Device) {
	c := Config{Vocab: 64, Hidden: 32, Heads: 4, Layers: 3, Eps: 1e-5}
	m, err := New(dev, c)
	if err != nil {
		t.Fatal(err)
	}
	m.InitRandom(3, 0.2)
	prompts := [][]int32{{5, 17, 42, 9, 3}, {7, 8, 1, 2, 3, 4, 5, 6, 11}, {30, 31}}
	const size, steps = 4, 6
	p := m.NewPages(16, size, 4, 32)
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
			for k := range want {
				if d := got[i*c.Vocab+k] - want[k]; d > 1e-5 || d < -1e-5 {
					t.Fatalf("step %d sequence %d logit %d: %v in pages, %v alone", step, i, k, got[i*c.Vocab+k], want[k])
				}
			}
			if Greedy(0, got[i*c.Vocab:(i+1)*c.Vocab]) != Greedy(0, want) {
				t.Fatalf("step %d sequence %d: another token in pages", step, i)
			}
			next[i] = Greedy(0, want)
			if seqs[i].Len != len(prompts[i])+step+1 {
				t.Fatalf("sequence %d: length %d after step %d", i, seqs[i].Len, step)
			}
		}
	}
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
