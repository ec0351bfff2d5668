package trainer

import (
	"bloom/npu"
	"bloom/trainer/bloom"
)

// AdamWConfig holds AdamW's constant hyperparameters.
type AdamWConfig struct {
	Beta1, Beta2, Eps, WeightDecay float64
}

// AdamW is torch.optim.AdamW over a model's flat parameters, with weight decay
// only on the tensors the layout marks for it; frozen tensors (everything
// but the adapters under LoRA) are left alone. Its moments mirror the
// parameter buffer.
type AdamW struct {
	Cfg  AdamWConfig
	M, V npu.Buf // (Layout.Size) first and second moments
	Step int     // updates done

	model *bloom.Model
	runs  []run
}

// run is a range of the flat buffer with one weight-decay setting.
type run struct {
	off, n int
	decay  bool
}

// NewAdamW allocates zeroed moments for m.
func NewAdamW(m *bloom.Model, c AdamWConfig) *AdamW {
	o := &AdamW{Cfg: c, model: m, M: m.Dev.Alloc(m.Layout.Size), V: m.Dev.Alloc(m.Layout.Size)}
	for _, t := range m.Layout.Tensors {
		if t.Frozen {
			continue
		}
		if k := len(o.runs) - 1; k >= 0 && o.runs[k].decay == t.Decay && o.runs[k].off+o.runs[k].n == t.Offset {
			o.runs[k].n += t.Size
			continue
		}
		o.runs = append(o.runs, run{off: t.Offset, n: t.Size, decay: t.Decay})
	}
	return o
}

// Update applies one AdamW step with learning rate lr to the model's
// parameters from its gradients.
func (o *AdamW) Update(lr float64) {
	o.Step++
	m, d := o.model, o.model.Dev
	for _, r := range o.runs {
		h := npu.AdamW{LR: lr, Beta1: o.Cfg.Beta1, Beta2: o.Cfg.Beta2, Eps: o.Cfg.Eps, Step: o.Step}
		if r.decay {
			h.WeightDecay = o.Cfg.WeightDecay
		}
		d.AdamWUpdate(m.Params.Slice(r.off, r.n), m.Grads.Slice(r.off, r.n), o.M.Slice(r.off, r.n), o.V.Slice(r.off, r.n), r.n, h)
	}
}
