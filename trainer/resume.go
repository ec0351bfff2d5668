package trainer

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"bloom/ckpt"
	"bloom/npu"
	"bloom/trainer/bloom"
)

// load restores the rank from dir (RankConfig.Load): a Hugging Face model
// directory (it has config.json), a committed native step directory (it has
// a manifest), or a checkpoint root, whose latest committed checkpoint is
// loaded. A root with no committed checkpoint yet (or none at all) leaves the
// initialization in place, as Megatron does: the first run of a job with
// --save and --load the same directory starts fresh.
func (r *Rank) load(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err == nil {
		return r.loadHF(dir)
	}
	step, err := stepDir(dir)
	if errors.Is(err, ckpt.ErrNotFound) {
		r.logf("no committed checkpoint in %s: starting from the initialization (seed %d)", dir, r.Cfg.Seed)
		return nil
	}
	if err != nil {
		return err
	}
	return r.loadNative(step)
}

// stepDir is dir when it is a committed step directory (it has a manifest),
// else the latest committed step of the checkpoint root dir.
func stepDir(dir string) (string, error) {
	if _, err := os.Stat(filepath.Join(dir, ckpt.ManifestName)); err == nil {
		return dir, nil
	}
	step, _, err := ckpt.LatestNative(dir)
	return step, err
}

// trainerRecordOf decodes the trainer record of man, the manifest in dir.
func trainerRecordOf(man ckpt.Manifest, dir string) (trainerRecord, error) {
	var tr trainerRecord
	if err := json.Unmarshal(man.Trainer, &tr); err != nil {
		return tr, fmt.Errorf("%w: %s: trainer record: %w", ErrMismatch, dir, err)
	}
	return tr, nil
}

// loadNative restores parameters, AdamW moments and step, the samples
// consumed (hence the data position and the learning rate) and, when the
// layout is the checkpoint's, the rank's random state. A checkpoint of
// another tensor- or pipeline-parallel layout is resharded: every tensor is
// reassembled from the shards that hold its pieces and cut to this rank's.
func (r *Rank) loadNative(dir string) error {
	n, src, model, err := openNative(dir)
	if err != nil {
		return err
	}
	defer n.Close()
	man := n.Manifest
	if r.Cfg.Model.LoRA.On() && !model.LoRA.On() {
		if err := r.loadBaseNative(src, model, dir); err != nil {
			return err
		}
		r.logf("starting LoRA fine-tuning (%v, r %d, alpha %g) from the base weights of %s", r.Cfg.Model.LoRA.Targets.Names(),
			r.Cfg.Model.LoRA.R, r.Cfg.Model.LoRA.Alpha, dir)
		return nil
	}
	if model != r.Cfg.Model {
		return fmt.Errorf("%w: %s holds a model of %+v, the job's is %+v", ErrMismatch, dir, model, r.Cfg.Model)
	}
	tr, err := trainerRecordOf(man, dir)
	if err != nil {
		return err
	}
	if model.LoRA.On() {
		// The adapters are the checkpoint's; the frozen weights its base's.
		if err := r.loadBaseFrom(tr.LoRABase); err != nil {
			return err
		}
	}
	for i, dst := range [3]npu.Buf{r.Model.Params, r.Opt.M, r.Opt.V} {
		if err := src.readInto(r.Model, dst, ckptPrefixes[i], trainedTensor, dir); err != nil {
			return err
		}
	}
	r.step, r.consumed, r.lrSamples, r.Opt.Step = man.Step, man.ConsumedSamples, man.LRSamples, tr.OptimizerStep
	if err := r.restoreScaler(tr, dir); err != nil {
		return err
	}
	if sameLayout(man.Layout, r.Cfg) {
		_, info, err := n.Shard(r.tp, r.pp)
		if err == nil && len(info.RNG) > 0 {
			if err := r.rng.UnmarshalBinary(info.RNG); err != nil {
				return fmt.Errorf("%w: %s: random state of shard %s: %w", ErrMismatch, dir, info.File, err)
			}
		}
	}
	how := ""
	if !sameLayout(man.Layout, r.Cfg) {
		how = fmt.Sprintf(", resharded from TP=%d PP=%d %v", man.Layout.TP, man.Layout.PP, man.Layout.PartitionLayers)
	}
	r.logf("resumed from %s: step %d, %d samples consumed%s", dir, r.step, r.consumed, how)
	return nil
}

// restoreScaler restores the fp16 loss scaler's state from a checkpoint's
// trainer record. A checkpoint of a run in another precision has none: the
// scaler then starts from --initial-loss-scale, which the log says.
func (r *Rank) restoreScaler(tr trainerRecord, dir string) error {
	if r.scaler == nil {
		return nil
	}
	if tr.LossScale == nil {
		r.logf("%s holds no fp16 loss-scaler state (trained in %s): the loss scale starts at %g", dir,
			cmp.Or(tr.Precision, "fp32"), r.scaler.Scale())
		return nil
	}
	if err := r.scaler.Restore(*tr.LossScale); err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	return nil
}

// withoutLoRA is c's base model.
func withoutLoRA(c bloom.Config) bloom.Config {
	c.LoRA = bloom.LoRA{}
	return c
}

// loadBaseNative loads the frozen weights of a LoRA rank from src, a native
// checkpoint in dir of the job's base model (no adapters); the adapters
// stay as they are.
func (r *Rank) loadBaseNative(src *shardSource, model bloom.Config, dir string) error {
	if model != withoutLoRA(r.Cfg.Model) {
		return fmt.Errorf("%w: %s holds a model of %+v, the job's base is %+v", ErrMismatch, dir, model, withoutLoRA(r.Cfg.Model))
	}
	r.loraBase = dir
	return src.readInto(r.Model, r.Model.Params, ckptPrefixes[0], frozenTensor, dir)
}

// loadBaseFrom loads the frozen weights of a LoRA checkpoint from its base
// (lora_base): a Hugging Face directory or a native step directory without
// adapters; none keeps the initialization, which the same seed rebuilt.
func (r *Rank) loadBaseFrom(base string) error {
	r.loraBase = base
	if base == "" {
		return nil
	}
	if _, err := os.Stat(filepath.Join(base, "config.json")); err == nil {
		return r.loadHF(base)
	}
	n, src, model, err := openNative(base)
	if err != nil {
		return fmt.Errorf("the LoRA checkpoint's base: %w", err)
	}
	defer n.Close()
	return r.loadBaseNative(src, model, base)
}

// Which tensors readInto reads.
func trainedTensor(t bloom.Tensor) bool { return !t.Frozen }
func frozenTensor(t bloom.Tensor) bool  { return t.Frozen }

// readInto reads the tensors of m's layout that want picks from the copy
// prefix names into buf (m.Params or a moment mirroring it), leaving the
// others as they are.
func (s *shardSource) readInto(m *bloom.Model, buf npu.Buf, prefix string, want func(bloom.Tensor) bool, dir string) error {
	l := m.Layout
	host := make([]float32, l.Size)
	m.Dev.Read(host, buf)
	total := 0
	for _, t := range l.Tensors {
		if want(t) {
			total++
		}
	}
	done := 0
	for _, t := range l.Tensors {
		if !want(t) {
			continue
		}
		if err := s.read(prefix, l, t, host[t.Offset:t.Offset+t.Size]); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrMismatch, dir, err)
		}
		if done++; s.progress != nil {
			s.progress(done, total)
		}
	}
	m.Dev.Write(buf, host)
	return nil
}

// openNative opens the committed checkpoint in dir, the source its tensors
// are read from, and the model it holds.
func openNative(dir string) (*ckpt.Native, *shardSource, bloom.Config, error) {
	n, err := ckpt.OpenNative(dir)
	if err != nil {
		return nil, nil, bloom.Config{}, err
	}
	src, model, err := manifestSource(n.Manifest)
	if err != nil {
		n.Close()
		return nil, nil, bloom.Config{}, fmt.Errorf("%w: %s: %w", ErrMismatch, dir, err)
	}
	src.n = n
	return n, src, model, nil
}

// manifestSource is the source of the checkpoint m describes (no shards
// open yet) and the model it holds.
func manifestSource(m ckpt.Manifest) (*shardSource, bloom.Config, error) {
	var model bloom.Config
	if err := json.Unmarshal(m.Model, &model); err != nil {
		return nil, bloom.Config{}, fmt.Errorf("model record: %w", err)
	}
	src, err := newShardSource(m, model)
	return src, model, err
}

// shardSource reads tensors of a native checkpoint by their global names,
// whatever layout wrote them.
type shardSource struct {
	n         *ckpt.Native // the shards (read only)
	c         bloom.Config
	tp        int
	partition []int
	layouts   map[[2]int]*bloom.Layout // (pp, tp) → the layout that shard was written with
	progress  func(done, total int)    // when not nil, called after each tensor readInto reads
}

func newShardSource(m ckpt.Manifest, c bloom.Config) (*shardSource, error) {
	l := m.Layout
	sum := 0
	for _, k := range l.PartitionLayers {
		sum += k
	}
	if sum != c.Layers {
		return nil, fmt.Errorf("its partition %v does not sum to the model's %d layers", l.PartitionLayers, c.Layers)
	}
	s := &shardSource{c: c, tp: l.TP, partition: l.PartitionLayers, layouts: map[[2]int]*bloom.Layout{}}
	for pp := range l.PP {
		for tp := range l.TP {
			p := stagePart(l.PartitionLayers, l.TP, pp, tp)
			if err := p.Validate(c); err != nil {
				return nil, err
			}
			s.layouts[[2]int{pp, tp}] = bloom.NewPartLayout(c, p)
		}
	}
	return s, nil
}

// locate names the shards that hold tensor t, which a rank of layout l
// reads: stage pp's (the first stage holding it: the tied embeddings' first
// copy), tensor-parallel rank l's own when the layouts cut alike, else
// every tensor-parallel rank's, to reassemble.
func (s *shardSource) locate(l *bloom.Layout, t bloom.Tensor) (pp int, tps []int, err error) {
	pp = -1
	for p := range len(s.partition) {
		if _, ok := s.layouts[[2]int{p, 0}].Lookup(t.Name); ok {
			pp = p
			break
		}
	}
	if pp < 0 {
		return 0, nil, fmt.Errorf("no shard holds %s", t.Name)
	}
	if s.tp == l.Part.TP {
		return pp, []int{l.Part.TPRank}, nil
	}
	tps = make([]int, s.tp)
	for tp := range tps {
		tps[tp] = tp
	}
	return pp, tps, nil
}

// read fills dst with this rank's piece (layout l) of tensor t of the copy
// prefix names.
func (s *shardSource) read(prefix string, l *bloom.Layout, t bloom.Tensor, dst []float32) error {
	pp, tps, err := s.locate(l, t)
	if err != nil {
		return err
	}
	piece := func(tp int) ([]float32, bloom.Tensor, error) { return s.piece(prefix, t.Name, pp, tp) }
	if s.tp == l.Part.TP {
		data, _, err := piece(tps[0])
		if err != nil {
			return err
		}
		copy(dst, data)
		return nil
	}
	size := 1
	for _, d := range t.Global {
		size *= d
	}
	full := make([]float32, size)
	for _, tp := range tps {
		data, ot, err := piece(tp)
		if err != nil {
			return err
		}
		s.layouts[[2]int{pp, tp}].Unshard(ot, data, full)
	}
	l.Shard(t, full, dst)
	return nil
}

// piece reads the piece of the tensor name, of the copy prefix, that the
// shard (tp, pp) holds, and its tensor in that shard's layout. The shard's
// mapped pages of it are let go once read (ckpt.File.Evict).
func (s *shardSource) piece(prefix, name string, pp, tp int) ([]float32, bloom.Tensor, error) {
	ot, _ := s.layouts[[2]int{pp, tp}].Lookup(name)
	f, _, err := s.n.Shard(tp, pp)
	if err != nil {
		return nil, ot, err
	}
	data, shape, err := f.Float32(prefix + name)
	f.Evict(prefix + name)
	if err != nil {
		return nil, ot, err
	}
	if !slices.Equal(shape, ot.Shape) {
		return nil, ot, fmt.Errorf("%s%s in shard (tp %d, pp %d) has shape %v, its layout says %v", prefix, name, tp, pp, shape, ot.Shape)
	}
	return data, ot, nil
}

// check reports what read would find wrong with tensor t of layout l, from
// the shards' headers alone: a piece missing or of the wrong shape.
func (s *shardSource) check(prefix string, l *bloom.Layout, t bloom.Tensor) error {
	pp, tps, err := s.locate(l, t)
	if err != nil {
		return err
	}
	for _, tp := range tps {
		ot, _ := s.layouts[[2]int{pp, tp}].Lookup(t.Name)
		f, _, err := s.n.Shard(tp, pp)
		if err != nil {
			return err
		}
		ti, ok := f.Info(prefix + t.Name)
		switch {
		case !ok:
			return fmt.Errorf("shard (tp %d, pp %d): %w: no tensor %s%s", tp, pp, ckpt.ErrNotFound, prefix, t.Name)
		case !ti.DType.IsFloat():
			return fmt.Errorf("%s%s in shard (tp %d, pp %d) is %s, not a float tensor", prefix, t.Name, tp, pp, ti.DType)
		case !slices.Equal(ti.Shape, ot.Shape):
			return fmt.Errorf("%s%s in shard (tp %d, pp %d) has shape %v, its layout says %v", prefix, t.Name, tp, pp, ti.Shape, ot.Shape)
		}
	}
	return nil
}

// whole returns tensor t of the whole-model layout l (tensor-parallel
// size 1), of the copy prefix, joined from the shards holding its pieces:
// memory holds that tensor and its pieces, not the model.
func (s *shardSource) whole(prefix string, l *bloom.Layout, t bloom.Tensor) ([]float32, error) {
	if l.Part.TP != 1 {
		dst := make([]float32, t.Size)
		return dst, s.read(prefix, l, t, dst)
	}
	pp, tps, err := s.locate(l, t)
	if err != nil {
		return nil, err
	}
	if s.tp == 1 { // the shard holds it whole
		data, _, err := s.piece(prefix, t.Name, pp, 0)
		return data, err
	}
	full := make([]float32, t.Size)
	for _, tp := range tps {
		data, ot, err := s.piece(prefix, t.Name, pp, tp)
		if err != nil {
			return nil, err
		}
		s.layouts[[2]int{pp, tp}].Unshard(ot, data, full)
	}
	return full, nil
}

// CheckpointShards lists the shard files of the native checkpoint described
// by m that rank cfg reads when it resumes from it: its own shard, the first
// stage's for the tied embeddings on the last stage, and under another
// layout those that hold pieces of its tensors. A node needs only these to
// resume the rank.
func CheckpointShards(m ckpt.Manifest, cfg RankConfig) ([]string, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s, model, err := manifestSource(m)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMismatch, err)
	}
	l := bloom.NewPartLayout(cfg.Model, cfg.Part())
	need := map[[2]int]bool{}
	for _, t := range l.Tensors {
		if t.Adapter && !model.LoRA.On() || t.Frozen && model.LoRA.On() {
			continue // adapters start fresh from a base; a LoRA checkpoint holds only them
		}
		pp, tps, err := s.locate(l, t)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrMismatch, err)
		}
		for _, tp := range tps {
			need[[2]int{tp, pp}] = true
		}
	}
	var files []string
	for _, sh := range m.Shards {
		if need[[2]int{sh.TPRank, sh.PPRank}] {
			files = append(files, sh.File)
			delete(need, [2]int{sh.TPRank, sh.PPRank})
		}
	}
	for k := range need {
		return nil, fmt.Errorf("%w: the manifest lists no shard for tp %d, pp %d", ErrMismatch, k[0], k[1])
	}
	return files, nil
}

// loadHF starts from a Hugging Face model's weights, cut to this rank's
// piece by the tensor-parallel rules of bloom.md §2; the optimizer starts
// fresh at step 0 (full fine-tuning).
func (r *Rank) loadHF(dir string) error {
	h, err := ckpt.OpenHF(dir)
	if err != nil {
		return err
	}
	defer h.Close()
	if got := ConfigFromHF(h.Config); got != withoutLoRA(r.Cfg.Model) {
		return fmt.Errorf("%w: %s is a model of %+v, the job's is %+v", ErrMismatch, dir, got, withoutLoRA(r.Cfg.Model))
	}
	full := bloom.NewLayout(r.Cfg.Model)
	for _, name := range h.Names() {
		if _, ok := full.Lookup(name); !ok {
			return fmt.Errorf("%w: %s has tensor %q, which a %d-layer BLOOM does not have", ErrMismatch, dir, name, r.Cfg.Model.Layers)
		}
	}
	l := r.Model.Layout
	host := make([]float32, l.Size)
	r.Model.Dev.Read(host, r.Model.Params) // the adapters as initialized
	for _, t := range l.Tensors {
		if t.Adapter {
			continue
		}
		data, shape, err := h.Float32(t.Name)
		if err != nil {
			return fmt.Errorf("%w: %s: tensor %q: %w", ErrMismatch, dir, t.Name, err)
		}
		if !slices.Equal(shape, t.Global) {
			return fmt.Errorf("%w: %s: tensor %q has shape %v, the config implies %v", ErrMismatch, dir, t.Name, shape, t.Global)
		}
		l.Shard(t, data, host[t.Offset:t.Offset+t.Size])
	}
	r.Model.Dev.Write(r.Model.Params, host)
	if r.Cfg.Model.LoRA.On() {
		r.loraBase = dir
	}
	r.logf("starting from the Hugging Face weights in %s", dir)
	return nil
}
