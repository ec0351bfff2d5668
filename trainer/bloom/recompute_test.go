package bloom

import (
	"slices"
	"testing"

	"bloom/npu"
	"bloom/npu/cpu"
)

// TestRecompute: activation checkpointing gives bit-identical losses and
// gradients, plain and with LoRA, in less activation memory (counted from
// the buffers the passes hold).
func TestRecompute(t *testing.T) {
	for _, lora := range []bool{false, true} {
		c := Config{Vocab: 64, Hidden: 32, Heads: 4, Layers: 4, Eps: 1e-5}
		if lora {
			c.LoRA = LoRA{Targets: LoRAQKV | LoRADense, R: 4, Alpha: 8}
		}
		run := func(recompute bool) (float64, []float32, int) {
			m, err := New(cpu.New(1), c)
			if err != nil {
				t.Fatal(err)
			}
			m.InitRandom(3, 0.2)
			m.Recompute = recompute
			b := tinyBatch()
			m.ZeroGrads()
			loss, _, err := m.Step(b, 1)
			if err != nil {
				t.Fatal(err)
			}
			// A second micro-batch accumulates into the same gradients.
			b.IDs[2], b.Targets[3] = 7, 9
			if _, _, err := m.Step(b, 1); err != nil {
				t.Fatal(err)
			}
			g := make([]float32, m.Layout.Size)
			m.Dev.Read(g, m.Grads)
			return loss, g, actsBytes(m.train)
		}
		l0, g0, mem0 := run(false)
		l1, g1, mem1 := run(true)
		if l0 != l1 || !slices.Equal(g0, g1) {
			t.Errorf("lora %v: recomputed loss %v, gradients equal %v; kept %v", lora, l1, slices.Equal(g0, g1), l0)
		}
		if mem1*2 > mem0 {
			t.Errorf("lora %v: activations %d bytes recomputed, %d kept: not less than half", lora, mem1, mem0)
		}
		t.Logf("lora %v: activations %d bytes kept, %d with recomputation", lora, mem0, mem1)
	}
}

// actsBytes counts the bytes of the distinct buffers a's blocks hold.
func actsBytes(a *acts) int {
	seen, n := map[any]bool{}, 0
	add := func(key any, bytes int) {
		if bytes > 0 && !seen[key] {
			seen[key] = true
			n += bytes
		}
	}
	for _, b := range a.blocks {
		for _, buf := range []npu.Buf{b.ln1Mean, b.ln1Rstd, b.qkv, b.q, b.k, b.v, b.probs, b.res1, b.ln2Mean, b.ln2Rstd, b.fch, b.res2} {
			if f := cpu.Floats(buf); len(f) > 0 {
				add(&f[0], 4*len(f))
			}
		}
		for _, in := range []linearIn{b.ln1, b.att, b.ln2, b.fchGelu} {
			if f := cpu.Floats(in.x); len(f) > 0 {
				add(&f[0], 4*len(f))
			}
			if in.h != nil {
				if h, _ := cpu.Halves(in.h); len(h) > 0 {
					add(&h[0], 2*len(h))
				}
			}
		}
	}
	return n
}
