package trainer

import (
	"context"
	"fmt"
	"math"

	"bloom/ckpt"
	"bloom/npu"
	"bloom/trainer/bloom"
)

// Infer is one rank of a tensor- and pipeline-parallel inference job: the
// placement of training (tensor parallelism inside a stage, pipeline stages
// in order, one data-parallel replica) with this rank's Part of the model,
// decoding with a key/value cache of its own blocks and heads. Every rank
// is given the same requests and returns the same answers; the ranks agree
// through the groups and links of Env (TP, PP, Prev, Next; DP and Embed are
// not used).
type Infer struct {
	Model *bloom.Model // this rank's part, placed by Place
	env   Env
	tpc   *tpComm
	host  []float32 // staging for activations between stages
	in    npu.Buf   // a stage's input on the device, by size
	full  []float32 // (B,V) the gathered logits, on the last stage, then each shard's (maximum, exponential sum) per row
	norm  npu.Buf   // (3,B) the shard's row maxima, exponential sums and (unused) target logits
	zeros []int32   // B target ids for CrossEntropySums, whose target logits are not used
}

// Place returns the part of a model of shape c that rank holds under
// layout l (TP, PP; DP must be 1) and partition (nil: an even split).
func Place(c bloom.Config, l Layout, rank int, partition []int) (bloom.Part, error) {
	rc := RankConfig{Model: c, Layout: l, Rank: rank, PartitionLayers: partition, MicroBatch: 1, GlobalBatch: 1,
		SeqLength: 1, Steps: 1, LR: Schedule{MaxLR: 1, Style: "constant"}}
	if l.DP != 1 {
		return bloom.Part{}, fmt.Errorf("%w: inference runs one data-parallel replica, got %d", ErrConfig, l.DP)
	}
	if err := rc.Validate(); err != nil {
		return bloom.Part{}, err
	}
	return rc.Part(), nil
}

// NewInfer cuts this rank's part out of full, a whole model on the host's
// view (any device), onto env.Dev: every tensor of the part as the
// tensor-parallel rules cut it.
func NewInfer(full *bloom.Model, p bloom.Part, env Env) (*Infer, error) {
	if env.Dev == nil {
		return nil, fmt.Errorf("%w: an inference rank needs a device", ErrConfig)
	}
	i, comm, err := newInfer(p, env)
	if err != nil {
		return nil, err
	}
	m, err := bloom.NewPart(env.Dev, full.Cfg, p, comm)
	if err != nil {
		return nil, err
	}
	src := make([]float32, full.Layout.Size)
	full.Dev.Read(src, full.Params)
	host := make([]float32, m.Layout.Size)
	for _, t := range m.Layout.Tensors {
		whole, ok := full.Layout.Lookup(t.Name)
		if !ok {
			return nil, fmt.Errorf("%w: the model has no %s", ErrMismatch, t.Name)
		}
		m.Layout.Shard(t, src[whole.Offset:whole.Offset+whole.Size], host[t.Offset:t.Offset+t.Size])
	}
	m.Dev.Write(m.Params, host)
	i.Model = m
	return i, nil
}

// NewInferHF loads this rank's part of the Hugging Face model in dir
// straight onto env.Dev, one tensor at a time (LoadHFPart): no rank holds
// the whole model.
func NewInferHF(dir string, p bloom.Part, env Env) (*Infer, ckpt.BloomConfig, error) {
	if env.Dev == nil {
		return nil, ckpt.BloomConfig{}, fmt.Errorf("%w: an inference rank needs a device", ErrConfig)
	}
	i, comm, err := newInfer(p, env)
	if err != nil {
		return nil, ckpt.BloomConfig{}, err
	}
	m, hf, err := LoadHFPart(env.Dev, dir, p, comm)
	if err != nil {
		return nil, hf, err
	}
	i.Model = m
	return i, hf, nil
}

// newInfer checks env against p and makes the rank, less its model, and
// its tensor-parallel communicator.
func newInfer(p bloom.Part, env Env) (*Infer, bloom.TPComm, error) {
	i := &Infer{env: env}
	var comm bloom.TPComm
	if p.TP > 1 {
		if env.TP == nil || env.TP.Size() != p.TP || env.TP.Rank() != p.TPRank {
			return nil, nil, fmt.Errorf("%w: tensor-parallel rank %d of %d needs its group", ErrConfig, p.TPRank, p.TP)
		}
		i.tpc = &tpComm{g: env.TP, dev: env.Dev, ctx: context.Background()}
		comm = i.tpc
	}
	if !p.Embed && env.Prev == nil || !p.Head && env.Next == nil {
		return nil, nil, fmt.Errorf("%w: a pipeline stage of blocks %d-%d needs links to its neighbours", ErrConfig, p.First, p.First+p.Layers-1)
	}
	return i, comm, nil
}

// Generate continues each prompt as bloom.Model.Generate does (rows left
// padded with pad), across the ranks (GenerateLogProbs, less the
// log-probabilities).
func (i *Infer) Generate(ctx context.Context, prompts [][]int32, pad int32, o bloom.GenerateOptions) ([][]int32, error) {
	out, _, err := i.GenerateLogProbs(ctx, prompts, pad, o)
	return out, err
}

// GenerateLogProbs continues each prompt as bloom.Model.Generate does,
// and returns each new token's log-probability too (log softmax over the
// whole vocabulary, in float64, sent to every rank as float32). It runs
// across the ranks: the first stage embeds, each stage
// runs its blocks on its share of the cache and hands its output on, the
// last stage gathers the logits from its tensor-parallel ranks and picks the
// tokens (o.Pick sees the whole vocabulary, as in one process), and the
// pipeline group passes them back to every stage. Every rank must call it
// with the same arguments; every rank returns the same tokens.
func (i *Infer) GenerateLogProbs(ctx context.Context, prompts [][]int32, pad int32, o bloom.GenerateOptions) ([][]int32, [][]float32, error) {
	if i.tpc != nil {
		i.tpc.ctx = ctx
	}
	m, p := i.Model, i.Model.Part
	B, Tp := len(prompts), 0
	for _, pr := range prompts {
		Tp = max(Tp, len(pr))
	}
	if B == 0 || Tp == 0 {
		return nil, nil, fmt.Errorf("%w: empty prompt", bloom.ErrInput)
	}
	ids, mask := make([]int32, B*Tp), make([]int32, B*Tp)
	for b, pr := range prompts {
		off := Tp - len(pr)
		for t := range Tp {
			ids[b*Tp+t], mask[b*Tp+t] = pad, 0
			if t >= off {
				ids[b*Tp+t], mask[b*Tp+t] = pr[t-off], 1
			}
		}
	}
	c := m.NewCache(B, Tp+o.MaxNew)
	out, lps, done := make([][]int32, B), make([][]float32, B), make([]bool, B)
	next := make([]float32, 2*B) // the picked tokens, then their log-probabilities, passed from the last stage to every stage
	for range o.MaxNew {
		logits, err := i.stage(ctx, c, ids, mask)
		if err != nil {
			return nil, nil, err
		}
		clear(next)
		if p.Head {
			full, norm, err := i.gather(ctx, logits, B)
			if err != nil {
				return nil, nil, err
			}
			V := m.Cfg.Vocab
			for b := range B {
				row := full[b*V : (b+1)*V]
				t := o.Pick(b, row)
				next[b], next[B+b] = float32(t), float32(float64(row[t])-norm[b])
			}
		}
		if err := i.allReduce(ctx, i.env.PP, next); err != nil {
			return nil, nil, fmt.Errorf("passing the tokens to every stage: %w", err)
		}
		ids, mask = ids[:B], nil
		live := false
		for b := range B {
			tok := int32(next[b])
			if !done[b] {
				out[b], lps[b] = append(out[b], tok), append(lps[b], next[B+b])
				done[b] = o.EOS >= 0 && int(tok) == o.EOS
			}
			live = live || !done[b]
			ids[b] = tok
		}
		if !live {
			break
		}
	}
	return out, lps, nil
}

// stage runs this rank's stage of one decoding step: it receives the
// previous stage's output (unless first), runs its blocks, and sends its
// output on (unless last). The last stage returns its logits.
func (i *Infer) stage(ctx context.Context, c *bloom.Cache, ids, mask []int32) (npu.Buf, error) {
	return i.runStage(ctx, len(ids), func(in npu.Buf) (npu.Buf, error) { return i.Model.DecodeStage(c, ids, mask, in) })
}

// stagePages is stage over sequences held in pages, with logits for the
// first head rows (bloom.DecodePagesHead).
func (i *Infer) stagePages(ctx context.Context, p *bloom.Pages, seqs []bloom.Seq, ids []int32, head int) (npu.Buf, error) {
	return i.runStage(ctx, len(ids), func(in npu.Buf) (npu.Buf, error) { return i.Model.DecodePagesHead(p, seqs, ids, in, head) })
}

// runStage runs decode, a stage's blocks over tokens positions, between
// the previous stage and the next.
func (i *Infer) runStage(ctx context.Context, tokens int, decode func(in npu.Buf) (npu.Buf, error)) (npu.Buf, error) {
	m, p := i.Model, i.Model.Part
	n := tokens * m.Cfg.Hidden
	if cap(i.host) < n {
		i.host = make([]float32, n)
	}
	h := i.host[:n]
	var in npu.Buf
	if !p.Embed {
		if err := i.env.Prev.Recv(ctx, h); err != nil {
			return nil, fmt.Errorf("receiving activations: %w", err)
		}
		if i.in == nil || i.in.Len() != n {
			i.in = m.Dev.Alloc(n)
		}
		in = i.in
		m.Dev.Write(in, h)
	}
	outBuf, err := decode(in)
	if err != nil {
		return nil, err
	}
	if p.Head {
		return outBuf, nil
	}
	m.Dev.Read(h, outBuf)
	if err := i.env.Next.Send(ctx, h); err != nil {
		return nil, fmt.Errorf("sending activations: %w", err)
	}
	return nil, nil
}

// gather returns the logits (B,V) of the whole vocabulary on every
// tensor-parallel rank, and each row's log-partition log Σ_j e^(logits[j])
// (so that log softmax(row)[j] = row[j] − norm[b]). Each rank writes its
// rows' logits into a zeroed copy and the group sums them (every entry has
// one non-zero term, so the sum is exact). The partition is computed on the
// device, shard by shard (the vocab-parallel cross-entropy's maximum and
// exponential sum), each rank's pair travelling in the same sum; the pairs
// are combined in float64.
func (i *Infer) gather(ctx context.Context, logits npu.Buf, B int) ([]float32, []float64, error) {
	m, d := i.Model, i.Model.Dev
	TP := m.Part.TP
	V, lv := m.Cfg.Vocab, m.Cfg.Vocab/TP
	n := B*V + 2*B*TP // the logits, then each row's (maximum, sum) of every shard
	if cap(i.full) < n {
		i.full = make([]float32, n)
	}
	full := i.full[:n]
	if i.norm == nil || i.norm.Len() < 3*B {
		i.norm = d.Alloc(3 * B)
	}
	if len(i.zeros) < B {
		i.zeros = make([]int32, B)
	}
	rowMax, sumExp, target := i.norm.Slice(0, B), i.norm.Slice(B, B), i.norm.Slice(2*B, B)
	d.CrossEntropyMax(rowMax, logits, B, lv)
	d.CrossEntropySums(sumExp, target, logits, rowMax, i.zeros[:B], 0, B, lv) // target: unused
	pairs := make([]float32, 2*B)
	d.Read(pairs, i.norm.Slice(0, 2*B))
	if TP == 1 {
		d.Read(full[:B*V], logits.Slice(0, B*V))
	} else {
		clear(full)
		local := make([]float32, B*lv)
		d.Read(local, logits.Slice(0, B*lv))
		lo := m.Part.TPRank * lv
		for b := range B {
			copy(full[b*V+lo:b*V+lo+lv], local[b*lv:(b+1)*lv])
		}
	}
	shards := full[B*V:]
	clear(shards)
	for b := range B {
		shards[2*(b*TP+m.Part.TPRank)], shards[2*(b*TP+m.Part.TPRank)+1] = pairs[b], pairs[B+b]
	}
	if err := i.allReduce(ctx, i.env.TP, full); err != nil {
		return nil, nil, fmt.Errorf("gathering the logits: %w", err)
	}
	norm := make([]float64, B)
	for b := range B {
		sh := shards[2*b*TP : 2*(b+1)*TP]
		top := math.Inf(-1)
		for r := range TP {
			top = max(top, float64(sh[2*r]))
		}
		s := 0.0
		for r := range TP {
			s += float64(sh[2*r+1]) * math.Exp(float64(sh[2*r])-top)
		}
		norm[b] = top + math.Log(s)
	}
	return full[:B*V], norm, nil
}

// allReduce sums buf over g; a group of one (nil) leaves it.
func (i *Infer) allReduce(ctx context.Context, g Group, buf []float32) error {
	if g == nil || g.Size() < 2 {
		return nil
	}
	return g.AllReduce(ctx, buf, ReduceSum)
}
