package trainer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"bloom/ckpt"
	"bloom/trainer/bloom"
)

// Writing native checkpoints offline, without running the ranks: the
// shards the ranks of a layout would save (their parameters and AdamW
// moments under the names save uses), committed with a manifest that says
// where training stands. Reshard rewrites a native checkpoint for another
// layout; WriteNative writes one from whole tensors (a Hugging Face
// directory, DeepSpeed layer files or a universal checkpoint, which the CLI
// opens). A job resumes the result as it resumes its own.

// NativeSpec is what an offline-written native checkpoint holds besides its
// tensors: the model, the layout it is cut for and where training stands.
type NativeSpec struct {
	Model     bloom.Config
	TP, PP    int   // tensor- and pipeline-parallel sizes
	DP        int   // data-parallel size, for the record (0: 1)
	Partition []int // blocks per pipeline stage (nil: even)
	// Step, ConsumedSamples and LRSamples are the manifest's: the resumed
	// job goes on with step Step+1 at sample ConsumedSamples, its learning
	// rate at LRSamples.
	Step                       int
	ConsumedSamples, LRSamples int64
	// OptimizerStep is AdamW's step count (its bias correction).
	OptimizerStep int
	// Trainer, when not nil, is the trainer record to keep as it is (a
	// resharded checkpoint's; OptimizerStep is then ignored).
	Trainer json.RawMessage
	// Progress, when not nil, is called after each shard is written.
	Progress func(done, total int, file string)
}

// WholeTensors gives a model's whole tensors by Hugging Face name (without
// "transformer.").
type WholeTensors interface {
	// Whole returns the whole tensor name of the copy prefix ("model.",
	// "exp_avg." or "exp_avg_sq.") and its shape; it is asked for a
	// tensor's three copies one after the other. Data nil with no error
	// means the source has no such copy: AdamW moments then start at zero,
	// as a fresh optimizer's. WriteNative does not keep the slice.
	Whole(prefix, name string) ([]float32, []int, error)
}

// pieceReader fills dst with the piece of tensor t that a rank of layout l
// holds, of the copy prefix names; *shardSource is one.
type pieceReader interface {
	read(prefix string, l *bloom.Layout, t bloom.Tensor, dst []float32) error
}

// wholeReader cuts the pieces out of whole tensors.
type wholeReader struct{ src WholeTensors }

func (w wholeReader) read(prefix string, l *bloom.Layout, t bloom.Tensor, dst []float32) error {
	data, shape, err := w.src.Whole(prefix, t.Name)
	if err != nil {
		return fmt.Errorf("%s%s: %w", prefix, t.Name, err)
	}
	if data == nil && prefix != ckptPrefixes[0] {
		clear(dst)
		return nil
	}
	if data == nil || !slices.Equal(shape, t.Global) {
		return fmt.Errorf("%s%s has shape %v, the model's is %v", prefix, t.Name, shape, t.Global)
	}
	l.Shard(t, data, dst)
	return nil
}

// WriteNative writes the native checkpoint spec describes, its tensors
// read whole from src, into root's step directory (root/iter_NNNNNNN),
// and returns that directory. The shards carry no random state: a job
// resuming it draws from its seed.
func WriteNative(root string, spec NativeSpec, src WholeTensors) (string, error) {
	if spec.Trainer == nil {
		rec, err := json.Marshal(trainerRecord{OptimizerStep: spec.OptimizerStep})
		if err != nil {
			return "", err
		}
		spec.Trainer = rec
	}
	return writeNative(root, spec, wholeReader{src}, nil)
}

// Reshard rewrites the committed native checkpoint in from (a step
// directory, or a checkpoint root whose latest committed step it takes)
// for the layout of spec (TP, PP, DP, Partition; the rest of spec is
// ignored) into root, and returns the new step directory. Parameters,
// AdamW moments, the step, the samples consumed, the learning-rate position
// and the trainer record carry over unchanged; each tensor is reassembled
// from the shards holding its pieces and cut again, as a job resharding on
// load does. The ranks' random states carry over only when the layout is
// the checkpoint's own.
func Reshard(from, root string, spec NativeSpec) (string, error) {
	step, err := stepDir(from)
	if err != nil {
		return "", err
	}
	n, src, model, err := openNative(step)
	if err != nil {
		return "", err
	}
	defer n.Close()
	if miss := n.Missing(); len(miss) > 0 {
		return "", fmt.Errorf("%w: %s lacks shards %v: `bloomctl checkpoints fetch` gathers a step's shards first", ckpt.ErrNotFound, step, miss)
	}
	man := n.Manifest
	spec.Model, spec.Step, spec.ConsumedSamples, spec.LRSamples, spec.Trainer = model, man.Step, man.ConsumedSamples, man.LRSamples, man.Trainer
	if spec.DP == 0 {
		spec.DP = man.Layout.DP
	}
	var rng map[[2]int][]byte
	if spec.TP == man.Layout.TP && slices.Equal(spec.partition(), man.Layout.PartitionLayers) {
		rng = map[[2]int][]byte{}
		for _, s := range man.Shards {
			rng[[2]int{s.TPRank, s.PPRank}] = s.RNG
		}
	}
	return writeNative(root, spec, src, rng)
}

// partition is the blocks per stage: Partition, or an even split.
func (s NativeSpec) partition() []int {
	if s.Partition != nil {
		return s.Partition
	}
	return RankConfig{Model: s.Model, Layout: Layout{PP: s.PP}}.Partition()
}

// check reports a spec that cannot be written, saying what to change.
func (s NativeSpec) check() error {
	if err := s.Model.Validate(); err != nil {
		return err
	}
	part := s.partition()
	sum := 0
	for _, n := range part {
		sum += n
	}
	switch {
	case s.TP < 1 || s.PP < 1 || s.DP < 0:
		return fmt.Errorf("%w: layout TP=%d PP=%d DP=%d", ErrConfig, s.TP, s.PP, s.DP)
	case len(part) != s.PP || sum != s.Model.Layers:
		return fmt.Errorf("%w: --partition-layers %v must list %d stages summing to the model's %d blocks", ErrConfig, part, s.PP, s.Model.Layers)
	case s.Partition == nil && s.Model.Layers%s.PP != 0:
		return fmt.Errorf("%w: %d blocks do not divide among %d stages: give --partition-layers", ErrConfig, s.Model.Layers, s.PP)
	}
	for pp := range s.PP {
		if err := stagePart(part, s.TP, pp, 0).Validate(s.Model); err != nil {
			return err
		}
	}
	return nil
}

// writeNative writes every shard of spec's layout from src, then commits
// the manifest. rng, when not nil, holds the shards' random states by
// (tp, pp).
func writeNative(root string, spec NativeSpec, src pieceReader, rng map[[2]int][]byte) (string, error) {
	spec.DP = max(spec.DP, 1)
	if err := spec.check(); err != nil {
		return "", err
	}
	dir := filepath.Join(root, ckpt.StepDirName(spec.Step))
	if _, err := os.Stat(filepath.Join(dir, ckpt.ManifestName)); err == nil {
		return "", fmt.Errorf("%w: %s already holds a committed checkpoint: write to another directory", ErrConfig, dir)
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	model, err := json.Marshal(spec.Model)
	if err != nil {
		return "", err
	}
	part := spec.partition()
	man := ckpt.Manifest{Step: spec.Step, ConsumedSamples: spec.ConsumedSamples, LRSamples: spec.LRSamples,
		Layout: ckpt.NativeLayout{TP: spec.TP, PP: spec.PP, DP: spec.DP, PartitionLayers: slices.Clone(part)},
		Model:  model, Trainer: spec.Trainer}
	lay := Layout{TP: spec.TP, PP: spec.PP, DP: spec.DP}
	for pp := range spec.PP {
		for tp := range spec.TP {
			l := bloom.NewPartLayout(spec.Model, stagePart(part, spec.TP, pp, tp))
			info, err := writeShard(dir, spec.Step, pp, l, src)
			if err != nil {
				return "", err
			}
			info.Rank, info.RNG = lay.Rank(Coords{TP: tp, PP: pp}), rng[[2]int{tp, pp}]
			man.Shards = append(man.Shards, info)
			if spec.Progress != nil {
				spec.Progress(len(man.Shards), spec.TP*spec.PP, info.File)
			}
		}
	}
	return dir, ckpt.CommitNative(dir, man)
}

// writeShard writes the shard of the rank of stage pp whose part l lays
// out, as save does: its trained tensors' parameters and AdamW moments.
func writeShard(dir string, step, pp int, l *bloom.Layout, src pieceReader) (ckpt.ShardInfo, error) {
	p := l.Part
	var copies [len(ckptPrefixes)][]ckpt.Tensor
	for _, t := range l.Tensors { // a tensor's three copies together: a source reads it once
		if t.Frozen {
			continue
		}
		for i, prefix := range ckptPrefixes {
			data := make([]float32, t.Size)
			if err := src.read(prefix, l, t, data); err != nil {
				return ckpt.ShardInfo{}, fmt.Errorf("%w: %w", ErrMismatch, err)
			}
			copies[i] = append(copies[i], ckpt.Tensor{Name: prefix + t.Name, Shape: t.Shape, Data: data})
		}
	}
	tensors := slices.Concat(copies[:]...) // in save's order
	file := ckpt.ShardFileName(p.TPRank, pp)
	meta := map[string]string{"format": ckpt.NativeFormat, "step": strconv.Itoa(step),
		"tp_rank": strconv.Itoa(p.TPRank), "pp_rank": strconv.Itoa(pp)}
	size, sum, err := ckpt.WriteShard(dir, file, tensors, meta)
	return ckpt.ShardInfo{File: file, TPRank: p.TPRank, PPRank: pp, Bytes: size, SHA256: sum}, err
}
