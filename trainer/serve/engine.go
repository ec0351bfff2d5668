package serve

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"bloom/trainer/bloom"
	"bloom/trainer/tokenizer"
)

// Engine answers completion requests with one model, decoding them in one
// batch that requests join and leave at token boundaries (continuous
// batching, see Run), each row with its own sampler, stop strings and
// length. A batched request's tokens are the ones it gets alone: its row
// attends to its own tokens only, at the relative positions it has alone.
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
	next    int32 // the token to decode next, in its row
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
	p, err := e.Start(ctx, r)
	if err != nil {
		return Result{}, err
	}
	return p.Wait(ctx)
}

// Pending is a queued request.
type Pending struct{ j *job }

// Start queues r and returns at once (unless the queue is full, when it
// waits for room or ctx).
func (e *Engine) Start(ctx context.Context, r Request) (*Pending, error) {
	if err := e.Check(r); err != nil {
		return nil, err
	}
	j := &job{req: r, done: make(chan struct{}), queued: time.Now()}
	select {
	case e.queue <- j:
		return &Pending{j}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Wait waits for the request's result, or for ctx.
func (p *Pending) Wait(ctx context.Context) (Result, error) {
	select {
	case <-p.j.done:
		return p.j.res, p.j.err
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
}

// Run serves the queue until ctx ends: continuous batching. One KV cache
// holds MaxBatch rows of MaxContext positions, all advancing one position
// per step. A waiting request joins at a token boundary: it is prefilled
// alone, its first token picked, and its keys and values loaded into a free
// row ending at the current position (earlier positions of the row masked
// out: it attends to its own tokens only, at the relative positions it has
// alone). Live rows are kept first, and each step decodes only them (a
// view of the cache's first rows), every live row's last token together;
// a row that finishes (EOS, a stop string, its max_tokens) leaves at once,
// the last live row moving into its place. A request joins only when its prompt fits before the current
// position and its tokens fit before MaxContext; when no row is live the
// cache starts over.
func (e *Engine) Run(ctx context.Context) {
	e.init()
	m := e.Model
	c := m.NewCache(e.MaxBatch, e.MaxContext)
	views := map[int]*bloom.Cache{} // the first n rows of c: live rows are kept first
	rows := make([]*job, e.MaxBatch)
	live := 0
	var waiting []*job
	ids, mask := make([]int32, e.MaxBatch), make([]int32, e.MaxBatch)
	for {
		if live == 0 && len(waiting) == 0 {
			select { // nothing to do: wait for a request
			case j := <-e.queue:
				waiting = append(waiting, j)
			case <-ctx.Done():
				return
			}
		}
	more:
		for {
			select {
			case j := <-e.queue:
				waiting = append(waiting, j)
			default:
				break more
			}
		}
		if live == 0 {
			c.Reset()
		}
		waiting, live = e.admit(c, rows, waiting, live)
		e.Stats.waiting.Store(int64(len(waiting) + len(e.queue)))
		e.Stats.active.Store(int64(live))
		if live == 0 {
			continue
		}
		for r, j := range rows[:live] {
			ids[r], mask[r] = j.next, 1
		}
		v := views[live]
		if v == nil {
			v = m.Rows(c, live)
			views[live] = v
		}
		v.Len = c.Len
		logits, err := m.Decode(v, ids[:live], mask[:live])
		c.Len = v.Len
		var host []float32
		if err == nil {
			host = make([]float32, logits.Len())
			m.Dev.Read(host, logits)
		}
		V := m.Cfg.Vocab
		for r, j := range rows[:live] {
			if err != nil {
				j.err, j.stopped = err, true
				continue
			}
			j.next = e.step(j, r, host[r*V:(r+1)*V])
		}
		for r := 0; r < live; { // finished rows leave; the last live row takes the place
			if j := rows[r]; !j.stopped {
				r++
				continue
			}
			e.finish(rows[r], rows[r].err)
			live--
			if r != live {
				m.MoveRow(c, r, live)
				rows[r] = rows[live]
			}
			rows[live] = nil
		}
	}
}

// admit prefills waiting requests into the free rows after the live ones,
// in order, as far as they fit; it returns those still waiting and the
// live count.
func (e *Engine) admit(c *bloom.Cache, rows []*job, waiting []*job, live int) ([]*job, int) {
	m, rest := e.Model, waiting[:0]
	// A prefill stalls the running rows: while there are some, one joins
	// per step.
	running, admitted := live > 0, 0
	for _, j := range waiting {
		lp := len(j.req.Prompt)
		if running && admitted == 1 {
			rest = append(rest, j)
			continue
		}
		if live == 0 && c.Len < lp {
			c.Len = lp // an empty cache starts where the first prompt ends
		}
		if live == len(rows) || c.Len < lp || c.Len+j.req.MaxTokens > c.Cap {
			rest = append(rest, j)
			continue
		}
		j.pick = bloom.Greedy
		if j.req.Temperature > 0 {
			topP := j.req.TopP
			if topP <= 0 {
				topP = 1
			}
			j.pick = bloom.NewSampler(j.req.Temperature, 0, topP, j.req.Seed).Pick
		}
		pc := m.NewCache(1, lp)
		logits, err := m.Decode(pc, j.req.Prompt, nil)
		if err == nil {
			err = m.LoadRow(c, live, pc)
		}
		if err != nil {
			e.finish(j, err)
			continue
		}
		host := make([]float32, logits.Len())
		m.Dev.Read(host, logits)
		if j.next = e.step(j, live, host); j.stopped {
			e.finish(j, nil)
			continue
		}
		rows[live], live, admitted = j, live+1, admitted+1
	}
	return rest, live
}

// finish ends a request.
func (e *Engine) finish(j *job, err error) {
	j.err = err
	if j.res.FinishReason == "" {
		j.res.FinishReason = "length"
	}
	if full := e.Tok.Decode(j.ids, true); !j.cut && len(full) > len(j.text) {
		j.res.Tail, j.res.Text = full[len(j.text):], full
	}
	close(j.done)
}

// step decides row's next token and reports it, marking the request
// stopped when it is done.
func (e *Engine) step(j *job, row int, logits []float32) int32 {
	id := j.pick(row, logits)
	tk := Token{ID: id, Logprob: bloom.LogProb(logits, id)}
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
		return id
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

// top returns the n likeliest tokens' texts and log-probabilities.
func (e *Engine) top(logits []float32, n int) map[string]float64 {
	idx := make([]int, len(logits))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return logits[idx[a]] > logits[idx[b]] })
	out := map[string]float64{}
	for _, i := range idx[:min(n, len(idx))] {
		out[e.Tok.Decode([]int32{int32(i)}, false)] = bloom.LogProb(logits, int32(i))
	}
	return out
}
