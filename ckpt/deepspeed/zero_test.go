package deepspeed

import (
	"slices"
	"testing"

	"bloom/ckpt"
)

// zeroValues is scripts/zero/gen_zero.py's formula for the k-th HF name in
// sorted order: fp32[i] = ((7i+13k) mod 101 - 50)/64, exp_avg = fp32/128,
// exp_avg_sq = fp32²/1024, all exact in float32.
func zeroValues(k, n int) (fp32, avg, sq []float32) {
	for i := range n {
		v := float32((7*i+13*k)%101-50) / 64
		fp32, avg, sq = append(fp32, v), append(avg, v/128), append(sq, v*v/1024)
	}
	return fp32, avg, sq
}

// TestZeroOptimizer reads the ZeRO stage 1 training save torch wrote
// (scripts/zero/gen_zero.py: TP2×PP2×DP2, 2 blocks, hidden 12, vocab 40
// padded to 48, the last partition of a group padded): every parameter's
// fp32 master weights and Adam moments, joined across data- and
// tensor-parallel ranks, equal the generator's formula bit for bit.
func TestZeroOptimizer(t *testing.T) {
	if !HasOptimizer("testdata/zero") || HasOptimizer("testdata/release") {
		t.Fatal("HasOptimizer")
	}
	c, err := Open("testdata/zero", ckpt.BloomConfig{})
	if err != nil {
		t.Fatal(err)
	}
	cs := c.State
	if c.TP != 2 || c.Layers != 2 || c.Config.NHead != 2 || c.Config.VocabSize != 40 || c.PaddedVocab != 48 ||
		cs.Iteration != 20 || cs.ConsumedSamples != 160 || cs.LRScheduler["num_steps"] != int64(160) {
		t.Fatalf("TP %d, %d layers, config %+v, padded %d, state %+v", c.TP, c.Layers, c.Config, c.PaddedVocab, cs)
	}
	o, err := c.OpenOptimizer()
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if o.PP != 2 || o.DP != 2 || o.Step != 20 {
		t.Errorf("PP %d, DP %d, step %d", o.PP, o.DP, o.Step)
	}
	names := c.Names()
	slices.Sort(names)
	if got := o.Names(); len(got) != len(names) {
		t.Fatalf("optimizer state for %d parameters, the layer files have %d", len(got), len(names))
	}
	for k, name := range names {
		p, err := o.Param(name)
		if err != nil {
			t.Fatal(err)
		}
		fp32, avg, sq := zeroValues(k, product(p.Shape))
		if !slices.Equal(p.FP32, fp32) || !slices.Equal(p.ExpAvg, avg) || !slices.Equal(p.ExpSq, sq) {
			t.Errorf("%s %v: master weights or moments differ from the generator's", name, p.Shape)
		}
	}
	if p, _ := o.Param("word_embeddings.weight"); !slices.Equal(p.Shape, []int{48, 12}) {
		t.Errorf("embedding %v, want the padded [48 12]", p.Shape)
	}
}
