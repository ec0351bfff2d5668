package trainer

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"bloom/ckpt"
	"bloom/npu"
	"bloom/npu/cpu"
	"bloom/trainer/bloom"
	"bloom/trainer/eval"
	"bloom/trainer/tokenizer"
)

// TestInferMatchesLocal: generation split over TP2, PP2 and TP2×PP2 ranks
// (uneven stages included) gives every rank the tokens one process gives,
// greedy and sampled, with padded prompts of different lengths, with
// float32, fp16 and bf16 products.
func TestInferMatchesLocal(t *testing.T) {
	c := bloom.Config{Vocab: 264, Hidden: 32, Heads: 4, Layers: 4, Eps: 1e-5}
	full, err := bloom.New(cpu.New(1), c)
	if err != nil {
		t.Fatal(err)
	}
	full.InitRandom(5, 0.3) // large weights: logits far apart, no near ties
	prompts := [][]int32{{5, 17, 42, 99, 3}, {7, 8}, {200, 1, 2, 3, 4, 5, 6}}
	pick := func(seed uint64) func(int, []float32) int32 {
		if seed == 0 {
			return bloom.Greedy
		}
		return bloom.NewSampler(0.8, 20, 0.9, seed).Pick
	}
	for _, prec := range []npu.DType{npu.F32, npu.F16, npu.BF16} {
		if err := full.SetPrecision(prec); err != nil {
			t.Fatal(err)
		}
		for _, seed := range []uint64{0, 9} {
			want, err := full.Generate(prompts, 0, bloom.GenerateOptions{MaxNew: 12, EOS: -1, Pick: pick(seed)})
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range []struct {
				tp, pp    int
				partition []int
			}{{2, 1, nil}, {1, 2, []int{3, 1}}, {2, 2, nil}} {
				t.Run(fmt.Sprintf("%v_seed%d_TP%d_PP%d%v", prec, seed, l.tp, l.pp, l.partition), func(t *testing.T) {
					got := make([][][]int32, l.tp*l.pp)
					runInfer(t, full, Layout{TP: l.tp, PP: l.pp, DP: 1}, l.partition, func(r int, inf *Infer) (err error) {
						if err := inf.Model.SetPrecision(prec); err != nil {
							return err
						}
						got[r], err = inf.Generate(context.Background(), prompts, 0, bloom.GenerateOptions{MaxNew: 12, EOS: -1, Pick: pick(seed)})
						return err
					})
					for r := range got {
						for b := range want {
							if !slices.Equal(got[r][b], want[b]) {
								t.Fatalf("rank %d row %d: %v, one process %v", r, b, got[r][b], want[b])
							}
						}
					}
				})
			}
		}
	}
}

// TestInferEvaluate: BoolQ and MMLU run across TP2×PP2 ranks (eval.Run
// with Infer's Generate) give every rank the one-process answers, question
// by question.
func TestInferEvaluate(t *testing.T) {
	tok, err := tokenizer.Load("tokenizer/testdata/bloom.json")
	if err != nil {
		t.Fatal(err)
	}
	c := bloom.Config{Vocab: tok.VocabSize(), Hidden: 32, Heads: 4, Layers: 4, Eps: 1e-5}
	full, err := bloom.New(cpu.New(1), c)
	if err != nil {
		t.Fatal(err)
	}
	full.InitRandom(7, 0.5)
	words := []string{"garden", "river", "stone", "light", "window", "bread", "music", "cloud"}
	var tasks [2][]eval.Question
	for i, w := range words {
		tasks[0] = append(tasks[0], eval.Question{Task: eval.BoolQ, Prompt: strings.Repeat(w+" ", i%3+1) + "\nQuestion: is the " + words[(i+3)%8] + " here?\nAnswer:", Gold: "TF"[i%2 : i%2+1]})
		tasks[1] = append(tasks[1], eval.Question{Task: eval.MMLU, Subject: "x", Prompt: "Which is " + w + "?\nA. " + words[(i+1)%8] + "\nB. " + w + "\nAnswer:", Gold: "AB"[i%2 : i%2+1]})
	}
	var want [2]eval.Result
	for k, qs := range tasks {
		if want[k], err = eval.Run(eval.Config{Model: full, Tok: tok, Pad: 3, Batch: 3}, qs); err != nil {
			t.Fatal(err)
		}
	}
	got := make([][2]eval.Result, 4)
	runInfer(t, full, Layout{TP: 2, PP: 2, DP: 1}, nil, func(r int, inf *Infer) (err error) {
		gen := func(prompts [][]int32, pad int32, o bloom.GenerateOptions) ([][]int32, error) {
			return inf.Generate(context.Background(), prompts, pad, o)
		}
		for k, qs := range tasks {
			if got[r][k], err = eval.Run(eval.Config{Model: inf.Model, Generate: gen, Tok: tok, Pad: 3, Batch: 3}, qs); err != nil {
				return err
			}
		}
		return nil
	})
	for r := range got {
		for k := range tasks {
			if !slices.Equal(got[r][k].Answers, want[k].Answers) || got[r][k].Score != want[k].Score {
				t.Fatalf("rank %d %s: %v %+v; one process %v %+v", r, want[k].Name, got[r][k].Answers, got[r][k].Score, want[k].Answers, want[k].Score)
			}
		}
	}
	if !slices.Contains(want[0].Answers, "T") || !slices.Contains(want[0].Answers, "F") {
		t.Errorf("BoolQ answers %v: the test needs a model that answers both", want[0].Answers)
	}
}

// runInfer runs f on every rank of an in-process inference job over full,
// placed by l and partition, each rank in its own goroutine, and fails the
// test with the first rank's error.
func runInfer(t *testing.T, full *bloom.Model, l Layout, partition []int, f func(rank int, inf *Infer) error) {
	t.Helper()
	cfg := DefaultRankConfig()
	cfg.Model, cfg.Layout, cfg.PartitionLayers = full.Cfg, l, partition
	w := newWorld(cfg)
	errs := make([]error, cfg.World())
	var wg sync.WaitGroup
	for r := range cfg.World() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := Place(full.Cfg, l, r, partition)
			var inf *Infer
			if err == nil {
				inf, err = NewInfer(full, p, w.envs[r])
			}
			if err == nil {
				err = f(r, inf)
			}
			errs[r] = err
		}()
	}
	wg.Wait()
	for r, err := range errs {
		if err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
	}
}

// TestInferHF: a rank loading its part of a Hugging Face directory tensor
// by tensor (NewInferHF) holds exactly the part cut from the whole model,
// for every rank of TP2×PP2.
func TestInferHF(t *testing.T) {
	c := bloom.Config{Vocab: 264, Hidden: 32, Heads: 4, Layers: 4, Eps: 1e-5}
	full, err := bloom.New(cpu.New(1), c)
	if err != nil {
		t.Fatal(err)
	}
	full.InitRandom(5, 0.3)
	dir := t.TempDir()
	if err := SaveHF(full, ckpt.DefaultBloomConfig(), dir, ckpt.F32, 0); err != nil {
		t.Fatal(err)
	}
	l := Layout{TP: 2, PP: 2, DP: 1}
	cfg := DefaultRankConfig()
	cfg.Model, cfg.Layout = c, l
	w := newWorld(cfg)
	for r := range cfg.World() {
		p, err := Place(c, l, r, nil)
		if err != nil {
			t.Fatal(err)
		}
		cut, err := NewInfer(full, p, w.envs[r])
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := NewInferHF(dir, p, w.envs[r])
		if err != nil {
			t.Fatal(err)
		}
		a, b := make([]float32, cut.Model.Layout.Size), make([]float32, got.Model.Layout.Size)
		cut.Model.Dev.Read(a, cut.Model.Params)
		got.Model.Dev.Read(b, got.Model.Params)
		if !slices.Equal(a, b) {
			t.Fatalf("rank %d: the part loaded tensor by tensor differs from the part cut from the whole model", r)
		}
	}
}
