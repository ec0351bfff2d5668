package trainer

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"sync"

	"bloom/ckpt"
	"bloom/npu"
)

// Checkpoints are ckpt's native format: every rank of data-parallel replica
// 0 writes its shard (its parameters and AdamW moments, under the names
// "model.", "exp_avg." and "exp_avg_sq." + the Hugging Face name, each cut to
// its tensor-parallel piece) and reports it to the Committer; other replicas
// hold the same state and write nothing. The Committer commits the
// checkpoint when all TP·PP shards are durable; only committed checkpoints
// are loaded.

// Committer commits checkpoints. The daemon's implementation relays every
// shard to the coordinator, which commits the checkpoint in Raft once every
// shard is durable and then writes its manifest; DirCommitter does it in one
// process.
type Committer interface {
	// ShardSaved reports that one rank's shard of the checkpoint in dir is
	// durable. m is the checkpoint's manifest as that rank sees it: every
	// field but Shards, which holds only its own shard. It must not block on
	// other ranks' reports.
	ShardSaved(ctx context.Context, dir string, m ckpt.Manifest) error
}

// CommitterFunc is a function that is a Committer.
type CommitterFunc func(ctx context.Context, dir string, m ckpt.Manifest) error

// ShardSaved implements Committer.
func (f CommitterFunc) ShardSaved(ctx context.Context, dir string, m ckpt.Manifest) error {
	return f(ctx, dir, m)
}

// DirCommitter commits a checkpoint by writing its manifest into the step
// directory (ckpt.CommitNative) when the last of its TP·PP shards is
// reported. It is safe for concurrent use by every rank of a job.
type DirCommitter struct {
	// OnCommit, when not nil, is called with each committed checkpoint.
	OnCommit func(dir string, m ckpt.Manifest)

	mu      sync.Mutex
	pending map[string]*ckpt.Manifest
}

// ShardSaved implements Committer.
func (c *DirCommitter) ShardSaved(_ context.Context, dir string, m ckpt.Manifest) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending == nil {
		c.pending = map[string]*ckpt.Manifest{}
	}
	p := c.pending[dir]
	if p == nil {
		cp := m
		cp.Shards = nil
		p = &cp
		c.pending[dir] = p
	}
	if p.Step != m.Step || p.ConsumedSamples != m.ConsumedSamples {
		return fmt.Errorf("trainer: shards of %s disagree: step %d after %d samples, and step %d after %d", dir, p.Step, p.ConsumedSamples, m.Step, m.ConsumedSamples)
	}
	p.Shards = append(p.Shards, m.Shards...)
	if len(p.Shards) < m.Layout.TP*m.Layout.PP {
		return nil
	}
	delete(c.pending, dir)
	if err := ckpt.CommitNative(dir, *p); err != nil {
		return err
	}
	if c.OnCommit != nil {
		c.OnCommit(dir, *p)
	}
	return nil
}

// trainerRecord is the rest of the training state in a manifest: the
// optimizer's step count, and the settings the run used, for the record.
type trainerRecord struct {
	OptimizerStep int         `json:"optimizer_step"`
	Seed          uint64      `json:"seed"`
	MicroBatch    int         `json:"micro_batch_size"`
	GlobalBatch   int         `json:"global_batch_size"`
	SeqLength     int         `json:"seq_length"`
	ClipGrad      float64     `json:"clip_grad"`
	Adam          AdamWConfig `json:"adam"`
	LR            Schedule    `json:"lr_schedule"`
	// A LoRA checkpoint holds the adapters only; the frozen weights are
	// LoRABase's (a Hugging Face directory or a native step directory), or
	// the seed's initialization with InitStd when it is empty.
	LoRABase string  `json:"lora_base,omitempty"`
	InitStd  float64 `json:"init_method_std,omitempty"`
	// Precision is the run's --fp16 or --bf16 ("fp16", "bf16"; empty for
	// fp32); the weights and moments are float32 whatever it is (master
	// weights). LossScale is the fp16 loss scaler's state, so that a
	// resumed run scales, skips and counts as the uninterrupted one.
	Precision string          `json:"precision,omitempty"`
	LossScale *LossScaleState `json:"loss_scale,omitempty"`
	// Tokenizer is RankConfig.Tokenizer: what the data was tokenized with.
	Tokenizer string `json:"tokenizer,omitempty"`
}

// manifest is this rank's view of the checkpoint of the current step.
func (r *Rank) manifest() (ckpt.Manifest, error) {
	c := r.Cfg
	model, err := json.Marshal(c.Model) // config.json's names, and the adapters' settings
	if err != nil {
		return ckpt.Manifest{}, err
	}
	rec := trainerRecord{OptimizerStep: r.Opt.Step, Seed: c.Seed, MicroBatch: c.MicroBatch,
		GlobalBatch: c.GlobalBatch, SeqLength: c.SeqLength, ClipGrad: c.ClipGrad, Adam: c.Adam, LR: c.LR, Tokenizer: c.Tokenizer}
	if c.Model.LoRA.On() {
		rec.LoRABase, rec.InitStd = r.loraBase, c.InitStd
	}
	if c.Precision != npu.F32 {
		rec.Precision = c.Precision.String()
	}
	if r.scaler != nil {
		st := r.scaler.State()
		rec.LossScale = &st
	}
	tr, err := json.Marshal(rec)
	if err != nil {
		return ckpt.Manifest{}, err
	}
	return ckpt.Manifest{Step: r.step, ConsumedSamples: r.consumed, LRSamples: r.lrSamples,
		Layout: ckpt.NativeLayout{TP: c.TP, PP: c.PP, DP: c.DP, PartitionLayers: c.Partition()},
		Model:  model, Trainer: tr}, nil
}

// ckptPrefixes name a shard's three copies of the layout.
var ckptPrefixes = [3]string{"model.", "exp_avg.", "exp_avg_sq."}

// save writes this rank's shard of the current step (replica 0 only) and
// reports it to the Committer. Under LoRA the shard holds the adapters
// only: the frozen weights are the base's, which the manifest names.
func (r *Rank) save(ctx context.Context) error {
	if r.dp != 0 {
		return nil
	}
	m, l := r.Model, r.Model.Layout
	var tensors []ckpt.Tensor
	for i, src := range [3]npu.Buf{m.Params, r.Opt.M, r.Opt.V} {
		buf := make([]float32, l.Size)
		m.Dev.Read(buf, src)
		for _, t := range l.Tensors {
			if t.Frozen {
				continue
			}
			tensors = append(tensors, ckpt.Tensor{Name: ckptPrefixes[i] + t.Name, Shape: t.Shape, Data: buf[t.Offset : t.Offset+t.Size]})
		}
	}
	dir := filepath.Join(r.Cfg.Save, ckpt.StepDirName(r.step))
	file := ckpt.ShardFileName(r.tp, r.pp)
	meta := map[string]string{"format": ckpt.NativeFormat, "step": strconv.Itoa(r.step),
		"tp_rank": strconv.Itoa(r.tp), "pp_rank": strconv.Itoa(r.pp)}
	size, sum, err := ckpt.WriteShard(dir, file, tensors, meta)
	if err != nil {
		return err
	}
	rng, err := r.rng.MarshalBinary()
	if err != nil {
		return err
	}
	man, err := r.manifest()
	if err != nil {
		return err
	}
	man.Shards = []ckpt.ShardInfo{{File: file, Rank: r.Cfg.Rank, TPRank: r.tp, PPRank: r.pp, Bytes: size, SHA256: sum, RNG: rng}}
	return r.env.Commit.ShardSaved(ctx, dir, man)
}

// sameLayout reports whether a checkpoint's layout cuts the model as cfg does.
func sameLayout(l ckpt.NativeLayout, c RankConfig) bool {
	return l.TP == c.TP && l.PP == c.PP && slices.Equal(l.PartitionLayers, c.Partition())
}
