package deepspeed

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"

	"bloom/ckpt"
)

// ZeRO stage 0–2 optimizer shards of a training save (deepspeedai/DeepSpeed
// engine.py _save_zero_checkpoint, runtime/zero/stage_1_and_2.py and
// runtime/bf16_optimizer.py state_dict): {bf16_,fp16_,}zero_pp_rank_{dp}_
// mp_rank_{mp:02d}_optim_states.pt, mp = pp·TP+tp (the rank in the data-
// parallel slice), each {'optimizer_state_dict': {...}} holding, per
// optimizer group, this data-parallel rank's partition of the group's flat
// fp32 master weights (single_partition_of_fp32_groups) and Adam's state
// over it (base_optimizer_state: torch's state_dict, or a list of per-group
// states with elastic checkpoints). A group's flat buffer is its
// parameters concatenated in the order of param_shapes (in mp_rank_{mp}'s
// model states), zero-padded at the end to a multiple of 2·DP and cut into
// DP equal partitions; files may keep or cut the padding, which is only
// ever at the end, so the concatenated partitions start with the
// parameters either way (as zero_to_fp32.py reads them). Megatron-style
// names mp_rank_{tp:02d}_{pp:03d} are read too. param_slice_mappings is not
// read: param_shapes gives the same offsets.

var zeroFileRE = regexp.MustCompile(`^(?:bf16_|fp16_)?zero_pp_rank_(\d+)_mp_rank_(\d+)(?:_(\d+))?_optim_states\.pt$`)

// Optim is the ZeRO optimizer state of a training save, opened by
// Checkpoint.OpenOptimizer. Close it.
type Optim struct {
	Dir        string
	TP, PP, DP int
	Step       int64 // Adam's step, from the first group's state (0: none recorded)
	files      []*ckpt.Torch
	shards     [][]zeroShard // [mp][dp]
	params     map[string]zeroParam
	names      []string
}

// zeroShard is one file's tensors, per optimizer group.
type zeroShard struct{ fp32, avg, sq []*ckpt.TorchTensor }

// zeroParam is where a parameter's tensor-parallel parts are.
type zeroParam struct {
	key   string // layer key: how TP cuts it
	parts []zeroPart
}

type zeroPart struct {
	mp, group, offset int
	shape             []int
}

// HasOptimizer reports whether dir (or the tag folder its "latest" names)
// holds ZeRO optimizer shards.
func HasOptimizer(dir string) bool {
	ents, _ := os.ReadDir(tagDir(dir))
	return slices.ContainsFunc(ents, func(e os.DirEntry) bool { return zeroFileRE.MatchString(e.Name()) })
}

// OpenOptimizer opens the ZeRO optimizer shards next to c's layer files.
// Memory: the files' pickles; tensors are read per parameter (Param).
func (c *Checkpoint) OpenOptimizer() (*Optim, error) {
	o := &Optim{Dir: c.Dir, TP: c.TP, params: map[string]zeroParam{}}
	paths, err := o.zeroFiles()
	if err != nil {
		return nil, err
	}
	for mp := range paths {
		o.shards = append(o.shards, make([]zeroShard, o.DP))
		for dp, p := range paths[mp] {
			if o.shards[mp][dp], err = o.readShard(p, mp == 0 && dp == 0); err != nil {
				o.Close()
				return nil, err
			}
		}
		if err := o.indexShapes(mp, c.Layers); err != nil {
			o.Close()
			return nil, err
		}
	}
	for _, n := range o.names {
		if len(o.params[n].parts) != o.TP {
			o.Close()
			return nil, fmt.Errorf("%w: %s: %s has optimizer state on %d of %d tensor-parallel ranks", ErrLayout, c.Dir, n, len(o.params[n].parts), o.TP)
		}
	}
	return o, nil
}

// zeroFiles finds the shards, [mp][dp], and sets PP and DP.
func (o *Optim) zeroFiles() ([][]string, error) {
	ents, err := os.ReadDir(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("deepspeed: %w", err)
	}
	found := map[[2]int]string{}
	mps, dps := 0, 0
	for _, e := range ents {
		m := zeroFileRE.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		dp, _ := strconv.Atoi(m[1])
		mp, _ := strconv.Atoi(m[2])
		if m[3] != "" { // mp_rank_{tp}_{pp}
			pp, _ := strconv.Atoi(m[3])
			mp = pp*o.TP + mp
		}
		found[[2]int{mp, dp}] = filepath.Join(o.Dir, e.Name())
		mps, dps = max(mps, mp+1), max(dps, dp+1)
	}
	if len(found) == 0 || mps%o.TP != 0 || len(found) != mps*dps {
		return nil, fmt.Errorf("%w: %s: %d ZeRO optimizer files do not make a full grid of %d model-parallel × %d data-parallel ranks (TP %d)",
			ErrLayout, o.Dir, len(found), mps, dps, o.TP)
	}
	o.PP, o.DP = mps/o.TP, dps
	out := make([][]string, mps)
	for mp := range out {
		for dp := range dps {
			out[mp] = append(out[mp], found[[2]int{mp, dp}])
		}
	}
	return out, nil
}

// Close closes the shard files.
func (o *Optim) Close() error {
	for _, f := range o.files {
		f.Close()
	}
	o.files = nil
	return nil
}

// Names lists the parameters with optimizer state, HF names, in file order.
func (o *Optim) Names() []string { return slices.Clone(o.names) }

// Param reads one parameter's fp32 master weights and Adam moments (HF
// name), its tensor-parallel parts joined as the layer files' are; the
// embedding keeps the padded vocabulary it was trained with. Memory: the
// parts and the joined tensors.
func (o *Optim) Param(name string) (UniversalParam, error) {
	zp, ok := o.params[name]
	if !ok {
		return UniversalParam{}, fmt.Errorf("%w: %s: no optimizer state for %q", ckpt.ErrNotFound, o.Dir, name)
	}
	var p UniversalParam
	for _, s := range []struct {
		dst *[]float32
		get func(zeroShard) []*ckpt.TorchTensor
	}{
		{&p.FP32, func(z zeroShard) []*ckpt.TorchTensor { return z.fp32 }},
		{&p.ExpAvg, func(z zeroShard) []*ckpt.TorchTensor { return z.avg }},
		{&p.ExpSq, func(z zeroShard) []*ckpt.TorchTensor { return z.sq }},
	} {
		parts, shapes := make([][]float32, o.TP), make([][]int, o.TP)
		for tp, part := range zp.parts {
			var ts []*ckpt.TorchTensor
			for _, z := range o.shards[part.mp] {
				if g := s.get(z); part.group < len(g) {
					ts = append(ts, g[part.group])
				}
			}
			if len(ts) == 0 {
				parts = nil // no such state (Adam has not stepped)
				break
			}
			data, err := gather(ts, part.offset, product(part.shape))
			if err != nil {
				return p, fmt.Errorf("%s: %s: %w", o.Dir, name, err)
			}
			parts[tp], shapes[tp] = data, part.shape
		}
		if parts == nil {
			continue
		}
		data, shape, err := merge(parts, shapes, splitOf(zp.key))
		if err != nil {
			return p, fmt.Errorf("%s: %s: %w", o.Dir, name, err)
		}
		*s.dst, p.Shape = data, shape
	}
	return p, nil
}

// gather reads elements [off, off+n) of the concatenation of the 1-D
// tensors ts.
func gather(ts []*ckpt.TorchTensor, off, n int) ([]float32, error) {
	out := make([]float32, 0, n)
	for _, t := range ts {
		l := t.Shape[0]
		if off >= l {
			off -= l
			continue
		}
		k := min(l-off, n-len(out))
		data, err := t.Range(off, k)
		if err != nil {
			return nil, err
		}
		out, off = append(out, data...), 0
		if len(out) == n {
			return out, nil
		}
	}
	return nil, fmt.Errorf("%w: the flat partitions end before element %d", ErrLayout, off+n)
}

func product(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}
