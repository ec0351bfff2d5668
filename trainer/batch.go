package trainer

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"bloom/npu"
	"bloom/trainer/bloom"
)

// Batcher is a serving rank's side of continuous batching: rows decoded a
// position per step together, each with its own picker, requests joining
// free rows and leaving them; their keys and values are kept in blocks of
// BlockSize positions from one pool (bloom.Pages), each request holding
// the blocks it reserved when it joined. It implements trainer/serve's
// Decoder.
//
// Across a tensor- and pipeline-parallel job every rank holds a Batcher of
// its part and they stay in step: rank 0 (the first stage's first
// tensor-parallel rank) drives — each of its calls goes to every rank
// first, as a command broadcast over the pipeline group and then the
// tensor-parallel group, and the other ranks run the commands as they come
// (Follow). The last stage gathers the logits of the whole vocabulary and
// picks the tokens, as one process does, and passes its choices back over
// the pipeline group (log-probabilities then travel as float32). A rank
// whose node wants the job stopped (a drain) says so in every command's
// reduction; the driver hears it (StopVoted).
type Batcher struct {
	inf     *Infer
	ctx     context.Context
	pages   *bloom.Pages
	seqs    []bloom.Seq // per row
	free    []int32     // the pool's free blocks
	context int
	// staging is one row: where !Chunks, a joining request's prompt,
	// prefilled alone (made at the start); where Chunks, the prompts Score
	// scores (made at the first one: stagingCache)
	staging *bloom.Cache
	staged  npu.Buf // the logits of its last position (on the last stage)
	// prefilling: a prompt is in the staging cache, not yet joined (on
	// every rank alike)
	prefilling bool
	scoring    *bloom.Cache // one row: a prompt being scored (Score); staging's where Chunks
	pickers    []rowPicker
	// Requests whose prompts are prefilled inside the steps (Reserve,
	// StepChunk), in the order they reserved: each one's blocks and prompt
	// positions so far, and its picker.
	joins []joiner
	// Vote, when set, tells whether this rank's node asks the job to stop;
	// it is read at every command.
	Vote  func() bool
	voted atomic.Bool
}

type rowPicker struct {
	pick func(int, []float32) int32
	top  int
}

type joiner struct {
	seq  bloom.Seq
	pick rowPicker
}

// BlockSize is the positions of a key/value block.
const BlockSize = 16

// BatchShape is the batch of a serving rank: Rows requests decoded
// together, of up to Positions tokens each, their keys and values in a pool
// of Capacity positions (0: Rows × Positions) of type KV: npu.F32 (the
// zero value), or npu.F16 or npu.BF16 on a device that attends over half
// values in place (npu.HalfPagedAttender), which halves the pool's memory
// and the bytes each step reads from it, at the cost of rounding keys and
// values to the half type.
type BatchShape struct {
	Rows, Positions, Capacity int
	KV                        npu.DType
}

// NewBatcher makes the rows of a serving rank in the shape s, the pool in
// blocks of BlockSize. ctx bounds its communication.
func NewBatcher(ctx context.Context, i *Infer, s BatchShape) (*Batcher, error) {
	rows, positions, capacity := s.Rows, s.Positions, s.Capacity
	if capacity == 0 {
		capacity = rows * positions
	}
	if rows < 1 || positions < 2 || capacity < BlockSize {
		return nil, fmt.Errorf("%w: a batch of %d rows of %d positions in a cache of %d (at least 1 row of 2 positions, a cache of %d)",
			ErrConfig, rows, positions, capacity, BlockSize)
	}
	if i.tpc != nil {
		i.tpc.ctx = ctx
	}
	n := (capacity + BlockSize - 1) / BlockSize
	var pages *bloom.Pages
	if s.KV == npu.F32 {
		pages = i.Model.NewPages(n, BlockSize, rows, positions)
	} else {
		p, err := i.Model.NewHalfPages(s.KV, n, BlockSize)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrConfig, err)
		}
		pages = p
	}
	// Serving: keep the weights packed for the device's GEMM, so a decode
	// step does not re-pack every matrix (the weights do not change while
	// a Batcher serves).
	i.Model.PackWeights()
	b := &Batcher{inf: i, ctx: ctx, pages: pages, seqs: make([]bloom.Seq, rows),
		context: positions, pickers: make([]rowPicker, rows)}
	if !b.Chunks() {
		b.stagingCache() // every request is prefilled there: fail now if it does not fit
	}
	for k := n - 1; k >= 0; k-- {
		b.free = append(b.free, int32(k))
	}
	return b, nil
}

// stagingCache is the staging cache, made at its first use: where prompts
// are prefilled inside the steps (Chunks) only Score uses it, and a server
// whose requests never ask for their prompts' log-probabilities keeps none.
// trainer/memplan counts it (Job.EngineCaches).
func (b *Batcher) stagingCache() *bloom.Cache {
	if b.staging == nil {
		b.staging = b.inf.Model.NewCache(1, b.context)
	}
	return b.staging
}

// LocalBatcher is the Batcher of one process holding the whole model m.
func LocalBatcher(m *bloom.Model, s BatchShape) (*Batcher, error) {
	i, err := Whole(m)
	if err != nil {
		return nil, err
	}
	return NewBatcher(context.Background(), i, s)
}

// Whole is an Infer of one rank holding the whole model m (no copy).
func Whole(m *bloom.Model) (*Infer, error) {
	if !m.Part.Embed || !m.Part.Head || m.Part.TP > 1 {
		return nil, fmt.Errorf("%w: Whole needs a whole model, not a part", ErrConfig)
	}
	return &Infer{Model: m, env: Env{Dev: m.Dev}}, nil
}

// Vocab, Rows, Context and Blocks are the batch's shape: the vocabulary,
// rows decoded together, positions a request may take, and the pool's
// blocks and their size.
func (b *Batcher) Vocab() int            { return b.inf.Model.Cfg.Vocab }
func (b *Batcher) Rows() int             { return len(b.seqs) }
func (b *Batcher) Context() int          { return b.context }
func (b *Batcher) Blocks() (n, size int) { return b.pages.N, b.pages.Size }

// Drives tells whether this rank drives the others (rank 0).
func (b *Batcher) Drives() bool { p := b.inf.Model.Part; return p.Embed && p.TPRank == 0 }

// StopVoted tells whether some rank's node asked the job to stop.
func (b *Batcher) StopVoted() bool { return b.voted.Load() }

// Prefill runs ids, the next chunk of a joining request's prompt (first:
// its first chunk), alone in a staging row.
func (b *Batcher) Prefill(ids []int32, first bool) error {
	c := command{op: opPrefill}
	if first {
		c.a = 1
	}
	_, err := b.call(c, ids)
	return err
}

// Join gives row the blocks for reserve positions and the prompt
// prefilled so far, and returns the choice of its first new token, picked
// as s says, with top alternatives. The row holds the blocks until it
// leaves.
func (b *Batcher) Join(row, reserve int, s bloom.Sampling, top int) (bloom.Choice, error) {
	ch, err := b.call(command{op: opJoin, a: row, b: reserve, top: top, s: s}, nil)
	if err != nil {
		return bloom.Choice{}, err
	}
	return ch[0], nil
}

// Step decodes ids, one token for each of the first len(ids) rows, and
// returns each row's choice of its next token.
func (b *Batcher) Step(ids []int32) ([]bloom.Choice, error) {
	return b.call(command{op: opStep}, ids)
}

// Chunks tells whether a joining request's prompt can be prefilled inside
// the decoding steps (Reserve, StepChunk): where the device attends over
// the key/value blocks in place, so that a prompt's positions are rows of
// the step.
func (b *Batcher) Chunks() bool { return b.pages.InPlace() }

// Reserve starts a joining request: the blocks of reserve positions, its
// picker (as s says, with top alternatives); its prompt follows in
// StepChunk's chunks. Several requests may be joining, in the order they
// reserved, as many as there are rows.
func (b *Batcher) Reserve(reserve int, s bloom.Sampling, top int) error {
	_, err := b.call(command{op: opReserve, b: reserve, top: top, s: s}, nil)
	return err
}

// StepChunk is Step with the next chunks of the joining requests' prompts
// prefilled in the same pass, each prompt position a row of its own:
// chunks[k] continues the k-th joining request's prompt (in the order they
// reserved; len(chunks) of them, each chunk at least one token). The first
// complete of them end their prompts with these chunks: they take rows
// len(ids), len(ids)+1, … in order, their first tokens' choices following
// the rows' choices.
func (b *Batcher) StepChunk(ids []int32, chunks [][]int32, complete int) ([]bloom.Choice, error) {
	// The payload: the rows' tokens, the chunks' one after another, then
	// each chunk's length.
	pay := slices.Clone(ids)
	for _, ch := range chunks {
		pay = append(pay, ch...)
	}
	for _, ch := range chunks {
		pay = append(pay, int32(len(ch)))
	}
	return b.call(command{op: opStep, a: len(chunks), b: complete}, pay)
}

// Score returns the log-probability of each token of ids after the ones
// before it (len(ids)−1 choices: ids[1:]), each with the top likeliest
// alternatives at its position: how a prompt is echoed with its
// log-probabilities. It runs beside the rows, in a cache of its own where
// prompts are prefilled alone (not Chunks), else in the one Prefill uses,
// so not between a Prefill and its Join.
func (b *Batcher) Score(ids []int32, top int) ([]bloom.Choice, error) {
	return b.call(command{op: opScore, top: top}, ids)
}

// Leave frees row's blocks and puts row last (blocks, length, picker) in
// its place.
func (b *Batcher) Leave(row, last int) error {
	_, err := b.call(command{op: opLeave, a: row, b: last}, nil)
	return err
}

// Idle tells the other ranks the driver lives while no request runs (and
// hears their votes); the engine calls it about every half second then.
func (b *Batcher) Idle() error {
	_, err := b.call(command{op: opIdle}, nil)
	return err
}

// Stop ends the other ranks' Follow; planned says the job is to move (a
// drain), not end.
func (b *Batcher) Stop(planned bool) error {
	c := command{op: opStop}
	if planned {
		c.a = 1
	}
	_, err := b.call(c, nil)
	return err
}

// Follow runs rank 0's commands on this rank until it stops them; planned
// says the job is to move (a drain).
func (b *Batcher) Follow() (planned bool, err error) {
	for {
		c, ids, err := b.exchange(command{}, nil)
		if err != nil {
			return false, err
		}
		if c.op == opStop {
			return c.a == 1, nil
		}
		if _, err := b.apply(c, ids); err != nil {
			return false, err
		}
	}
}

const (
	opIdle = iota
	opPrefill
	opJoin
	opStep
	opLeave
	opStop
	opReserve
	opScore
)

// command is one call of the driver, as every rank runs it.
type command struct {
	op, a, b, top int
	s             bloom.Sampling
	vote          bool
}

// The command's slots in its broadcast: small integers as they are, 64-bit
// values in four exact 16-bit pieces.
const (
	cmdOp = iota
	cmdN
	cmdA
	cmdB
	cmdTop
	cmdTopK
	cmdVote
	cmdTemp               // 4 slots
	cmdTopP = cmdTemp + 4 // 4 slots
	cmdSeed = cmdTopP + 4 // 4 slots
	cmdLen  = cmdSeed + 4
)

func put64(buf []float32, v uint64) {
	for k := range 4 {
		buf[k] = float32(v >> (16 * k) & 0xffff)
	}
}

func get64(buf []float32) uint64 {
	var v uint64
	for k := range 4 {
		v |= uint64(buf[k]) << (16 * k)
	}
	return v
}

func (b *Batcher) call(c command, ids []int32) ([]bloom.Choice, error) {
	if !b.Drives() {
		return nil, fmt.Errorf("%w: only rank 0 drives a batch (the others Follow)", ErrConfig)
	}
	c, ids, err := b.exchange(c, ids)
	if err != nil {
		return nil, err
	}
	return b.apply(c, ids)
}

// exchange gives every rank the driver's command and ids (the others pass
// zero values) and every rank's stop vote: a sum over the pipeline group,
// then over the tensor-parallel group, in which only rank 0 adds the
// command, so every rank ends with it once and with the number of votes.
func (b *Batcher) exchange(c command, ids []int32) (command, []int32, error) {
	drive, multi := b.Drives(), b.inf.ranks() > 1
	if !multi {
		if b.Vote != nil && b.Vote() {
			b.voted.Store(true)
		}
		return c, ids, nil
	}
	buf := make([]float32, cmdLen)
	if drive {
		buf[cmdOp], buf[cmdN], buf[cmdA], buf[cmdB], buf[cmdTop], buf[cmdTopK] =
			float32(c.op), float32(len(ids)), float32(c.a), float32(c.b), float32(c.top), float32(c.s.TopK)
		put64(buf[cmdTemp:], math.Float64bits(c.s.Temperature))
		put64(buf[cmdTopP:], math.Float64bits(c.s.TopP))
		put64(buf[cmdSeed:], c.s.Seed)
	}
	if b.Vote != nil && b.Vote() {
		buf[cmdVote] = 1
	}
	if err := b.broadcast(buf); err != nil {
		return c, nil, fmt.Errorf("receiving the driver's command: %w", err)
	}
	c = command{op: int(buf[cmdOp]), a: int(buf[cmdA]), b: int(buf[cmdB]), top: int(buf[cmdTop]), vote: buf[cmdVote] > 0,
		s: bloom.Sampling{TopK: int(buf[cmdTopK]), Temperature: math.Float64frombits(get64(buf[cmdTemp:])),
			TopP: math.Float64frombits(get64(buf[cmdTopP:])), Seed: get64(buf[cmdSeed:])}}
	if c.vote {
		b.voted.Store(true)
	}
	n := int(buf[cmdN])
	if n == 0 {
		return c, nil, nil
	}
	// At most: each row's token, and each joining request's chunk (within
	// its context) and its length.
	if n > (b.context+2)*len(b.seqs) || n < 0 {
		return c, nil, fmt.Errorf("%w: a command of %d tokens for %d rows of a context of %d", ErrMismatch, n, len(b.seqs), b.context)
	}
	pay := make([]float32, n)
	if drive {
		for k, id := range ids {
			pay[k] = float32(id)
		}
	}
	if err := b.broadcast(pay); err != nil {
		return c, nil, fmt.Errorf("receiving the driver's tokens: %w", err)
	}
	ids = make([]int32, n)
	for k, v := range pay {
		ids[k] = int32(v)
	}
	return c, ids, nil
}

func (b *Batcher) broadcast(buf []float32) error {
	if err := b.inf.allReduce(b.ctx, b.inf.env.PP, buf); err != nil {
		return err
	}
	return b.inf.allReduce(b.ctx, b.inf.env.TP, buf)
}

// apply runs a command on this rank's part.
func (b *Batcher) apply(c command, ids []int32) ([]bloom.Choice, error) {
	m := b.inf.Model
	switch c.op {
	case opIdle, opStop:
		return nil, nil
	case opLeave:
		if c.a < 0 || c.b < c.a || c.b >= len(b.seqs) {
			return nil, fmt.Errorf("%w: row %d leaves, row %d in its place, of %d", bloom.ErrInput, c.a, c.b, len(b.seqs))
		}
		blocks := b.seqs[c.a].Blocks
		for k := len(blocks) - 1; k >= 0; k-- {
			b.free = append(b.free, blocks[k])
		}
		b.seqs[c.a], b.pickers[c.a] = b.seqs[c.b], b.pickers[c.b]
		b.seqs[c.b], b.pickers[c.b] = bloom.Seq{}, rowPicker{}
		return nil, nil
	case opPrefill:
		st := b.stagingCache()
		if c.a == 1 {
			st.Reset()
			b.staged = nil
		}
		if len(ids) == 0 || st.Len+len(ids) > st.Cap {
			return nil, fmt.Errorf("%w: %d more prompt tokens after %d of a context of %d", bloom.ErrInput, len(ids), st.Len, st.Cap)
		}
		logits, err := b.inf.stage(b.ctx, st, ids, nil)
		if err != nil {
			return nil, err
		}
		b.staged, b.prefilling = logits, true
		return nil, nil
	case opJoin:
		need := (c.b + BlockSize - 1) / BlockSize
		st := b.stagingCache()
		if c.a < 0 || c.a >= len(b.seqs) || len(b.seqs[c.a].Blocks) > 0 || st.Len == 0 || c.b < st.Len ||
			c.b > b.context || need > len(b.free) {
			return nil, fmt.Errorf("%w: a prompt of %d tokens reserving %d positions into row %d of %d, %d blocks free",
				bloom.ErrInput, st.Len, c.b, c.a, len(b.seqs), len(b.free))
		}
		s := bloom.Seq{Blocks: b.take(need)}
		if err := m.Store(b.pages, &s, st); err != nil {
			return nil, err
		}
		b.seqs[c.a] = s
		logits := b.staged
		b.prefilling = false // the staging cache is free again
		b.pickers[c.a] = rowPicker{pick: c.s.Picker(), top: min(c.top, m.Cfg.Vocab)}
		return b.choose(logits, []int{c.a})
	case opReserve:
		need := (c.b + BlockSize - 1) / BlockSize
		if len(b.joins) >= len(b.seqs) || c.b < 1 || c.b > b.context || need > len(b.free) {
			return nil, fmt.Errorf("%w: reserving %d positions (%d joining already, %d rows), %d blocks free",
				bloom.ErrInput, c.b, len(b.joins), len(b.seqs), len(b.free))
		}
		b.joins = append(b.joins, joiner{bloom.Seq{Blocks: b.take(need)}, rowPicker{pick: c.s.Picker(), top: min(c.top, m.Cfg.Vocab)}})
		return nil, nil
	case opScore:
		return b.score(ids, c.top)
	case opStep:
		if c.a > 0 {
			return b.stepChunk(ids, c.a, c.b)
		}
		n := len(ids)
		if n == 0 || n > len(b.seqs) {
			return nil, fmt.Errorf("%w: a step of %d rows of %d", bloom.ErrInput, n, len(b.seqs))
		}
		logits, err := b.inf.stagePages(b.ctx, b.pages, b.seqs[:n], ids, n)
		if err != nil {
			return nil, err
		}
		return b.choose(logits, firstRows(n))
	}
	return nil, fmt.Errorf("%w: unknown command %d", ErrMismatch, c.op)
}

// take removes need blocks from the free list and returns them in the
// order they were freed last (the list's end, reversed).
func (b *Batcher) take(need int) []int32 {
	blocks := slices.Clone(b.free[len(b.free)-need:])
	slices.Reverse(blocks)
	b.free = b.free[:len(b.free)-need]
	return blocks
}

// firstRows is rows 0..n-1.
func firstRows(n int) []int {
	rows := make([]int, n, n+1)
	for r := range rows {
		rows[r] = r
	}
	return rows
}

// stepChunk runs a step of the rows with the next chunks of the first
// joins joining requests' prompts, whose tokens and lengths end pay (see
// StepChunk), each prompt position a row of its own: first the rows, then
// the last position of each of the first complete joiners (the only logits
// the head computes besides the rows'), then the other positions; a step
// longer than the batch is padded with repeats of its last row to a
// multiple of BlockSize, so the device's step buffers come in few sizes.
func (b *Batcher) stepChunk(pay []int32, joins, complete int) ([]bloom.Choice, error) {
	bad := func(what string, a ...any) error {
		return fmt.Errorf("%w: a step with prompt chunks of %d joining requests (%d complete; %d joining, %d rows, in place: %v): %s",
			bloom.ErrInput, joins, complete, len(b.joins), len(b.seqs), b.Chunks(), fmt.Sprintf(what, a...))
	}
	if !b.Chunks() || joins > len(b.joins) || complete < 0 || complete > joins || joins > len(pay) {
		return nil, bad("no such joiners")
	}
	lens, toks := pay[len(pay)-joins:], pay[:len(pay)-joins]
	n := len(toks)
	for k, l := range lens {
		j := b.joins[k].seq
		if l < 1 || j.Len+int(l) > len(j.Blocks)*BlockSize {
			return nil, bad("a chunk of %d positions after %d in %d blocks", l, j.Len, len(j.Blocks))
		}
		n -= int(l)
	}
	if n < 0 || n+complete > len(b.seqs) {
		return nil, bad("%d rows", n)
	}
	seqs, ids := slices.Clone(b.seqs[:n]), slices.Clone(toks[:n])
	chunks := make([][]int32, joins) // each joiner's, after the rows' tokens
	for k, at := 0, n; k < joins; k++ {
		chunks[k], at = toks[at:at+int(lens[k])], at+int(lens[k])
	}
	for k, ch := range chunks[:complete] { // the last positions first: the head's rows
		last := b.joins[k].seq
		last.Len += len(ch) - 1
		seqs, ids = append(seqs, last), append(ids, ch[len(ch)-1])
	}
	for k, ch := range chunks {
		if k < complete {
			ch = ch[:len(ch)-1]
		}
		for j, t := range ch {
			v := b.joins[k].seq
			v.Len += j
			seqs, ids = append(seqs, v), append(ids, t)
		}
	}
	for len(seqs) > len(b.seqs) && len(seqs)%BlockSize != 0 {
		seqs, ids = append(seqs, seqs[len(seqs)-1]), append(ids, ids[len(ids)-1])
	}
	logits, err := b.inf.stagePages(b.ctx, b.pages, seqs, ids, max(n+complete, 1))
	if err != nil {
		return nil, err
	}
	for r := range n {
		b.seqs[r].Len = seqs[r].Len
	}
	rows := firstRows(n)
	for k := range joins {
		b.joins[k].seq.Len += int(lens[k])
		if k < complete {
			b.seqs[n+k], b.pickers[n+k] = b.joins[k].seq, b.joins[k].pick
			rows = append(rows, n+k)
		}
	}
	b.joins = slices.Delete(b.joins, 0, complete)
	if len(rows) == 0 {
		return nil, nil
	}
	return b.choose(logits, rows)
}

// choose picks each row's next token on the last stage and gives the
// choices to every stage.
func (b *Batcher) choose(logits npu.Buf, rows []int) ([]bloom.Choice, error) {
	m := b.inf.Model
	top := 0
	for _, r := range rows {
		top = max(top, b.pickers[r].top)
	}
	out := make([]bloom.Choice, len(rows))
	if m.Part.Head {
		full, norm, err := b.inf.gather(b.ctx, logits, len(rows))
		if err != nil {
			return nil, err
		}
		V := m.Cfg.Vocab
		// Rows pick apart (each its own sampler), so they are spread over
		// the cores (a sampler sorts the vocabulary).
		forRows(len(rows), func(k int) {
			r := rows[k]
			row := full[k*V : (k+1)*V]
			p := b.pickers[r]
			out[k] = bloom.Choose(row, p.pick(r, row), p.top, norm[k])
		})
	}
	return b.share(out, top, func(k int) int { return b.pickers[rows[k]].top })
}

// share gives the last stage's choices (out, each with up to top
// alternatives; tops(k) of out[k]) to every stage of the pipeline, over
// its group (as float32).
func (b *Batcher) share(out []bloom.Choice, top int, tops func(k int) int) ([]bloom.Choice, error) {
	m := b.inf.Model
	if b.inf.env.PP == nil || b.inf.env.PP.Size() <= 1 {
		return out, nil
	}
	stride := 2 + 2*top
	buf := make([]float32, len(out)*stride)
	if m.Part.Head {
		for k, c := range out {
			e := buf[k*stride : (k+1)*stride]
			e[0], e[1] = float32(c.ID), float32(c.Logprob)
			for j, a := range c.Top {
				e[2+2*j], e[3+2*j] = float32(a.ID), float32(a.Logprob)
			}
		}
	}
	if err := b.inf.allReduce(b.ctx, b.inf.env.PP, buf); err != nil {
		return nil, fmt.Errorf("passing the picked tokens to every stage: %w", err)
	}
	if m.Part.Head {
		return out, nil
	}
	for k := range out {
		e := buf[k*stride : (k+1)*stride]
		out[k] = bloom.Choice{ID: int32(e[0]), Logprob: float64(e[1])}
		for j := range tops(k) {
			out[k].Top = append(out[k].Top, bloom.Alt{ID: int32(e[2+2*j]), Logprob: float64(e[3+2*j])})
		}
	}
	return out, nil
}

// scoreChunk is how many positions Score runs at a time: the head's
// logits of a chunk are chunk × vocabulary floats.
const scoreChunk = BlockSize

// score is Score on this rank: the prompt in chunks through the scoring
// cache, the head on every position, each position's logits scoring the
// next token.
func (b *Batcher) score(ids []int32, top int) ([]bloom.Choice, error) {
	m := b.inf.Model
	if len(ids) < 1 || len(ids) > b.context || top < 0 || top > m.Cfg.Vocab {
		return nil, fmt.Errorf("%w: scoring a prompt of %d tokens (context %d) with %d alternatives", bloom.ErrInput, len(ids), b.context, top)
	}
	if b.scoring == nil {
		b.scoring = b.stagingCache() // unused where prompts are prefilled inside the steps
		if !b.Chunks() {
			b.scoring = m.NewCache(1, b.context) // it may hold a prompt being prefilled
		}
	}
	if b.scoring == b.staging && b.prefilling {
		return nil, fmt.Errorf("%w: scoring a prompt while another is prefilled (Prefill, then Join first)", bloom.ErrInput)
	}
	b.scoring.Reset()
	out := make([]bloom.Choice, len(ids)-1)
	V := m.Cfg.Vocab
	for at := 0; at < len(ids)-1; at += scoreChunk {
		ch := ids[at:min(at+scoreChunk, len(ids)-1)] // the last token scores nothing
		logits, err := b.inf.runStage(b.ctx, len(ch), func(in npu.Buf) (npu.Buf, error) { return m.ScoreStage(b.scoring, ch, in) })
		if err != nil {
			return nil, err
		}
		if !m.Part.Head {
			continue
		}
		full, norm, err := b.inf.gather(b.ctx, logits, len(ch))
		if err != nil {
			return nil, err
		}
		forRows(len(ch), func(k int) {
			out[at+k] = bloom.Choose(full[k*V:(k+1)*V], ids[at+k+1], top, norm[k])
		})
	}
	return b.share(out, top, func(int) int { return top })
}

// forRows runs f(0) … f(n−1), split in contiguous runs over the cores.
func forRows(n int, f func(k int)) {
	parts := min(n, runtime.GOMAXPROCS(0))
	if parts <= 1 {
		for k := range n {
			f(k)
		}
		return
	}
	var wg sync.WaitGroup
	for p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := p * n / parts; k < (p+1)*n/parts; k++ {
				f(k)
			}
		}()
	}
	wg.Wait()
}

// ranks is the job's size: its tensor- times pipeline-parallel ranks.
func (i *Infer) ranks() int {
	n := 1
	for _, g := range []Group{i.env.TP, i.env.PP} {
		if g != nil {
			n *= g.Size()
		}
	}
	return n
}
