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
