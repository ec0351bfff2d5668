package deepspeed

import (
	"slices"
	"testing"
)

// TestUniversal reads the universal checkpoint torch wrote
// (scripts/torchpt/gen_fixtures.py: 2 blocks, hidden 8, vocab 20 padded to
// 24; parameter k's fp32 values are (i-k)·0.125, exp_avg = fp32/100,
// exp_avg_sq = fp32²/1000) and its client state.
func TestUniversal(t *testing.T) {
	u, err := OpenUniversal("../testdata/torch/universal")
	if err != nil {
		t.Fatal(err)
	}
	if u.Layers != 2 || len(u.Names()) != 3+2*12+2 {
		t.Fatalf("%d layers, names %v", u.Layers, u.Names())
	}
	cs := u.State
	if cs.Iteration != 512 || cs.ConsumedSamples != 4096 || cs.OriginalVocab != 20 || cs.PaddedVocab != 24 ||
		cs.LRScheduler["max_lr"] != 6e-5 || cs.Args["num_attention_heads"] != int64(2) || cs.Args["params_dtype"] != "torch.bfloat16" {
		t.Errorf("client state %+v", cs)
	}
	check := func(name string, k int, shape []int, padded int) {
		t.Helper()
		p, err := u.Param(name, padded)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(p.Shape, shape) {
			t.Fatalf("%s: shape %v, want %v", name, p.Shape, shape)
		}
		rows := len(p.FP32)
		if name == "word_embeddings.weight" && padded > 0 {
			rows = 20 * shape[1]
		}
		for i, v := range p.FP32 {
			want := float32(i-k) * 0.125
			if i >= rows {
				want = 0
			}
			if v != want || p.ExpAvg[i] != want/100 || p.ExpSq[i] != want*want/1000 {
				t.Fatalf("%s[%d] = %v, %v, %v; want %v", name, i, v, p.ExpAvg[i], p.ExpSq[i], want)
			}
		}
	}
	check("word_embeddings.weight", 0, []int{24, 8}, 24)
	check("word_embeddings.weight", 0, []int{20, 8}, 0)
	check("h.1.self_attention.dense.weight", 19, []int{8, 8}, 24)
	check("ln_f.bias", 28, []int{8}, 24)
}

// TestUniversalLatest opens the resumable fixture of
// scripts/universal/gen_universal.py through its latest_universal, as
// ds_to_universal leaves it: 2 blocks, hidden 16, the embedding stored
// with 260 of its 264 rows, iteration 30 after 240 samples, Adam step 30.
func TestUniversalLatest(t *testing.T) {
	if !IsUniversal("testdata/universal") || IsUniversal("../testdata/torch") {
		t.Fatal("IsUniversal")
	}
	u, err := OpenUniversal("testdata/universal")
	if err != nil {
		t.Fatal(err)
	}
	cs := u.State
	if u.Layers != 2 || cs.Iteration != 30 || cs.ConsumedSamples != 240 || cs.OriginalVocab != 260 || cs.PaddedVocab != 264 ||
		cs.LRScheduler["num_steps"] != int64(240) || cs.Args["hidden_size"] != int64(16) {
		t.Fatalf("%d layers, client state %+v", u.Layers, cs)
	}
	if step, ok, err := u.Step(); err != nil || !ok || step != 30 {
		t.Fatalf("Adam step %d, %v, %v", step, ok, err)
	}
	p, err := u.Param("word_embeddings.weight", cs.PaddedVocab)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Shape, []int{264, 16}) || p.FP32[260*16-1] == 0 || slices.ContainsFunc(p.FP32[260*16:], func(v float32) bool { return v != 0 }) ||
		len(p.ExpAvg) != 264*16 || len(p.ExpSq) != 264*16 {
		t.Fatalf("embedding %v: padding rows not zero or moments missing", p.Shape)
	}
}
