package serve

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"bloom/trainer/bloom"
	"bloom/trainer/tokenizer"
)

// Engine answers completion requests with one model. Requests wait in a
// queue; when the model is free it takes every waiting request (up to
// MaxBatch) as one batch, left-padded, and decodes them together with a
// KV cache, each row with its own sampler, stop strings and length; a row
// that is done is no longer reported (its EOS ends it in the batch). A
// batched request's tokens are the ones it gets alone (left padding shifts
// neither positions nor attention). Run drives it.
type Engine struct {
	Model      *bloom.Model
	Tok        *tokenizer.Tokenizer
	MaxBatch   int   // requests decoded together (0: 8)
	MaxContext int   // positions a prompt and its new tokens may take (0: 2048)
	Pad, EOS   int32 // BLOOM's <pad> (3) and </s> (2); EOS < 0: no token ends a completion

	queue chan *job
	once  sync.Once
	Stats Stats
}

// Request is one completion.
type Request struct {
	Prompt      []int32
	MaxTokens   int
	Temperature float64 // 0: greedy
	TopP        float64 // 0 or 1: no nucleus cut
	Seed        uint64
	Stop        []string // the text ends before the first of these
	Logprobs    int      // alternatives per token to report (0: the token's own logprob only)
	// OnToken, when set, gets each new token as it is decided (streaming);
	// it runs on the engine's goroutine and must not block for long.
	OnToken func(Token)
}

// Token is one new token: its id, the text it adds (what the whole
// continuation's text gained: "" while a multi-byte character is not yet
// complete), its log-probability, and the likeliest alternatives.
type Token struct {
	ID      int32
	Text    string
	Logprob float64
	Top     map[string]float64
}

// Result is a finished completion.
type Result struct {
	Tokens       []Token
	Text         string
	FinishReason string // "stop" (EOS or a stop string) or "length"
	// Tail is the end of Text no Token carried: bytes of a character the
	// continuation never completed. A stream sends it last.
	Tail string
}

// ErrContext wraps a request whose prompt and new tokens do not fit
// MaxContext, or that asks for nothing.
var ErrContext = errors.New("serve: the request does not fit the context")

type job struct {
	req     Request
	res     Result
	err     error
	done    chan struct{}
	queued  time.Time
	last    time.Time
	ids     []int32
	text    string // the text of ids so far
	pick    func(int, []float32) int32
	stopped bool
	cut     bool // a stop string ended the text
}

func (e *Engine) init() {
	e.once.Do(func() {
		if e.MaxBatch <= 0 {
			e.MaxBatch = 8
		}
		if e.MaxContext <= 0 {
			e.MaxContext = 2048
		}
		e.queue = make(chan *job, 1024)
	})
}

// Check reports a request the engine cannot serve.
func (e *Engine) Check(r Request) error {
	e.init()
	switch {
	case len(r.Prompt) == 0:
		return fmt.Errorf("%w: the prompt is empty", ErrContext)
	case r.MaxTokens < 1:
		return fmt.Errorf("%w: max_tokens must be at least 1, got %d", ErrContext, r.MaxTokens)
	case len(r.Prompt)+r.MaxTokens > e.MaxContext:
		return fmt.Errorf("%w: the prompt's %d tokens and max_tokens %d exceed the context of %d", ErrContext, len(r.Prompt), r.MaxTokens, e.MaxContext)
	}
	for _, id := range r.Prompt {
		if id < 0 || int(id) >= e.Model.Cfg.Vocab {
			return fmt.Errorf("%w: token %d is outside the vocabulary of %d", ErrContext, id, e.Model.Cfg.Vocab)
		}
	}
	return nil
}

// Complete queues r and waits for its result, or for ctx.
func (e *Engine) Complete(ctx context.Context, r Request) (Result, error) {
	if err := e.Check(r); err != nil {
		return Result{}, err
	}
	j := &job{req: r, done: make(chan struct{}), queued: time.Now()}
	select {
	case e.queue <- j:
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
	e.Stats.queued(1)
	select {
	case <-j.done:
		return j.res, j.err
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
}

// Run serves the queue until ctx ends.
func (e *Engine) Run(ctx context.Context) {
	e.init()
	for {
		var batch []*job
		select {
		case j := <-e.queue:
			batch = append(batch, j)
		case <-ctx.Done():
			return
		}
	more:
		for len(batch) < e.MaxBatch {
			select {
			case j := <-e.queue:
				batch = append(batch, j)
			default:
				break more
			}
		}
		e.Stats.queued(-len(batch))
		e.run(batch)
	}
}

// run decodes one batch.
func (e *Engine) run(batch []*job) {
	e.Stats.running(len(batch))
	defer e.Stats.running(-len(batch))
	prompts, maxNew := make([][]int32, len(batch)), 0
	for i, j := range batch {
		prompts[i], maxNew = j.req.Prompt, max(maxNew, j.req.MaxTokens)
		j.pick = bloom.Greedy
		if j.req.Temperature > 0 {
			topP := j.req.TopP
			if topP <= 0 {
				topP = 1
			}
			j.pick = bloom.NewSampler(j.req.Temperature, 0, topP, j.req.Seed).Pick
		}
	}
	_, err := e.Model.Generate(prompts, e.Pad, bloom.GenerateOptions{MaxNew: maxNew, EOS: int(e.EOS),
		Pick: func(row int, logits []float32) int32 { return e.step(batch[row], row, logits) }})
	for _, j := range batch {
		j.err = err
		if j.res.FinishReason == "" {
			j.res.FinishReason = "length"
		}
		if full := e.Tok.Decode(j.ids, true); !j.cut && len(full) > len(j.text) {
			j.res.Tail, j.res.Text = full[len(j.text):], full
		}
		close(j.done)
	}
}

// step decides row's next token and reports it; a row that is done gets
// EOS, which ends it in the batch (or, with no EOS, padding it ignores).
func (e *Engine) step(j *job, row int, logits []float32) int32 {
	if j.stopped {
		if e.EOS < 0 {
			return e.Pad
		}
		return e.EOS
	}
	id := j.pick(row, logits)
	tk := Token{ID: id, Logprob: logprob(logits, id)}
	if j.req.Logprobs > 0 {
		tk.Top = e.top(logits, j.req.Logprobs)
	}
	now := time.Now()
	if len(j.ids) == 0 {
		e.Stats.ttft.observe(now.Sub(j.queued).Seconds())
	} else {
		e.Stats.itl.observe(now.Sub(j.last).Seconds())
	}
	j.last = now
	e.Stats.tokens.Add(1)
	if id == e.EOS && e.EOS >= 0 {
		j.stopped, j.res.FinishReason = true, "stop"
		return e.EOS
	}
	j.ids = append(j.ids, id)
	full := e.Tok.Decode(j.ids, true)
	if !strings.HasSuffix(full, string(utf8.RuneError)) { // a character still incomplete shows later
		tk.Text, j.text = full[len(j.text):], full
	}
	for _, s := range j.req.Stop {
		if k := strings.Index(j.text, s); s != "" && k >= 0 {
			cut := len(j.text) - k // what the stop string removes of the text so far
			tk.Text = tk.Text[:max(0, len(tk.Text)-cut)]
			j.text = j.text[:k]
			j.stopped, j.cut, j.res.FinishReason = true, true, "stop"
			break
		}
	}
	j.res.Tokens = append(j.res.Tokens, tk)
	j.res.Text = j.text
	if j.req.OnToken != nil {
		j.req.OnToken(tk)
	}
	if len(j.ids) >= j.req.MaxTokens && !j.stopped {
		j.stopped, j.res.FinishReason = true, "length"
	}
	return id
}

// logprob is log softmax(logits)[id].
func logprob(logits []float32, id int32) float64 {
	m := math.Inf(-1)
	for _, v := range logits {
		m = max(m, float64(v))
	}
	s := 0.0
	for _, v := range logits {
		s += math.Exp(float64(v) - m)
	}
	return float64(logits[id]) - m - math.Log(s)
}

// top returns the n likeliest tokens' texts and log-probabilities.
func (e *Engine) top(logits []float32, n int) map[string]float64 {
	idx := make([]int, len(logits))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return logits[idx[a]] > logits[idx[b]] })
	out := map[string]float64{}
	for _, i := range idx[:min(n, len(idx))] {
		out[e.Tok.Decode([]int32{int32(i)}, false)] = logprob(logits, int32(i))
	}
	return out
}
