package deepspeed

import (
	"fmt"
	"path/filepath"

	"bloom/ckpt"
)

// readShard opens one ZeRO file and finds its per-group tensors (first:
// also read Adam's step).
func (o *Optim) readShard(path string, first bool) (zeroShard, error) {
	var z zeroShard
	pt, err := ckpt.OpenTorch(path, true)
	if err != nil {
		return z, err
	}
	o.files = append(o.files, pt)
	osd := dictGet(dictGet(pt.Root, "optimizer_state_dict"), "")
	bad := func(what string) error {
		return fmt.Errorf("%w: %s: %s (not a ZeRO stage 0-2 optimizer_state_dict)", ErrLayout, path, what)
	}
	if osd == nil {
		return z, bad("no optimizer_state_dict")
	}
	groups, _ := dictGet(osd, "single_partition_of_fp32_groups").([]any)
	if z.fp32 = tensors1D(groups); z.fp32 == nil {
		return z, bad("no 1-D single_partition_of_fp32_groups")
	}
	// base_optimizer_state: torch's {'state': {g: {...}}, 'param_groups'},
	// or (elastic) a list of per-group states.
	var states []any
	switch b := dictGet(osd, "base_optimizer_state").(type) {
	case *ckpt.Dict:
		st, _ := dictGet(b, "state").(*ckpt.Dict)
		for g := range len(groups) {
			if st == nil {
				break
			}
			v, _ := st.Get(int64(g))
			states = append(states, v)
		}
	case []any:
		states = b
	}
	var avg, sq []any
	for _, s := range states {
		avg, sq = append(avg, dictGet(s, "exp_avg")), append(sq, dictGet(s, "exp_avg_sq"))
	}
	z.avg, z.sq = tensors1D(avg), tensors1D(sq)
	if first && len(states) > 0 {
		o.Step = stepOf(dictGet(states[0], "step"))
		if o.Step == 0 {
			o.Step = stepOf(dictGet(osd, "base_optimizer_state_step"))
		}
	}
	return z, nil
}

// indexShapes reads model-parallel rank mp's param_shapes and places its
// parameters in the flat groups; a parameter an earlier pipeline stage
// holds (the tied embedding's copy) keeps the earlier one.
func (o *Optim) indexShapes(mp, layers int) error {
	path := filepath.Join(o.Dir, ModelStatesName(mp))
	pt, err := ckpt.OpenTorch(path, true)
	if err != nil {
		return err
	}
	defer pt.Close()
	groups, _ := dictGet(pt.Root, "param_shapes").([]any)
	if len(groups) != len(o.shards[mp][0].fp32) {
		return fmt.Errorf("%w: %s: param_shapes has %d groups, the optimizer files %d", ErrLayout, path, len(groups), len(o.shards[mp][0].fp32))
	}
	pp, tp := mp/o.TP, mp%o.TP
	for g, v := range groups {
		d, ok := v.(*ckpt.Dict)
		if !ok {
			return fmt.Errorf("%w: %s: param_shapes[%d] is a %T", ErrLayout, path, g, v)
		}
		off := 0
		for i := range d.Len() {
			k, s := d.Item(i)
			pname, _ := k.(string)
			shape, err := intsOf(s)
			idx, key, ok := specKey(pname)
			if err != nil || !ok {
				return fmt.Errorf("%w: %s: param_shapes entry %v: %v", ErrLayout, path, k, s)
			}
			name, err := hfName(idx, key, layers)
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			if zp, seen := o.params[name]; !seen || (zp.parts[0].mp/o.TP == pp && len(zp.parts) == tp) {
				if !seen {
					o.names = append(o.names, name)
				}
				zp.key = key
				zp.parts = append(zp.parts, zeroPart{mp: mp, group: g, offset: off, shape: shape})
				o.params[name] = zp
			}
			off += product(shape)
		}
	}
	return nil
}

// dictGet is d[key] for a pickled dict, or nil; key "" is d itself.
func dictGet(d any, key string) any {
	dd, ok := d.(*ckpt.Dict)
	if !ok {
		return nil
	}
	if key == "" {
		return dd
	}
	v, _ := dd.Get(key)
	return v
}

// tensors1D is vs as 1-D tensors, or nil if one is not.
func tensors1D(vs []any) []*ckpt.TorchTensor {
	var out []*ckpt.TorchTensor
	for _, v := range vs {
		t, ok := v.(*ckpt.TorchTensor)
		if !ok || len(t.Shape) != 1 {
			return nil
		}
		out = append(out, t)
	}
	return out
}

// stepOf reads Adam's step: a number or a one-element tensor.
func stepOf(v any) int64 {
	if t, ok := v.(*ckpt.TorchTensor); ok {
		if f, err := t.Float32(); err == nil && len(f) == 1 {
			return int64(f[0])
		}
		return 0
	}
	return intOf(v)
}

// intsOf reads a torch.Size (a tuple of ints).
func intsOf(v any) ([]int, error) {
	var xs []any
	switch t := v.(type) {
	case ckpt.Tuple:
		xs = t
	case []any:
		xs = t
	default:
		return nil, fmt.Errorf("a %T, not a shape", v)
	}
	out := make([]int, len(xs))
	for i, x := range xs {
		n, ok := x.(int64)
		if !ok {
			return nil, fmt.Errorf("dimension %v", x)
		}
		out[i] = int(n)
	}
	return out, nil
}
