package serve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"bloom/npu/cpu"
	"bloom/trainer"
	"bloom/trainer/bloom"
	"bloom/trainer/tokenizer"
)

// testServer serves a random bloom-tiny with the byte-level tokenizer.
func testServer(t *testing.T, maxBatch int) (*httptest.Server, *bloom.Model, *tokenizer.Tokenizer) {
	t.Helper()
	c, err := bloom.Preset("bloom-tiny")
	if err != nil {
		t.Fatal(err)
	}
	m, err := bloom.New(cpu.New(1), c)
	if err != nil {
		t.Fatal(err)
	}
	m.InitRandom(5, 0.3) // logits far apart: greedy picks do not hinge on rounding
	tok, err := tokenizer.ByteLevel().Tokenizer()
	if err != nil {
		t.Fatal(err)
	}
	e := newEngine(t, m, tok, maxBatch)
	ctx, cancel := context.WithCancel(context.Background())
	go e.Run(ctx)
	ts := httptest.NewServer(Handler(e, "tiny"))
	t.Cleanup(func() { ts.Close(); cancel() })
	return ts, m, tok
}

// newEngine serves m alone, rows requests at a time, 64 positions each.
func newEngine(t *testing.T, m *bloom.Model, tok *tokenizer.Tokenizer, rows int) *Engine {
	t.Helper()
	return newEngineCache(t, m, tok, rows, 0)
}

// newEngineCache is newEngine with a key/value cache of capacity
// positions (0: rows × 64).
func newEngineCache(t *testing.T, m *bloom.Model, tok *tokenizer.Tokenizer, rows, capacity int) *Engine {
	t.Helper()
	d, err := trainer.LocalBatcher(m, trainer.BatchShape{Rows: rows, Positions: 64, Capacity: capacity})
	if err != nil {
		t.Fatal(err)
	}
	return &Engine{Decoder: d, Tok: tok, Pad: 3, EOS: 2}
}

func post(t *testing.T, url string, body any) (*http.Response, []byte) {
	t.Helper()
	b, _ := json.Marshal(body)
	res, err := http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return res, out
}

// alone is what the model generates for prompt with nothing beside it.
func alone(t *testing.T, m *bloom.Model, tok *tokenizer.Tokenizer, prompt string, n int) []int32 {
	t.Helper()
	out, err := m.Generate([][]int32{tok.Encode(prompt).IDs}, 3, bloom.GenerateOptions{MaxNew: n, EOS: 2, Pick: bloom.Greedy})
	if err != nil {
		t.Fatal(err)
	}
	return out[0]
}

// TestCompletions: OpenAI's completions, plain and streamed, give the
// model's greedy continuation with usage and logprobs; TGI's routes give
// the same text; models, health and metrics answer.
func TestCompletions(t *testing.T) {
	ts, m, tok := testServer(t, 4)
	want := alone(t, m, tok, "Once upon a time", 8)
	res, body := post(t, ts.URL+"/v1/completions", map[string]any{"model": "tiny", "prompt": "Once upon a time",
		"max_tokens": 8, "temperature": 0, "logprobs": 2})
	var c struct {
		Object  string
		Choices []struct {
			Text         string
			FinishReason string `json:"finish_reason"`
			Logprobs     struct {
				Tokens        []string
				TokenLogprobs []float64            `json:"token_logprobs"`
				TopLogprobs   []map[string]float64 `json:"top_logprobs"`
			}
		}
		Usage map[string]int
	}
	if res.StatusCode != 200 || json.Unmarshal(body, &c) != nil || len(c.Choices) != 1 {
		t.Fatalf("%d %s", res.StatusCode, body)
	}
	if got := c.Choices[0].Text; got != tok.Decode(want, true) || c.Choices[0].FinishReason != "length" || c.Object != "text_completion" {
		t.Errorf("text %q (%s), the model's %q", got, c.Choices[0].FinishReason, tok.Decode(want, true))
	}
	if c.Usage["prompt_tokens"] != 16 || c.Usage["completion_tokens"] != 8 || c.Usage["total_tokens"] != 24 {
		t.Errorf("usage %v", c.Usage)
	}
	if lp := c.Choices[0].Logprobs; len(lp.TokenLogprobs) != 8 || !(lp.TokenLogprobs[0] < 0) || len(lp.TopLogprobs[0]) != 2 {
		t.Errorf("logprobs %+v", lp)
	}

	// Streamed: the chunks add up to the same text, then [DONE].
	b, _ := json.Marshal(map[string]any{"model": "tiny", "prompt": "Once upon a time", "max_tokens": 8, "temperature": 0, "stream": true})
	sres, err := http.Post(ts.URL+"/v1/completions", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer sres.Body.Close()
	var text strings.Builder
	var last string
	sc := bufio.NewScanner(sres.Body)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		last = line
		var ch struct{ Choices []struct{ Text string } }
		if line != "[DONE]" && json.Unmarshal([]byte(line), &ch) == nil && len(ch.Choices) == 1 {
			text.WriteString(ch.Choices[0].Text)
		}
	}
	if sres.Header.Get("Content-Type") != "text/event-stream" || last != "[DONE]" || text.String() != tok.Decode(want, true) {
		t.Errorf("stream: %q, ended %q; want %q", text.String(), last, tok.Decode(want, true))
	}

	res, body = post(t, ts.URL+"/generate", map[string]any{"inputs": "Once upon a time", "parameters": map[string]any{"max_new_tokens": 8}})
	var g struct {
		GeneratedText string `json:"generated_text"`
	}
	if res.StatusCode != 200 || json.Unmarshal(body, &g) != nil || g.GeneratedText != tok.Decode(want, true) {
		t.Errorf("TGI /generate: %d %s", res.StatusCode, body)
	}
	res, body = post(t, ts.URL+"/generate_stream", map[string]any{"inputs": "Once upon a time", "parameters": map[string]any{"max_new_tokens": 8}})
	if res.StatusCode != 200 || strings.Count(string(body), "data:") != 8 || !strings.Contains(string(body), `"generated_text":`) {
		t.Errorf("TGI /generate_stream: %d %s", res.StatusCode, body)
	}
	for path, want := range map[string]string{"/v1/models": `"id":"tiny"`, "/metrics": "bloom_serve_time_to_first_token_seconds_count 4", "/health": ""} {
		r, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("GET %s: %d %s", path, r.StatusCode, b)
		}
	}
}

// TestBadRequests: OpenAI-style errors with their status codes.
func TestBadRequests(t *testing.T) {
	ts, _, _ := testServer(t, 4)
	for _, c := range []struct {
		body       map[string]any
		code       int
		param, has string
	}{
		{map[string]any{"model": "gpt-4", "prompt": "x"}, 404, "model", "does not exist"},
		{map[string]any{"prompt": "x"}, 400, "model", "provide a model"},
		{map[string]any{"model": "tiny", "prompt": "x", "max_tokens": -1}, 400, "max_tokens", "max_tokens"},
		{map[string]any{"model": "tiny", "prompt": strings.Repeat("x", 100)}, 400, "prompt", "exceed the context"},
		{map[string]any{"model": "tiny", "prompt": 7}, 400, "prompt", "prompt must be"},
		{map[string]any{"model": "tiny", "prompt": "x", "n": 0}, 400, "n", "n must be"},
		{map[string]any{"model": "tiny", "prompt": "x", "n": 129}, 400, "n", "n must be 1 to 128"},
		{map[string]any{"model": "tiny", "prompt": "x", "temperature": -1}, 400, "temperature", "temperature must be"},
		{map[string]any{"model": "tiny", "prompt": "x", "top_p": 2}, 400, "top_p", "top_p must be"},
		{map[string]any{"model": "tiny", "prompt": "x", "logprobs": 6}, 400, "logprobs", "logprobs must be"},
	} {
		res, body := post(t, ts.URL+"/v1/completions", c.body)
		var e struct {
			Error struct{ Message, Type, Param string }
		}
		if res.StatusCode != c.code || json.Unmarshal(body, &e) != nil || e.Error.Param != c.param || !strings.Contains(e.Error.Message, c.has) {
			t.Errorf("%v: %d %s", c.body, res.StatusCode, body)
		}
	}
	if res, body := post(t, ts.URL+"/generate", map[string]any{"inputs": ""}); res.StatusCode != 422 || !strings.Contains(string(body), "validation") {
		t.Errorf("TGI empty inputs: %d %s", res.StatusCode, body)
	}
	// An unknown model's code; a negative seed is a seed; an unknown
	// route answers OpenAI's error body.
	res, body := post(t, ts.URL+"/v1/completions", map[string]any{"model": "gpt-4", "prompt": "x"})
	if !strings.Contains(string(body), `"code":"model_not_found"`) {
		t.Errorf("unknown model: %d %s", res.StatusCode, body)
	}
	if res, body := post(t, ts.URL+"/v1/completions", map[string]any{"model": "tiny", "prompt": "x", "max_tokens": 2, "seed": -1}); res.StatusCode != 200 {
		t.Errorf("seed -1: %d %s", res.StatusCode, body)
	}
	if res, body := post(t, ts.URL+"/v1/chat/completions", map[string]any{"model": "tiny"}); res.StatusCode != 404 || !strings.Contains(string(body), `"type":"invalid_request_error"`) {
		t.Errorf("an unknown route: %d %s", res.StatusCode, body)
	}
}

// TestBatchedEqualsAlone: requests that arrive together are decoded in one
// batch (different prompt lengths, lengths and stop strings), and each
// gets what it gets alone.
func TestBatchedEqualsAlone(t *testing.T) {
	ts, m, tok := testServer(t, 8)
	prompts := []string{"a", "Once upon a time", "The river, ", "xyz xyz", "Hello", "12345678901234567890"}
	got := make([]string, len(prompts))
	var wg sync.WaitGroup
	for i, p := range prompts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, body := post(t, ts.URL+"/v1/completions", map[string]any{"model": "tiny", "prompt": p, "max_tokens": 4 + i, "temperature": 0})
			var c struct{ Choices []struct{ Text string } }
			if json.Unmarshal(body, &c) == nil && len(c.Choices) == 1 {
				got[i] = c.Choices[0].Text
			}
		}()
	}
	wg.Wait()
	for i, p := range prompts {
		if want := tok.Decode(alone(t, m, tok, p, 4+i), true); got[i] != want {
			t.Errorf("%q in a batch: %q, alone %q", p, got[i], want)
		}
	}
	// n = 3 samples with seeds: three choices, deterministic for the seed.
	req := map[string]any{"model": "tiny", "prompt": "Hello", "max_tokens": 6, "temperature": 1, "n": 3, "seed": 9}
	_, a := post(t, ts.URL+"/v1/completions", req)
	_, b := post(t, ts.URL+"/v1/completions", req)
	var ca, cb struct{ Choices []struct{ Text string } }
	json.Unmarshal(a, &ca)
	json.Unmarshal(b, &cb)
	if len(ca.Choices) != 3 || !slices.EqualFunc(ca.Choices, cb.Choices, func(x, y struct{ Text string }) bool { return x.Text == y.Text }) {
		t.Errorf("n=3 with a seed: %s then %s", a, b)
	}
	_ = fmt.Sprint
}

// TestJoinRunningBatch: requests that arrive while another is being
// decoded join its batch at a token boundary (prefilled two tokens a step,
// inside the steps or apart) and leave when done, before it ends; each
// gets the tokens it gets alone. With a larger chunk, requests queued
// together are prefilled in the same step (inside the steps), and still
// get what they get alone.
func TestJoinRunningBatch(t *testing.T) {
	_, m, tok := testServer(t, 4)
	for _, inSteps := range []bool{true, false} {
		t.Run(fmt.Sprintf("prefill_in_steps=%v", inSteps), func(t *testing.T) {
			e := newEngine(t, m, tok, 4)
			if !inSteps { // the Decoder alone: prompts prefilled apart
				e.Decoder = struct{ Decoder }{e.Decoder}
			}
			e.Chunk = 2 // "The river, " joins after 6 steps of prefill
			joinRunningBatch(t, e, m, tok, []string{"Hi", "The river, "})
		})
	}
	t.Run("several_in_one_step", func(t *testing.T) {
		e := newEngine(t, m, tok, 4)
		rec := &chunkRecorder{ChunkDecoder: e.Decoder.(ChunkDecoder)}
		e.Decoder, e.Chunk = rec, 64
		joinRunningBatch(t, e, m, tok, []string{"Hi", "The river, ", "xyz"})
		if rec.most != 3 {
			t.Errorf("at most %d of 3 requests queued together joined in one step", rec.most)
		}
	})
}

// TestJoinOneAtATimeBesideManyRows: with three rows running and two
// requests queued (fewer than waitingServed times the rows), they join one
// step after the other, so the running rows' steps stay light; each gets
// what it gets alone.
func TestJoinOneAtATimeBesideManyRows(t *testing.T) {
	_, m, tok := testServer(t, 5)
	e := newEngine(t, m, tok, 5)
	rec := &chunkRecorder{ChunkDecoder: e.Decoder.(ChunkDecoder)}
	e.Decoder, e.Chunk = rec, 64
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	short := []string{"Hi", "xyz"}
	var pending []*Pending
	seen := 0
	long := func(p string) Request {
		return Request{Prompt: tok.Encode(p).IDs, MaxTokens: 30}
	}
	first := long("Once upon a time")
	first.OnToken = func(Token) { // on the engine's goroutine, between steps
		if seen++; seen == 5 { // the three long ones run
			rec.most = 0
			pending = startShort(t, ctx, e, tok, short)
		}
	}
	// The three long ones are queued before the engine starts, so they
	// join in its first step and all run at the first one's fifth token
	// (queued while it ran, one could finish before the others joined).
	var longs []*Pending
	for _, r := range []Request{first, long("The river, "), long("Stones and light")} {
		pd, err := e.Start(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		longs = append(longs, pd)
	}
	go e.Run(ctx)
	for _, pd := range longs {
		if _, err := pd.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if rec.most != 1 {
		t.Errorf("%d requests joined in one step beside three running rows, want 1", rec.most)
	}
	checkShort(t, ctx, m, tok, short, pending, "joining beside three rows")
}

// startShort queues a request of 6 tokens for each prompt.
func startShort(t *testing.T, ctx context.Context, e *Engine, tok *tokenizer.Tokenizer, prompts []string) []*Pending {
	var pending []*Pending
	for _, p := range prompts {
		pd, err := e.Start(ctx, Request{Prompt: tok.Encode(p).IDs, MaxTokens: 6})
		if err != nil {
			t.Error(err)
			continue
		}
		pending = append(pending, pd)
	}
	return pending
}

// checkShort: each of startShort's requests got the tokens it gets alone.
func checkShort(t *testing.T, ctx context.Context, m *bloom.Model, tok *tokenizer.Tokenizer, prompts []string, pending []*Pending, how string) {
	t.Helper()
	for i, p := range prompts {
		r, err := pending[i].Wait(ctx)
		if want := tok.Decode(alone(t, m, tok, p, 6), true); err != nil || r.Text != want {
			t.Errorf("%q %s: %q %v, alone %q", p, how, r.Text, err, want)
		}
	}
}

// chunkRecorder is a ChunkDecoder that keeps the most requests one step
// completed the prefill of.
type chunkRecorder struct {
	ChunkDecoder
	most int
}

func (c *chunkRecorder) StepChunk(ids []int32, chunks [][]int32, complete int) ([]bloom.Choice, error) {
	c.most = max(c.most, complete)
	return c.ChunkDecoder.StepChunk(ids, chunks, complete)
}

func joinRunningBatch(t *testing.T, e *Engine, m *bloom.Model, tok *tokenizer.Tokenizer, short []string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go e.Run(ctx)
	var pending []*Pending
	seen, doneBefore := 0, 0
	long := Request{Prompt: tok.Encode("Once upon a time").IDs, MaxTokens: 40}
	long.OnToken = func(Token) { // on the engine's goroutine, between steps
		seen++
		switch seen {
		case 5: // queued now: they join at the next token
			pending = startShort(t, ctx, e, tok, short)
		case 40: // the long request's last token: the short ones are done
			for _, pd := range pending {
				select {
				case <-pd.j.done:
					doneBefore++
				default:
				}
			}
		}
	}
	res, err := e.Complete(ctx, long)
	if err != nil {
		t.Fatal(err)
	}
	if doneBefore != len(short) {
		t.Errorf("%d of %d short requests finished before the long one's last token: they did not run beside it", doneBefore, len(short))
	}
	checkShort(t, ctx, m, tok, short, pending, "joining a running batch")
	if want := tok.Decode(alone(t, m, tok, "Once upon a time", 40), true); res.Text != want {
		t.Errorf("the long request: %q, alone %q", res.Text, want)
	}
}

// TestDrain: a draining server finishes what it holds and answers new
// requests 503 with Retry-After; /health says so.
func TestDrain(t *testing.T) {
	_, m, tok := testServer(t, 4)
	e := newEngine(t, m, tok, 4)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go e.Run(ctx)
	h := Handler(e, "tiny")
	ts := httptest.NewServer(h)
	defer ts.Close()
	if err := h.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	res, body := post(t, ts.URL+"/v1/completions", map[string]any{"model": "tiny", "prompt": "x", "max_tokens": 2})
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "draining") {
		t.Errorf("while draining: %d %q %s", res.StatusCode, res.Header.Get("Retry-After"), body)
	}
	if r, err := http.Get(ts.URL + "/health"); err != nil || r.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("health while draining: %v %v", r, err)
	}
}

// TestCacheBlocks: requests whose reserved key/value blocks do not fit
// together wait for blocks to be freed, one running at a time here, and
// each gets the tokens it gets alone; a request larger than the whole
// cache is refused as too long.
func TestCacheBlocks(t *testing.T) {
	_, m, tok := testServer(t, 4)
	e := newEngineCache(t, m, tok, 4, 3*16) // 3 blocks; each request below reserves 2
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go e.Run(ctx)
	prompts := []string{"Once upon", "The river, ", "Stones and", "abcdefghi"} // 9-11 tokens + 8: 2 blocks each
	maxLive := int64(0)
	var pending []*Pending
	for _, p := range prompts {
		q := Request{Prompt: tok.Encode(p).IDs, MaxTokens: 8}
		q.OnToken = func(Token) { maxLive = max(maxLive, e.Stats.active.Load()) } // on the engine's goroutine
		pd, err := e.Start(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		pending = append(pending, pd)
	}
	for i, pd := range pending {
		r, err := pd.Wait(ctx)
		if want := tok.Decode(alone(t, m, tok, prompts[i], 8), true); err != nil || r.Text != want {
			t.Errorf("%q: %q %v, alone %q", prompts[i], r.Text, err, want)
		}
	}
	if maxLive != 1 {
		t.Errorf("%d requests ran together in a cache that holds one", maxLive)
	}
	if err := e.Check(Request{Prompt: make([]int32, 40), MaxTokens: 10}); !errors.Is(err, ErrContext) {
		t.Errorf("50 positions in a cache of 48: %v", err)
	}
}

// TestStatsRecord: Stats.Record gets each request's time to its first
// token and the gaps between its tokens, as the histograms do.
func TestStatsRecord(t *testing.T) {
	_, m, tok := testServer(t, 2)
	e := newEngine(t, m, tok, 2)
	var firsts, gaps []float64
	e.Stats.Record = func(first bool, s float64) { // on the engine's goroutine
		if first {
			firsts = append(firsts, s)
		} else {
			gaps = append(gaps, s)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	var tokens int
	for _, p := range []string{"Hello", "Once upon a time"} {
		r, err := e.Complete(ctx, Request{Prompt: tok.Encode(p).IDs, MaxTokens: 5})
		if err != nil {
			t.Fatal(err)
		}
		tokens += len(r.Tokens)
	}
	cancel()
	<-done // the recorder's slices are the engine's until it returns
	// The gauges went back to 0 once the last request left (they had kept
	// the last step's count).
	if a, w := e.Stats.active.Load(), e.Stats.waiting.Load(); a != 0 || w != 0 {
		t.Errorf("after every request: %d running, %d waiting", a, w)
	}
	if len(firsts) != 2 || len(firsts)+len(gaps) != tokens {
		t.Errorf("recorded %d first tokens and %d gaps for 2 requests of %d tokens", len(firsts), len(gaps), tokens)
	}
	for _, s := range append(firsts, gaps...) {
		if s <= 0 || s > 60 {
			t.Errorf("a recorded time of %v s", s)
		}
	}
	var b strings.Builder
	e.Stats.WriteMetrics(&b)
	if want := fmt.Sprintf("bloom_serve_inter_token_latency_seconds_count %d", len(gaps)); !strings.Contains(b.String(), want) {
		t.Errorf("the histogram disagrees with the recorder (want %q):\n%s", want, b.String())
	}
}
