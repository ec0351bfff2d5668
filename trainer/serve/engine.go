package serve

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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
	// Chunk is how many prompt tokens of joining requests are prefilled
	// per step while other rows run (0: 128): long prompts stall them for a
	// chunk's time per token, not their whole length. A ChunkDecoder
	// prefills them as rows of the step itself, the budget going to the
	// joining requests in turn, so while the queue is long against the
	// running rows (waitingServed) several short prompts join in one step
	// (as TGI's max_batch_prefill_tokens); with other Decoders one request
	// joins at a time.
	Chunk int
	// MaxRequests bounds the requests queued and running together (0:
	// 1024); past it Start answers ErrOverloaded at once (TGI's
	// max_concurrent_requests; the HTTP API answers 429).
	MaxRequests int

	queue chan *job
	open  atomic.Int64 // requests started and not yet finished
	once  sync.Once
	dead  chan struct{} // closed when Run has returned; err says why
	err   error
	Stats Stats
}

// Decoder is the model behind an Engine: up to Rows requests of up to
// Context positions each, decoded a position per Step together, each row
// picking its own tokens, their keys and values in a pool of blocks that
// a request reserves when it joins (Join) and frees when it leaves
// (Leave). trainer.Batcher is one, for one process or for the driving rank
// of a tensor- and pipeline-parallel job. An error from a Decoder ends
// the engine: its requests fail (the HTTP API answers 503).
type Decoder interface {
	Vocab() int
	Rows() int
	Context() int
	// Blocks is the pool: n blocks of size positions.
	Blocks() (n, size int)
	// Prefill runs ids, the next chunk of a joining request's prompt
	// (first: its first chunk), alone.
	Prefill(ids []int32, first bool) error
	// Join gives row the blocks of reserve positions and the prompt
	// prefilled so far; it returns the choice of its first new token,
	// picked as s says, with top alternatives.
	Join(row, reserve int, s bloom.Sampling, top int) (bloom.Choice, error)
	// Step decodes one token for each of the first len(ids) rows and
	// returns each row's choice of its next one.
	Step(ids []int32) ([]bloom.Choice, error)
	// Leave frees row's blocks and puts row last in its place.
	Leave(row, last int) error
	// Idle is called about every half second while no request runs.
	Idle() error
}

// ChunkDecoder is a Decoder that can prefill a joining request's prompt
// inside its decoding steps, each prompt position a row of the step
// (trainer.Batcher, where the device attends over the blocks in place):
// the rows then stall for one step of a few more rows per chunk instead of
// a separate pass over the weights. The engine uses it when Chunks says so.
type ChunkDecoder interface {
	Decoder
	Chunks() bool
	// Reserve starts a joining request: the blocks of reserve positions,
	// its first token picked as s says with top alternatives. Several may
	// be joining, in the order they reserved, up to Rows.
	Reserve(reserve int, s bloom.Sampling, top int) error
	// StepChunk is Step with the next chunks of the joining requests'
	// prompts: chunks[k] (at least one token) continues the k-th joining
	// request's. The first complete of them end their prompts with these
	// chunks and take rows len(ids), len(ids)+1, … in order, their first
	// tokens' choices following the rows'.
	StepChunk(ids []int32, chunks [][]int32, complete int) ([]bloom.Choice, error)
}

// Scorer is a Decoder that scores prompts (trainer.Batcher): the
// log-probability of each token of ids after the ones before it (ids[1:]),
// with top alternatives at each position. A request with PromptLogprobs
// needs one.
type Scorer interface {
	Score(ids []int32, top int) ([]bloom.Choice, error)
}

// ErrOverloaded is Start's error while MaxRequests requests are queued or
// running.
var ErrOverloaded = errors.New("serve: too many requests queued and running; try again shortly")

// ErrStopped is the error of requests an engine that stopped did not serve.
var ErrStopped = errors.New("serve: the engine stopped")

// Request is one completion.
type Request struct {
	Prompt      []int32
	MaxTokens   int
	Temperature float64 // 0: greedy
	TopK        int     // 0: no top-k cut
	TopP        float64 // 0 or 1: no nucleus cut
	Seed        uint64
	Stop        []string // the text ends before the first of these
	Logprobs    int      // alternatives per token to report (0: the token's own logprob only)
	// PromptLogprobs asks for the prompt's tokens' log-probabilities too
	// (Result.Prompt; OpenAI's echo with logprobs): then MaxTokens may be
	// 0, scoring the prompt only.
	PromptLogprobs bool
	// OnToken, when set, gets each new token as it is decided (streaming);
	// it runs on the engine's goroutine and must not block for long. It is
	// never called once Wait (or Complete) has returned for the context's
	// end: a handler may give up its response writer then.
	OnToken func(Token)
	// OnPrompt, when set, gets Result.Prompt once the prompt is scored
	// (PromptLogprobs), before any token, as OnToken is called.
	OnPrompt func([]Token)
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
	// Prompt is, with PromptLogprobs, the prompt's tokens after the first,
	// each with its log-probability after the ones before it and the
	// likeliest alternatives there (Text empty).
	Prompt       []Token
	Tokens       []Token
	Text         string
	FinishReason string // "stop" (EOS or a stop string) or "length"
	StopString   bool   // a stop string ended it (FinishReason "stop"; not EOS)
	// EOS is the end-of-sequence token that ended it, with its
	// log-probability (not in Tokens: it adds no text), or nil.
	EOS *Token
	// Tail is the end of Text no Token carried: bytes of a character the
	// continuation never completed. A stream sends it last.
	Tail string
}

// sampling is how r's tokens are picked.
func (r Request) sampling() bloom.Sampling {
	return bloom.Sampling{Temperature: r.Temperature, TopK: r.TopK, TopP: r.TopP, Seed: r.Seed}
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
	staged  int    // prompt tokens prefilled
	sent    int    // bytes of text the tokens have carried (OnToken)
	stopped bool
	cut     bool // a stop string ended the text

	// ctx is the request's (Start's): once it ends, or once the waiter
	// gives up (abandon; mu orders that against OnToken), no token is
	// delivered and the row leaves at the next step.
	ctx  context.Context
	mu   sync.Mutex
	gone bool
}

// deliver runs f (a call of the request's OnToken or OnPrompt) unless
// its waiter gave up.
func (j *job) deliver(f func()) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.gone && j.ctx.Err() == nil {
		f()
	}
}

// abandon marks the request given up by its waiter; it returns once no
// OnToken call runs or will.
func (j *job) abandon() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.gone = true
}

func (j *job) isGone() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.gone || j.ctx.Err() != nil
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
	case r.MaxTokens < 0 || r.MaxTokens == 0 && !r.PromptLogprobs:
		return fmt.Errorf("%w: max_tokens must be at least 1 (0 only to score the prompt), got %d", ErrContext, r.MaxTokens)
	case len(r.Prompt)+r.MaxTokens > e.Decoder.Context():
		return fmt.Errorf("%w: the prompt's %d tokens and max_tokens %d exceed the context of %d", ErrContext, len(r.Prompt), r.MaxTokens, e.Decoder.Context())
	case e.blocks(r) > e.total():
		return fmt.Errorf("%w: the prompt's %d tokens and max_tokens %d exceed the key/value cache", ErrContext, len(r.Prompt), r.MaxTokens)
	}
	for _, id := range r.Prompt {
		if id < 0 || int(id) >= e.Decoder.Vocab() {
			return fmt.Errorf("%w: token %d is outside the vocabulary of %d", ErrContext, id, e.Decoder.Vocab())
		}
	}
	if _, ok := e.Decoder.(Scorer); r.PromptLogprobs && !ok {
		return fmt.Errorf("%w: this server cannot score prompts (echo with logprobs)", ErrContext)
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

// blocks is the number of key/value blocks r reserves.
func (e *Engine) blocks(r Request) int {
	_, size := e.Decoder.Blocks()
	return (len(r.Prompt) + r.MaxTokens + size - 1) / size
}

func (e *Engine) total() int { n, _ := e.Decoder.Blocks(); return n }

// Pending is a queued request.
type Pending struct {
	j *job
	e *Engine
}

// Room tells whether n more requests may start now (Start may still find
// the engine full when others start meanwhile).
func (e *Engine) Room(n int) bool {
	e.init()
	return e.open.Load()+int64(n) <= e.limit()
}

// limit is MaxRequests, or the queue's capacity.
func (e *Engine) limit() int64 { return int64(cmp.Or(e.MaxRequests, cap(e.queue))) }

// Start queues r and returns at once; with MaxRequests requests queued and
// running it returns ErrOverloaded instead. ctx is the request's: once it
// ends, the request is abandoned (as when Wait gives up), its row freed at
// the next token.
func (e *Engine) Start(ctx context.Context, r Request) (*Pending, error) {
	if err := e.Check(r); err != nil {
		return nil, err
	}
	if e.open.Add(1) > e.limit() {
		e.open.Add(-1)
		return nil, ErrOverloaded
	}
	j := &job{req: r, ctx: ctx, done: make(chan struct{}), queued: time.Now()}
	select {
	case e.queue <- j:
		return &Pending{j, e}, nil
	case <-e.dead:
		e.open.Add(-1)
		return nil, e.err
	case <-ctx.Done():
		e.open.Add(-1)
		return nil, ctx.Err()
	}
}

// Wait waits for the request's result, or for ctx. When ctx ends first
// the request is abandoned: no more tokens reach its OnToken, and its row
// and key/value blocks are freed at the next token boundary.
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
		p.j.abandon()
		return Result{}, ctx.Err()
	}
}

// Run serves the queue until ctx ends: continuous batching. The live rows
// advance one position per step together. A waiting request joins at a
// token boundary: it reserves key/value blocks for its prompt and
// max_tokens, its prompt is prefilled (a ChunkDecoder's: up to Chunk
// positions per step as rows of the step, one request at a time; other
// decoders': alone, a chunk per step while rows run), and its first token
// is picked; it attends to its own tokens only, at the relative positions
// it has alone. Live rows are kept first, and each step
// decodes them, every live row's last token together; a row that finishes
// (EOS, a stop string, its max_tokens) leaves at once, freeing its blocks,
// the last live row moving into its place. Requests join in order while a
// row and their blocks are free; the others wait. A decoder's error ends
// Run: every request fails with it, and so do later ones. After Run,
// requests fail with ErrStopped.
func (e *Engine) Run(ctx context.Context) (err error) {
	e.init()
	d := e.Decoder
	rows := make([]*job, d.Rows())
	live, free := 0, e.total()
	var waiting []*job
	cd, _ := d.(ChunkDecoder)
	if cd != nil && !cd.Chunks() {
		cd = nil
	}
	// Requests whose prompts are being prefilled in the steps (cd), in
	// the order they reserved; a step's chunk budget goes to them in turn.
	var joining []*job
	defer func() {
		e.err = ErrStopped
		if err != nil {
			e.err = fmt.Errorf("%w: %w", ErrStopped, err)
		}
		for _, j := range append(append(rows[:live], waiting...), joining...) {
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
	var chunks [][]int32
	for {
		if live == 0 && len(waiting) == 0 && len(joining) == 0 {
			select { // nothing to do: wait for a request
			case j := <-e.queue:
				if waiting, err = e.intake(waiting, j); err != nil {
					return err
				}
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
				if waiting, err = e.intake(waiting, j); err != nil {
					return err
				}
			default:
				break more
			}
		}
		waiting = slices.DeleteFunc(waiting, func(j *job) bool { // abandoned before they joined
			gone := j.isGone()
			if gone {
				e.Stats.abandoned.Add(1)
				e.finish(j, context.Canceled)
			}
			return gone
		})
		if cd != nil {
			// Requests join while rows and blocks are free and this step's
			// budget has prompt tokens left for them; beside one already
			// joining, only while the queue is long against the running
			// rows (waitingServed), so the steady state keeps its steps
			// light and a burst joins in few steps.
			left := e.chunk()
			for _, j := range joining {
				left -= len(j.req.Prompt) - j.staged
			}
			for left > 0 && len(waiting) > 0 && live+len(joining) < len(rows) && e.blocks(waiting[0].req) <= free {
				if len(joining) > 0 && float64(len(waiting)+len(joining)) < waitingServed*float64(live) {
					break
				}
				j := waiting[0]
				if err := cd.Reserve(len(j.req.Prompt)+j.req.MaxTokens, j.req.sampling(), j.req.Logprobs); err != nil {
					return err
				}
				waiting, joining = waiting[1:], append(joining, j)
				free -= e.blocks(j.req)
				left -= len(j.req.Prompt)
			}
		} else if waiting, live, err = e.admit(rows, waiting, live, &free); err != nil {
			return err
		}
		e.Stats.waiting.Store(int64(len(waiting) + len(e.queue)))
		e.Stats.active.Store(int64(live))
		if live == 0 && len(joining) == 0 {
			continue
		}
		for r, j := range rows[:live] {
			ids[r] = j.next
		}
		var chs []bloom.Choice
		complete := 0
		if len(joining) == 0 {
			chs, err = d.Step(ids[:live])
		} else {
			chunks = chunks[:0]
			for budget := e.chunk(); budget > 0 && len(chunks) < len(joining); {
				j := joining[len(chunks)]
				p := j.req.Prompt[j.staged:]
				n := min(len(p), budget)
				chunks, budget = append(chunks, p[:n]), budget-n
				if n == len(p) {
					complete++
				}
			}
			chs, err = cd.StepChunk(ids[:live], chunks, complete)
			for k, ch := range chunks {
				joining[k].staged += len(ch)
			}
		}
		if err != nil {
			return err
		}
		for r, j := range rows[:live] {
			j.next = e.step(j, chs[r])
		}
		for k, j := range joining[:complete] { // their first tokens: they take the next rows
			j.next = e.step(j, chs[live+k])
			rows[live+k] = j
		}
		live, joining = live+complete, joining[complete:]
		for r := 0; r < live; { // finished and abandoned rows leave; the last live row takes the place
			j := rows[r]
			gone := !j.stopped && j.isGone()
			if !j.stopped && !gone {
				r++
				continue
			}
			if gone {
				e.Stats.abandoned.Add(1)
				e.finish(j, context.Canceled)
			} else {
				e.finish(j, nil)
			}
			free += e.blocks(rows[r].req)
			live--
			if err := d.Leave(r, live); err != nil {
				return err
			}
			rows[r], rows[live] = rows[live], nil
		}
		// The gauges as the step leaves them (the engine may now wait idle).
		e.Stats.waiting.Store(int64(len(waiting) + len(joining) + len(e.queue)))
		e.Stats.active.Store(int64(live))
		if ctx.Err() != nil && live == 0 && len(joining) == 0 {
			return nil
		}
	}
}

// intake takes j from the queue: its prompt scored first when it asks
// for the prompt's log-probabilities (done then if it asks for no new
// token), then it waits to join.
func (e *Engine) intake(waiting []*job, j *job) ([]*job, error) {
	if j.req.PromptLogprobs && !j.isGone() {
		chs, err := e.Decoder.(Scorer).Score(j.req.Prompt, j.req.Logprobs)
		if err != nil {
			e.finish(j, err)
			return waiting, err
		}
		for _, ch := range chs {
			j.res.Prompt = append(j.res.Prompt, e.token(ch))
		}
		if j.req.OnPrompt != nil {
			j.deliver(func() { j.req.OnPrompt(j.res.Prompt) })
		}
	}
	if j.req.MaxTokens == 0 {
		e.finish(j, nil)
		return waiting, nil
	}
	return append(waiting, j), nil
}

// token is ch as a Token, its alternatives by their text (Text empty).
func (e *Engine) token(ch bloom.Choice) Token {
	tk := Token{ID: ch.ID, Logprob: ch.Logprob}
	if len(ch.Top) > 0 {
		tk.Top = map[string]float64{}
		for _, a := range ch.Top {
			tk.Top[e.Tok.Decode([]int32{a.ID}, false)] = a.Logprob
		}
	}
	return tk
}

// admit joins waiting requests, in order, to the free rows after the live
// ones while their blocks are free (free counts them); it returns those
// still waiting and the live count. With no row live, requests are
// prefilled whole; while rows run, up to Chunk prompt tokens are
// prefilled per step (the rows stall for that long).
func (e *Engine) admit(rows []*job, waiting []*job, live int, free *int) ([]*job, int, error) {
	d, budget := e.Decoder, e.chunk()
	running := live > 0
	for len(waiting) > 0 && live < len(rows) && e.blocks(waiting[0].req) <= *free && (!running || budget > 0) {
		j := waiting[0]
		p := j.req.Prompt
		if j.staged < len(p) {
			n := len(p) - j.staged
			if running {
				n = min(n, budget)
				budget -= n
			}
			if err := d.Prefill(p[j.staged:j.staged+n], j.staged == 0); err != nil {
				return waiting, live, err
			}
			if j.staged += n; j.staged < len(p) {
				break // the next chunk at the next step
			}
		}
		ch, err := d.Join(live, len(p)+j.req.MaxTokens, j.req.sampling(), j.req.Logprobs)
		if err != nil {
			return waiting, live, err
		}
		waiting = waiting[1:]
		if j.next = e.step(j, ch); !j.stopped {
			rows[live], live = j, live+1
			*free -= e.blocks(j.req)
			continue
		}
		e.finish(j, nil)
		if err := d.Leave(live, live); err != nil { // done at its first token
			return waiting, live, err
		}
	}
	return waiting, live, nil
}

// waitingServed is the ratio of requests waiting (or joining) to rows
// running from which several requests join in one step, TGI's
// waiting_served_ratio and its default: below it they join one at a time,
// so the running rows' steps carry one prompt's chunk at most.
const waitingServed = 1.2

// chunk is the prompt tokens prefilled per step while rows run.
func (e *Engine) chunk() int {
	if e.Chunk <= 0 {
		return 128
	}
	return e.Chunk
}

// finish ends a request.
func (e *Engine) finish(j *job, err error) {
	select {
	case <-j.done:
		return
	default:
	}
	j.err = err
	e.open.Add(-1)
	if j.res.FinishReason == "" {
		j.res.FinishReason = "length"
	}
	if !j.cut {
		j.text = e.Tok.Decode(j.ids, true) // with a character never completed
	}
	j.res.Text, j.res.Tail = j.text, j.text[min(j.sent, len(j.text)):]
	close(j.done)
}

// step decides row's next token and reports it, marking the request
// stopped when it is done.
func (e *Engine) step(j *job, ch bloom.Choice) int32 {
	id, tk := ch.ID, e.token(ch)
	now := time.Now()
	first := len(j.ids) == 0
	since := now.Sub(j.last).Seconds()
	if first {
		since = now.Sub(j.queued).Seconds()
		e.Stats.ttft.observe(since)
	} else {
		e.Stats.itl.observe(since)
	}
	if e.Stats.Record != nil {
		e.Stats.Record(first, since)
	}
	j.last = now
	e.Stats.tokens.Add(1)
	if id == e.EOS && e.EOS >= 0 {
		j.stopped, j.res.FinishReason, j.res.EOS = true, "stop", &tk
		return id
	}
	j.ids = append(j.ids, id)
	full := e.Tok.Decode(j.ids, true)
	if !strings.HasSuffix(full, string(utf8.RuneError)) { // a character still incomplete shows later
		j.text = full
	}
	for _, s := range j.req.Stop {
		if k := strings.Index(j.text, s); s != "" && k >= 0 {
			j.text = j.text[:k]
			j.stopped, j.cut, j.res.FinishReason, j.res.StopString = true, true, "stop", true
			break
		}
	}
	// The token carries the text not yet carried, but for an end that may
	// begin a stop string (it shows once the string is ruled out, or is
	// cut with it): a stream never sends what the completion's text ends
	// up without.
	upto := len(j.text)
	if !j.cut {
		upto -= heldBack(j.text, j.req.Stop)
	}
	if upto > j.sent {
		tk.Text, j.sent = j.text[j.sent:upto], upto
	}
	j.res.Tokens = append(j.res.Tokens, tk)
	j.res.Text = j.text
	if j.req.OnToken != nil {
		j.deliver(func() { j.req.OnToken(tk) })
	}
	if len(j.ids) >= j.req.MaxTokens && !j.stopped {
		j.stopped, j.res.FinishReason = true, "length"
	}
	return id
}

// heldBack is the length of the longest end of text that is a proper
// beginning of one of stops: text a later token may complete into a stop
// string.
func heldBack(text string, stops []string) int {
	n := 0
	for _, s := range stops {
		for k := min(len(s)-1, len(text)); k > n; k-- {
			if strings.HasSuffix(text, s[:k]) {
				n = k
				break
			}
		}
	}
	return n
}
