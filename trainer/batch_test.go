package trainer

import (
	"context"
	"fmt"
	"math"
	"sync"
	"testing"

	"bloom/npu"
	"bloom/npu/cpu"
	"bloom/trainer/bloom"
	"bloom/trainer/serve"
	"bloom/trainer/tokenizer"
)

// TestServeAcrossRanks: the serving engine on rank 0 of TP2, PP2 (uneven)
// and TP2×PP2 jobs, the other ranks following its Batcher, answers
// concurrent requests (greedy, sampled with a seed, with top logprobs,
// joining a running batch a prefill chunk at a time, waiting for
// key/value blocks) with the tokens one process gives, each
// log-probability within float32 rounding (and one process gives them
// with prompts prefilled inside the steps as with prompts prefilled
// apart); a stop vote of the last rank
// reaches rank 0, and Stop ends the followers.
func TestServeAcrossRanks(t *testing.T) {
	c := bloom.Config{Vocab: 264, Hidden: 32, Heads: 4, Layers: 4, Eps: 1e-5}
	full, err := bloom.New(cpu.New(1), c)
	if err != nil {
		t.Fatal(err)
	}
	full.InitRandom(5, 0.3) // large weights: logits far apart, no near ties
	tok, err := tokenizer.ByteLevel().Tokenizer()
	if err != nil {
		t.Fatal(err)
	}
	reqs := []serve.Request{
		{Prompt: tok.Encode("Once upon a time").IDs, MaxTokens: 20},
		{Prompt: tok.Encode("Hi").IDs, MaxTokens: 6, Logprobs: 2},
		{Prompt: tok.Encode("The river, ").IDs, MaxTokens: 9, Temperature: 0.8, TopP: 0.9, Seed: 7},
		{Prompt: tok.Encode("x").IDs, MaxTokens: 3},
		{Prompt: tok.Encode("Stones and light").IDs, MaxTokens: 12, Temperature: 1.3, Seed: 1 << 40},
		// Its prompt scored only (echo with logprobs; it takes no row):
		// 20 tokens, two chunks of Score.
		{Prompt: tok.Encode("Scored, never decoded").IDs, MaxTokens: 0, Logprobs: 2, PromptLogprobs: true},
	}
	// A cache of 5 blocks: the first request reserves 3 (16+20 positions),
	// "Hi" 1, so "The river, " (2) waits for a row to leave.
	const cacheSize = 5 * BlockSize
	// serveAll runs every request on an engine over d (the first one
	// alone, the rest joining it as it runs) and returns the results.
	// Joining prompts are prefilled 3 tokens a step (one request at a
	// time), or, with several, 64 (all that fit join in one step).
	serveAll := func(d serve.Decoder, several ...bool) ([]serve.Result, error) {
		e := &serve.Engine{Decoder: d, Tok: tok, Pad: 3, EOS: -1, Chunk: 3}
		if len(several) > 0 {
			e.Chunk = 64
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- e.Run(ctx) }()
		defer func() { cancel(); <-done }()
		out := make([]serve.Result, len(reqs))
		var pending []*serve.Pending
		first := reqs[0]
		n := 0
		first.OnToken = func(serve.Token) {
			if n++; n == 3 { // queued now: they join the running batch
				for _, r := range reqs[1:] {
					p, err := e.Start(ctx, r)
					if err != nil {
						t.Error(err)
						return
					}
					pending = append(pending, p)
				}
			}
		}
		var err error
		if out[0], err = e.Complete(ctx, first); err != nil {
			return nil, err
		}
		for k, p := range pending {
			if out[k+1], err = p.Wait(ctx); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	local, err := LocalBatcher(full, BatchShape{Rows: 3, Positions: 64, Capacity: cacheSize})
	if err != nil {
		t.Fatal(err)
	}
	if local.staging != nil {
		t.Fatal("a batcher that prefills inside the steps made a staging cache before anything was scored")
	}
	want, err := serveAll(local)
	if err != nil {
		t.Fatal(err)
	}
	if local.staging == nil || local.scoring != local.staging {
		t.Fatal("the CPU device's batcher scores outside the staging cache (the memory plan counts one engine cache there)")
	}
	// Prompts prefilled inside the steps (the CPU device attends over the
	// blocks in place) give what a prefill alone gives (the Decoder
	// without ChunkDecoder's methods: every other device's way).
	if !local.Chunks() {
		t.Fatal("the cpu device's batcher does not prefill inside the steps")
	}
	apart, err := LocalBatcher(full, BatchShape{Rows: 3, Positions: 64, Capacity: cacheSize})
	if err != nil {
		t.Fatal(err)
	}
	alone, err := serveAll(struct {
		serve.Decoder
		serve.Scorer
	}{apart, apart})
	if err != nil {
		t.Fatal(err)
	}
	for k := range want {
		compareResults(t, k, want[k], alone[k])
	}
	// A cache of fp16 keys and values: one process's results, which
	// TP2×PP2 gives too. Each request's first token's log-probability is
	// float32's within the cache's rounding (fp16 keeps 11 significant
	// bits: 2^-11 of logits of a few units; measured under 2e-3); later
	// tokens may differ where float32's are near ties (request 1's first
	// two candidates here are 1.2e-4 apart).
	half, err := LocalBatcher(full, BatchShape{Rows: 3, Positions: 64, Capacity: cacheSize, KV: npu.F16})
	if err != nil {
		t.Fatal(err)
	}
	wantHalf, err := serveAll(half)
	if err != nil {
		t.Fatal(err)
	}
	for k := range want {
		g, w := append(wantHalf[k].Prompt, wantHalf[k].Tokens...)[0], append(want[k].Prompt, want[k].Tokens...)[0]
		if d := math.Abs(g.Logprob - w.Logprob); d > 1e-2 {
			t.Errorf("request %d's first token with an fp16 cache: %+v, fp32 %+v", k, g, w)
		}
	}
	// Several requests joining in one step (a cache of 12 blocks: the
	// first request's row and two joining), in one process and TP2×PP2.
	rec := &joinRecorder{}
	rec.Batcher, err = LocalBatcher(full, BatchShape{Rows: 3, Positions: 64})
	if err != nil {
		t.Fatal(err)
	}
	together, err := serveAll(rec, true)
	if err != nil {
		t.Fatal(err)
	}
	if rec.most != 2 {
		t.Errorf("at most %d requests joined in one step, want 2", rec.most)
	}
	for k := range want {
		compareResults(t, k, together[k], want[k])
	}
	for _, l := range []struct {
		tp, pp    int
		partition []int
		kv        npu.DType
		several   bool
	}{{2, 1, nil, npu.F32, false}, {1, 2, []int{3, 1}, npu.F32, false}, {2, 2, nil, npu.F32, false}, {2, 2, nil, npu.F16, false},
		{2, 2, nil, npu.F32, true}} {
		want := want
		if l.kv == npu.F16 {
			want = wantHalf
		}
		name := fmt.Sprintf("TP%d_PP%d%v_%v", l.tp, l.pp, l.partition, l.kv)
		if l.several {
			name += "_several_joining"
		}
		t.Run(name, func(t *testing.T) {
			var got []serve.Result
			var mu sync.Mutex
			followed := map[int]bool{}
			last := l.tp*l.pp - 1
			runInfer(t, full, Layout{TP: l.tp, PP: l.pp, DP: 1}, l.partition, func(r int, inf *Infer) error {
				shape := BatchShape{Rows: 3, Positions: 64, Capacity: cacheSize, KV: l.kv}
				if l.several {
					shape.Capacity = 0
				}
				b, err := NewBatcher(context.Background(), inf, shape)
				if err != nil {
					return err
				}
				if r == last {
					b.Vote = func() bool { return true }
				}
				if r != 0 {
					planned, err := b.Follow()
					mu.Lock()
					followed[r] = planned
					mu.Unlock()
					return err
				}
				if l.several {
					got, err = serveAll(b, true)
				} else {
					got, err = serveAll(b)
				}
				if err == nil && !b.StopVoted() {
					err = fmt.Errorf("rank %d's stop vote did not reach rank 0", last)
				}
				if serr := b.Stop(true); err == nil {
					err = serr
				}
				return err
			})
			if len(followed) != last {
				t.Fatalf("%d of %d followers ended", len(followed), last)
			}
			for r, planned := range followed {
				if !planned {
					t.Errorf("rank %d: the planned stop arrived as unplanned", r)
				}
			}
			for k := range want {
				compareResults(t, k, got[k], want[k])
			}
		})
	}
}

// joinRecorder is a Batcher that keeps the most requests one step
// completed the prefill of.
type joinRecorder struct {
	*Batcher
	most int
}

func (j *joinRecorder) StepChunk(ids []int32, chunks [][]int32, complete int) ([]bloom.Choice, error) {
	j.most = max(j.most, complete)
	return j.Batcher.StepChunk(ids, chunks, complete)
}

func compareResults(t *testing.T, k int, got, want serve.Result) {
	t.Helper()
	if len(got.Prompt) != len(want.Prompt) {
		t.Fatalf("request %d: %d prompt tokens scored, one process %d", k, len(got.Prompt), len(want.Prompt))
	}
	got.Tokens, want.Tokens = append(got.Prompt, got.Tokens...), append(want.Prompt, want.Tokens...)
	if got.Text != want.Text || got.FinishReason != want.FinishReason || len(got.Tokens) != len(want.Tokens) {
		t.Fatalf("request %d: %q (%s, %d tokens), one process %q (%s, %d)", k, got.Text, got.FinishReason, len(got.Tokens),
			want.Text, want.FinishReason, len(want.Tokens))
	}
	for i, tk := range got.Tokens {
		w := want.Tokens[i]
		if tk.ID != w.ID || math.Abs(tk.Logprob-w.Logprob) > 1e-4 || len(tk.Top) != len(w.Top) {
			t.Fatalf("request %d token %d: %+v, one process %+v", k, i, tk, w)
		}
		for s, lp := range w.Top {
			if g, ok := tk.Top[s]; !ok || math.Abs(g-lp) > 1e-4 {
				t.Fatalf("request %d token %d: alternatives %v, one process %v", k, i, tk.Top, w.Top)
			}
		}
	}
}
