package serve

import (
	"context"
	"errors"
	"fmt"
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
	Decoder  Decoder
	Tok      *tokenizer.Tokenizer
	Pad, EOS int32 // BLOOM's <pad> (3) and </s> (2); EOS < 0: no token ends a completion

	queue chan *job
	once  sync.Once
	dead  chan struct{} // closed when Run has returned; err says why
	err   error
	Stats Stats
}

// Decoder is the model behind an Engine: a key/value cache of Rows rows of
// Context positions that advance together, one position per Step, into
// which requests are loaded (Join) and moved (Move), each row picking its
// own tokens. trainer.Batcher is one, for one process or for the driving
// rank of a tensor- and pipeline-parallel job. An error from a Decoder
// ends the engine: its requests fail (the HTTP API answers 503).
type Decoder interface {
	Vocab() int
	Rows() int
	Context() int
	// Begin empties the cache; the next position is pos.
	Begin(pos int) error
	// Join prefills prompt alone and loads it into row, ending at the
	// current position (earlier positions of the row masked out); it
	// returns the choice of its first new token, picked as s says, with
	// top alternatives.
	Join(row int, prompt []int32, s bloom.Sampling, top int) (bloom.Choice, error)
	// Step decodes one token for each of the first len(ids) rows and
	// returns each row's choice of its next one.
	Step(ids []int32) ([]bloom.Choice, error)
	// Move puts row src in row dst.
	Move(dst, src int) error
	// Idle is called about every half second while no request runs.
	Idle() error
}

// ErrStopped is the error of requests an engine that stopped did not serve.
var ErrStopped = errors.New("serve: the engine stopped")

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
	next    int32  // the token to decode next, in its row
	stopped bool
	cut     bool // a stop string ended the text
}

func (e *Engine) init() {
	e.once.Do(func() {
		e.queue = make(chan *job, 1024)
		e.dead = make(chan struct{})
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
	case len(r.Prompt)+r.MaxTokens > e.Decoder.Context():
		return fmt.Errorf("%w: the prompt's %d tokens and max_tokens %d exceed the context of %d", ErrContext, len(r.Prompt), r.MaxTokens, e.Decoder.Context())
	}
	for _, id := range r.Prompt {
		if id < 0 || int(id) >= e.Decoder.Vocab() {
			return fmt.Errorf("%w: token %d is outside the vocabulary of %d", ErrContext, id, e.Decoder.Vocab())
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
type Pending struct {
	j *job
	e *Engine
}

// Start queues r and returns at once (unless the queue is full, when it
// waits for room or ctx).
func (e *Engine) Start(ctx context.Context, r Request) (*Pending, error) {
	if err := e.Check(r); err != nil {
		return nil, err
	}
	j := &job{req: r, done: make(chan struct{}), queued: time.Now()}
	select {
	case e.queue <- j:
		return &Pending{j, e}, nil
	case <-e.dead:
		return nil, e.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Wait waits for the request's result, or for ctx.
func (p *Pending) Wait(ctx context.Context) (Result, error) {
	select {
	case <-p.j.done:
		return p.j.res, p.j.err
	case <-p.e.dead:
		select { // it may have finished as the engine stopped
		case <-p.j.done:
			return p.j.res, p.j.err
		default:
			return Result{}, p.e.err
		}
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
}

// Run serves the queue until ctx ends: continuous batching. The decoder's
// rows all advance one position per step. A waiting request joins at a
// token boundary: it is prefilled alone, its first token picked, and its
// keys and values loaded into a free row ending at the current position
// (earlier positions of the row masked out: it attends to its own tokens
// only, at the relative positions it has alone). Live rows are kept first,
// and each step decodes only them, every live row's last token together; a
// row that finishes (EOS, a stop string, its max_tokens) leaves at once,
// the last live row moving into its place. A request joins only when its
// prompt fits before the current position and its tokens fit before the
// context's end; when no row is live the cache starts over where the
// first request's prompt ends. A decoder's error ends Run: every request
// fails with it, and so do later ones. After Run, requests fail with
// ErrStopped.
func (e *Engine) Run(ctx context.Context) (err error) {
	e.init()
	d := e.Decoder
	rows := make([]*job, d.Rows())
	live, pos := 0, 0
	var waiting []*job
	defer func() {
		e.err = ErrStopped
		if err != nil {
			e.err = fmt.Errorf("%w: %w", ErrStopped, err)
		}
		for _, j := range append(rows[:live], waiting...) {
			e.finish(j, e.err)
		}
		close(e.dead)
		for {
			select {
			case j := <-e.queue:
				e.finish(j, e.err)
			default:
				return
			}
		}
	}()
	idle := time.NewTicker(500 * time.Millisecond)
	defer idle.Stop()
	ids := make([]int32, d.Rows())
	for {
		if live == 0 && len(waiting) == 0 {
			select { // nothing to do: wait for a request
			case j := <-e.queue:
				waiting = append(waiting, j)
			case <-idle.C:
				if err := d.Idle(); err != nil {
					return err
				}
				continue
			case <-ctx.Done():
				return nil
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
		if waiting, live, err = e.admit(rows, waiting, live, &pos); err != nil {
			return err
		}
		e.Stats.waiting.Store(int64(len(waiting) + len(e.queue)))
		e.Stats.active.Store(int64(live))
		if live == 0 {
			continue
		}
		for r, j := range rows[:live] {
			ids[r] = j.next
		}
		chs, err := d.Step(ids[:live])
		if err != nil {
			return err
		}
		pos++
		for r, j := range rows[:live] {
			j.next = e.step(j, chs[r])
		}
		for r := 0; r < live; { // finished rows leave; the last live row takes the place
			if j := rows[r]; !j.stopped {
				r++
				continue
			}
			e.finish(rows[r], nil)
			live--
			if r != live {
				if err := d.Move(r, live); err != nil {
					return err
				}
				rows[r] = rows[live]
			}
			rows[live] = nil
		}
		if ctx.Err() != nil && live == 0 {
			return nil
		}
	}
}

// admit prefills waiting requests into the free rows after the live ones,
// in order, as far as they fit; it returns those still waiting and the
// live count. pos is the cache's next position.
func (e *Engine) admit(rows []*job, waiting []*job, live int, pos *int) ([]*job, int, error) {
	d, rest := e.Decoder, waiting[:0]
	// A prefill stalls the running rows: while there are some, one joins
	// per step.
	running, admitted := live > 0, 0
	for k, j := range waiting {
		lp := len(j.req.Prompt)
		if running && admitted == 1 {
			rest = append(rest, j)
			continue
		}
		if live == 0 { // an empty cache starts where this prompt ends
			if err := d.Begin(lp); err != nil {
				return append(rest, waiting[k:]...), live, err
			}
			*pos = lp
		}
		if live == len(rows) || *pos < lp || *pos+j.req.MaxTokens > d.Context() {
			rest = append(rest, j)
			continue
		}
		s := bloom.Sampling{Temperature: j.req.Temperature, TopP: j.req.TopP, Seed: j.req.Seed}
		ch, err := d.Join(live, j.req.Prompt, s, j.req.Logprobs)
		if err != nil {
			return append(rest, waiting[k:]...), live, err
		}
		if j.next = e.step(j, ch); j.stopped {
			e.finish(j, nil)
			continue
		}
		rows[live], live, admitted = j, live+1, admitted+1
	}
	return rest, live, nil
}

// finish ends a request.
func (e *Engine) finish(j *job, err error) {
	select {
	case <-j.done:
		return
	default:
	}
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
func (e *Engine) step(j *job, ch bloom.Choice) int32 {
	id := ch.ID
	tk := Token{ID: id, Logprob: ch.Logprob}
	if len(ch.Top) > 0 {
		tk.Top = map[string]float64{}
		for _, a := range ch.Top {
			tk.Top[e.Tok.Decode([]int32{a.ID}, false)] = a.Logprob
		}
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
