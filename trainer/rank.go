package trainer

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"bloom/npu"
	"bloom/trainer/bloom"
)

// Env is what a rank runs with: its device, its communicators, its data and
// where its progress goes. The daemon's worker builds it from collective
// communicators; the tests build an in-process one.
type Env struct {
	Dev npu.Device
	// The groups this rank belongs to (RankConfig.Groups lists their
	// members); nil for a group of one. Embed is the first and last pipeline
	// stage, which sum the gradients of their two copies of the tied word
	// embeddings; nil when PP = 1 and on middle stages.
	TP, DP, PP, Embed Group
	// Prev and Next link this stage to its neighbours (RankConfig.Neighbours);
	// nil at the ends of the pipeline.
	Prev, Next StageLink
	// Data serves the run's samples in order (trainer/data's GPTDataset);
	// every rank reads the samples its micro-batches need.
	Data Source
	// Valid serves the validation samples (the split's second part), read
	// when Eval asks: Iters batches of the step's size after every earlier
	// evaluation's samples (evalWindow), as Megatron's validation iterator
	// does.
	Valid Source
	// Commit learns of every saved shard and commits a checkpoint once all
	// its shards are durable. nil: a job with one model-parallel rank commits
	// its own checkpoints (a DirCommitter).
	Commit Committer
	// Report, when not nil, gets every finished step's figures; every rank
	// reports the same step, loss, learning rate and gradient norm.
	Report func(StepStats)
	// Logf, when not nil, gets notes on where the run starts from.
	Logf func(format string, args ...any)
	// Stop, when not nil, is asked once per step whether this rank wants the
	// run to stop early (its daemon is going down for a restart). The ranks
	// vote inside reductions every step already makes, so all of them stop
	// after the same step: each saves its shard of that step (when Save is
	// set) and Run returns ErrStopped. It must be safe to call from Run's
	// goroutine while another goroutine asks for the stop.
	Stop func() bool
}

// ErrStopped is returned by Run when a rank asked, through Env.Stop, to stop
// early: every rank stopped after the same step and saved its checkpoint.
var ErrStopped = errors.New("trainer: stopped on request after a checkpoint")

// Rank is one rank's training loop: its part of the model and optimizer,
// the pipeline schedule, the data-parallel gradient reduction, gradient
// clipping over all ranks, the learning-rate schedule, and checkpoints.
type Rank struct {
	Cfg   RankConfig
	Model *bloom.Model
	Opt   *AdamW

	step      int       // optimizer steps done, skipped ones included
	consumed  int64     // samples consumed by those steps
	lrSamples int64     // where the learning-rate schedule stands: consumed less the samples of skipped steps
	rng       *rand.PCG // the rank's random state, saved and restored with checkpoints; unused while dropout is 0 (BLOOM's)

	env        Env
	pp, dp, tp int
	tpc        *tpComm
	red        *gradReducer // nil when DP = 1
	pipe       *pipeline
	scaler     *LossScaler // the fp16 loss scaler; nil unless Precision is F16
	trained    []span      // the gradient ranges of the tensors that train
	round      npu.HalfBuf // under F16: scratch for rounding gradients to fp16
	normRuns   []span      // the gradient ranges counted in the global norm
	embed      span        // the tied word embeddings, on the first and last stage
	loraBase   string      // under LoRA: where the frozen weights came from ("" = the initialization)
	host       []float32   // staging for the embedding group
	tag        string      // what its errors start with: "trainer: rank N", or "trainer" for a Local run
}

// Run builds the rank of cfg and trains it until cfg.Steps (see Rank.Run).
func Run(ctx context.Context, cfg RankConfig, env Env) error {
	r, err := NewRank(cfg, env)
	if err != nil {
		return err
	}
	return r.Run(ctx)
}

// NewRank checks cfg and env, allocates this rank's part of the model and
// optimizer, initializes it from cfg.Seed and loads cfg.Load if set. It
// talks to no other rank.
func NewRank(cfg RankConfig, env Env) (*Rank, error) {
	r, err := newRank(cfg, env, fmt.Sprintf("trainer: rank %d", cfg.Rank))
	if err != nil {
		return nil, err
	}
	var comm bloom.TPComm
	if cfg.TP > 1 {
		r.tpc = &tpComm{g: env.TP, dev: env.Dev, ctx: context.Background()}
		comm = r.tpc
	}
	m, err := bloom.NewPart(env.Dev, cfg.Model, cfg.Part(), comm)
	if err != nil {
		return nil, err
	}
	m.InitMegatron(cfg.Seed, cfg.InitStd) // as AscendSpeed starts a model
	if err := r.attach(m, NewAdamW(m, cfg.Adam)); err != nil {
		return nil, err
	}
	if cfg.Load != "" {
		if err := r.load(cfg.Load); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// newRank checks cfg and env and places the rank in its layout; attach
// gives it its model. tag prefixes the errors of its steps.
func newRank(cfg RankConfig, env Env, tag string) (*Rank, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Rank{Cfg: cfg, env: env, tag: tag}
	at := cfg.Coords()
	r.pp, r.dp, r.tp = at.PP, at.DP, at.TP
	if err := r.checkEnv(); err != nil {
		return nil, err
	}
	return r, nil
}

// attach makes m, this rank's part of the model, and opt, its optimizer,
// the ones the rank trains, with what runs a step on them: the precision of
// its products, the loss scaler, the gradient ranges of the norm, the
// data-parallel reducer and the pipeline.
func (r *Rank) attach(m *bloom.Model, opt *AdamW) error {
	cfg := r.Cfg
	m.Recompute = cfg.Recompute
	if err := m.SetPrecision(cfg.Precision); err != nil {
		return err
	}
	if cfg.Precision == npu.F16 {
		s, err := NewLossScaler(cfg.LossScale)
		if err != nil {
			return err
		}
		r.scaler = s
	}
	m.ZeroGrads()
	r.Model, r.Opt = m, opt
	r.rng = rand.NewPCG(cfg.Seed, uint64(cfg.Rank))
	r.layoutRanges()
	if cfg.DP > 1 {
		b := cfg.BucketElems
		if b == 0 {
			b = DefaultBucketElems
		}
		r.red = newGradReducer(r.env.DP, r.env.Dev, m.Grads, m.Layout, b, cfg.Precision == npu.F16)
	}
	r.pipe = newPipeline(cfg, m, r.env)
	return nil
}

// checkEnv checks that env gives this rank what its place in the layout
// needs.
func (r *Rank) checkEnv() error {
	c, e := r.Cfg, r.env
	if e.Dev == nil || e.Data == nil {
		return fmt.Errorf("%w: rank %d has no device or no data source", ErrConfig, c.Rank)
	}
	first, last := r.pp == 0, r.pp == c.PP-1
	embedSize, embedRank := 1, 0
	if c.PP > 1 && (first || last) {
		embedSize = 2
		if last {
			embedRank = 1
		}
	}
	for _, g := range []struct {
		name       string
		g          Group
		size, rank int
	}{{"tensor-parallel", e.TP, c.TP, r.tp}, {"data-parallel", e.DP, c.DP, r.dp},
		{"pipeline", e.PP, c.PP, r.pp}, {"embedding", e.Embed, embedSize, embedRank}} {
		if g.size > 1 && (g.g == nil || g.g.Size() != g.size || g.g.Rank() != g.rank) {
			return fmt.Errorf("%w: rank %d needs a %s group of %d ranks in which it is rank %d", ErrConfig, c.Rank, g.name, g.size, g.rank)
		}
	}
	if !first && e.Prev == nil || !last && e.Next == nil {
		return fmt.Errorf("%w: rank %d on pipeline stage %d of %d needs links to its neighbouring stages", ErrConfig, c.Rank, r.pp, c.PP)
	}
	if c.Save != "" && e.Commit == nil {
		if c.TP*c.PP > 1 {
			return fmt.Errorf("%w: a job of %d model-parallel ranks needs a Committer to commit its checkpoints", ErrConfig, c.TP*c.PP)
		}
		r.env.Commit = &DirCommitter{}
	}
	return nil
}

// layoutRanges finds the gradient ranges this rank counts in the global
// norm (every trained tensor once across the job: replicated tensors on
// tensor-parallel rank 0 only, the tied embeddings on the first stage only,
// frozen ones nowhere) and its copy of the tied embeddings.
func (r *Rank) layoutRanges() {
	for _, t := range r.Model.Layout.Tensors {
		if t.Name == "word_embeddings.weight" {
			r.embed = span{t.Offset, t.Size}
		}
		if t.Frozen {
			continue
		}
		r.trained = appendSpan(r.trained, t)
		if t.Tied || t.Split == bloom.Replicated && r.tp != 0 {
			continue
		}
		r.normRuns = appendSpan(r.normRuns, t)
	}
}

// appendSpan adds t's range to runs, merging it with the last when they
// touch.
func appendSpan(runs []span, t bloom.Tensor) []span {
	if k := len(runs) - 1; k >= 0 && runs[k].off+runs[k].n == t.Offset {
		runs[k].n += t.Size
		return runs
	}
	return append(runs, span{t.Offset, t.Size})
}

// StepsDone is the number of optimizer steps done, loaded ones included.
func (r *Rank) StepsDone() int { return r.step }

// Consumed is the number of samples the steps done consumed.
func (r *Rank) Consumed() int64 { return r.consumed }

// Run trains until cfg.Steps steps are done, reporting each, saving a
// checkpoint every cfg.SaveInterval steps and after the last. It stops early,
// returning ctx.Err(), when ctx is done, and with the error when a peer
// fails; every goroutine it starts has ended when it returns.
func (r *Rank) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if r.tpc != nil {
		r.tpc.ctx = ctx
	}
	r.pipe.start(ctx, cancel)
	if r.red != nil {
		defer r.red.release()
	}
	err := r.loop(ctx)
	// A failed send cancels ctx, so the loop's error is then a cancellation:
	// the send's failure is the cause to report.
	if serr := r.pipe.stop(); serr != nil && (err == nil || ctx.Err() != nil) {
		err = fmt.Errorf("%s: %w", r.tag, serr)
	}
	return err
}

func (r *Rank) loop(ctx context.Context) error {
	for r.step < r.Cfg.Steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		st, err := r.trainStep(ctx)
		if err != nil {
			if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
				err = fmt.Errorf("%w (%w)", cerr, err)
			}
			return fmt.Errorf("%s: step %d: %w", r.tag, r.step+1, err)
		}
		if e := r.Cfg.Eval; e.Iters > 0 && r.step%e.Interval == 0 {
			if st.ValLoss, err = r.evaluate(ctx); err != nil {
				return fmt.Errorf("%s: validation after step %d: %w", r.tag, r.step, err)
			}
			st.ValPPL = math.Exp(min(20, st.ValLoss))
		}
		if e := r.Cfg.Eval; e.Iters > 0 && r.step == r.Cfg.Steps && !st.Stop {
			// Megatron validates once more when training ends, on the
			// samples after every earlier validation's.
			base, batch := evalWindow(r.Cfg.Rampup, r.Cfg.GlobalBatch, e, r.step, true)
			if st.FinalValLoss, err = r.evaluateAt(ctx, base, batch); err != nil {
				return fmt.Errorf("%s: validation at the end of training: %w", r.tag, err)
			}
			st.FinalValPPL = math.Exp(min(20, st.FinalValLoss))
		}
		if r.env.Report != nil {
			r.env.Report(st)
		}
		if c := r.Cfg; c.Save != "" && st.Stop || c.SavesAfter(r.step) {
			if err := r.save(ctx); err != nil {
				return fmt.Errorf("%s: checkpoint of step %d: %w", r.tag, r.step, err)
			}
		}
		if st.Stop && r.step < r.Cfg.Steps {
			r.logf("stopping after step %d on request", r.step)
			return ErrStopped
		}
	}
	return nil
}

// stopVote is this rank's vote to stop after the current step: 1 or 0.
func (r *Rank) stopVote() float32 {
	if r.env.Stop != nil && r.env.Stop() {
		return 1
	}
	return 0
}

// trainStep runs one optimizer step: the pipeline's micro-batches with the
// data-parallel reduction overlapped, the tied embeddings' gradients summed
// between first and last stage, under --fp16 the loss scaler's verdict,
// then clipping by the global norm and AdamW.
func (r *Rank) trainStep(ctx context.Context) (StepStats, error) {
	c, m := r.Cfg, r.Model
	start := time.Now()
	m.ZeroGrads()
	var ready func(int, int)
	if r.red != nil {
		r.red.start(ctx)
		ready = r.red.ready
	}
	scale := 1.0
	if r.scaler != nil {
		scale = r.scaler.Scale()
	}
	sat := r.saturating()
	if sat != nil {
		sat.FloatOverflow() // from here on: this step's
	}
	batch := c.Rampup.Batch(c.GlobalBatch, r.consumed)
	loss, err := r.pipe.step(ctx, r.consumed, batch, float32(scale), ready)
	var dpWait time.Duration
	if r.red != nil {
		if ferr := r.red.finish(); err == nil && ferr != nil {
			err = fmt.Errorf("data-parallel gradient reduction: %w", ferr)
		}
		dpWait = r.red.wait
	}
	if err != nil {
		return StepStats{}, err
	}
	if err := r.syncEmbedding(ctx); err != nil {
		return StepStats{}, err
	}
	if c.Precision == npu.F16 {
		r.roundGrads()
	}
	// The stop vote rides in the reductions of the norm (tensor and
	// pipeline groups) and of the loss (data-parallel group): after both,
	// every rank holds the sum of all votes.
	norm, votes, err := r.gradNorm(ctx, r.stopVote())
	if err != nil {
		return StepStats{}, err
	}
	devOverflow := false
	if r.scaler != nil { // every rank asks, whatever its device, so that all take part
		if devOverflow, err = r.anyOverflow(ctx, sat != nil && sat.FloatOverflow()); err != nil {
			return StepStats{}, err
		}
	}
	factor, skip := clipFactor(norm, c.ClipGrad), false
	if r.scaler != nil {
		// DeepSpeed's order (FP16_Optimizer.step, ZeRO's step): the
		// verdict moves the scale first, and the gradients are then
		// unscaled by the moved scale. Every rank holds the same norm,
		// so every rank reaches the same verdict.
		overflow := math.IsNaN(norm) || math.IsInf(norm, 0) || devOverflow
		if skip, err = r.scaler.Update(overflow); err != nil {
			return StepStats{}, err
		}
		factor, norm = r.scaler.GradFactor(norm, c.ClipGrad), norm/scale
		if skip {
			norm = 0 // not a number to report (nor one JSON can carry)
		}
	}
	lr := c.LR.LR(r.lrSamples)
	if !skip {
		if factor != 1 {
			m.Dev.Scale(m.Grads, float32(factor), m.Layout.Size)
		}
		r.Opt.Update(lr)
		r.lrSamples += int64(batch)
	}
	r.consumed += int64(batch)
	r.step++
	if loss, votes, err = r.meanLoss(ctx, loss, votes); err != nil {
		return StepStats{}, err
	}
	if (math.IsNaN(loss) || math.IsInf(loss, 0)) && !skip {
		return StepStats{}, fmt.Errorf("loss is %v", loss)
	}
	sec := time.Since(start).Seconds()
	st := StepStats{Step: r.step, Loss: loss, LR: lr, NextLR: c.LR.LR(r.lrSamples), GradNorm: norm, Consumed: r.consumed,
		TokensPerSec: float64(batch*c.SeqLength) / sec, Seconds: sec, Batch: batch,
		Compute: r.pipe.busy.Seconds(), PipeWait: r.pipe.wait.Seconds(), DPWait: dpWait.Seconds(), Stop: votes > 0}
	if r.scaler != nil {
		st.LossScale, st.Skipped, st.SkippedSteps, st.NextLossScale = scale, skip, r.scaler.Skipped(), r.scaler.Scale()
	}
	return st, nil
}

// clipFactor is what the gradients are multiplied by to clip their global
// norm to clip (0: no clipping): Megatron's clip_grad_norm, 1 when the norm
// is within bounds.
func clipFactor(norm, clip float64) float64 {
	if clip > 0 && norm > clip {
		return clip / (norm + 1e-6)
	}
	return 1
}

// roundGrads rounds the gradients that train to fp16 in place (--fp16:
// they are fp16 values, as DeepSpeed's fp16 parameters' .grad are; a value
// beyond fp16's range becomes ±Inf, an overflow). Values the fp16
// data-parallel reduction left are unchanged; the tied embeddings' sum
// between first and last stage is rounded here.
func (r *Rank) roundGrads() {
	const chunk = 1 << 20
	d, g := r.Model.Dev, r.Model.Grads
	if r.round == nil {
		r.round = d.AllocHalf(npu.F16, min(chunk, r.Model.Layout.Size))
	}
	for _, s := range r.trained {
		for off := s.off; off < s.off+s.n; off += chunk {
			n := min(chunk, s.off+s.n-off)
			part := g.Slice(off, n)
			d.ToHalf(r.round, part, n)
			d.FromHalf(part, r.round, n)
		}
	}
}

// syncEmbedding sums the gradients of the first and last stage's copies of
// the tied word embeddings, so that both copies take the same update.
func (r *Rank) syncEmbedding(ctx context.Context) error {
	if r.Cfg.PP == 1 || r.env.Embed == nil || r.Cfg.Model.LoRA.On() { // frozen under LoRA
		return nil
	}
	if r.host == nil {
		r.host = make([]float32, r.embed.n)
	}
	g := r.Model.Grads.Slice(r.embed.off, r.embed.n)
	r.Model.Dev.Read(r.host, g)
	if err := r.env.Embed.AllReduce(ctx, r.host, ReduceSum); err != nil {
		return fmt.Errorf("embedding gradient reduction: %w", err)
	}
	r.Model.Dev.Write(g, r.host)
	return nil
}

// gradNorm is the L2 norm of the whole model's gradient: each rank's sum of
// squares over the tensors it counts, summed over the tensor-parallel and
// pipeline groups. Data-parallel replicas hold the same reduced gradients.
// votes (stop votes) is summed over the same groups. A rank that holds the
// whole model (TP = PP = 1) reduces nothing: its sum stays in float64.
func (r *Rank) gradNorm(ctx context.Context, votes float32) (float64, float32, error) {
	d, g := r.Model.Dev, r.Model.Grads
	ss := 0.0
	for _, s := range r.normRuns {
		ss += d.SumSquares(g.Slice(s.off, s.n), s.n)
	}
	var groups []Group
	for _, grp := range []Group{r.env.TP, r.env.PP} {
		if grp != nil && grp.Size() > 1 {
			groups = append(groups, grp)
		}
	}
	if len(groups) == 0 { // the whole model: its sum as it is, in float64
		return math.Sqrt(ss), votes, nil
	}
	buf := []float32{float32(ss), votes}
	for _, grp := range groups {
		if err := grp.AllReduce(ctx, buf, ReduceSum); err != nil {
			return 0, 0, fmt.Errorf("gradient norm: %w", err)
		}
	}
	return math.Sqrt(float64(buf[0])), buf[1], nil
}

// saturating is the model's device when it saturates instead of producing
// Inf and NaN (npu.OverflowFlagger) and the fp16 loss scaler needs to
// hear of overflows; nil otherwise.
func (r *Rank) saturating() npu.OverflowFlagger {
	if r.scaler == nil {
		return nil
	}
	if f, ok := r.Model.Dev.(npu.OverflowFlagger); ok && f.Saturates() {
		return f
	}
	return nil
}

// anyOverflow tells every rank whether any rank's device flagged an
// overflow this step (a saturating device's gradients stay finite, so the
// norm cannot tell): a sum over the data-parallel, tensor and pipeline
// groups.
func (r *Rank) anyOverflow(ctx context.Context, mine bool) (bool, error) {
	buf := []float32{0}
	if mine {
		buf[0] = 1
	}
	for _, g := range []Group{r.env.DP, r.env.TP, r.env.PP} {
		if g != nil && g.Size() > 1 {
			if err := g.AllReduce(ctx, buf, ReduceSum); err != nil {
				return false, fmt.Errorf("overflow flag: %w", err)
			}
		}
	}
	return buf[0] > 0, nil
}

// meanLoss turns this rank's mean micro-batch loss (the last stage's) into
// the step's loss on every rank: averaged over the data-parallel replicas,
// then passed from the last stage to the others. votes (stop votes) is
// summed over the data-parallel group too.
func (r *Rank) meanLoss(ctx context.Context, loss float64, votes float32) (float64, float32, error) {
	c := r.Cfg
	if c.DP > 1 {
		buf := []float32{float32(loss), votes}
		if err := r.env.DP.AllReduce(ctx, buf, ReduceSum); err != nil {
			return 0, 0, fmt.Errorf("loss reduction: %w", err)
		}
		loss, votes = float64(buf[0])/float64(c.DP), buf[1]
	}
	if c.PP > 1 {
		buf := []float32{0, votes}
		if r.pp == c.PP-1 {
			buf[0] = float32(loss)
		}
		if err := r.env.PP.AllReduce(ctx, buf, ReduceSum); err != nil {
			return 0, 0, fmt.Errorf("loss reduction: %w", err)
		}
		loss, votes = float64(buf[0]), buf[1]
	}
	return loss, votes, nil
}

func (r *Rank) logf(format string, args ...any) {
	if r.env.Logf != nil {
		r.env.Logf(format, args...)
	}
}
