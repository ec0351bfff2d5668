package trainer

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"

	"bloom/npu"
	"bloom/npu/cpu"
	"bloom/trainer/bloom"
	"bloom/trainer/data"
)

// tinyJob is the equivalence tests' job: a 4-layer BLOOM whose heads and
// vocabulary divide by 2, trained on the embedded corpus's bytes for 20
// steps of 8 sequences of 16 tokens, with warmup, cosine decay, clipping
// and weight decay all active.
func tinyJob() RankConfig {
	c := DefaultRankConfig()
	c.Model = bloom.Config{Vocab: 264, Hidden: 32, Heads: 4, Layers: 4, Eps: 1e-5}
	c.MicroBatch, c.GlobalBatch, c.SeqLength, c.Steps = 2, 8, 16, 20
	c.Seed, c.InitStd, c.ClipGrad = 7, 0.02, 0.5
	c.Adam = AdamWConfig{Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1}
	c.LR = Schedule{MaxLR: 3e-3, MinLR: 3e-4, WarmupSamples: 24, DecaySamples: 160, Style: "cosine"}
	c.BucketElems = 5000 // several buckets per rank
	return c
}

func tinySource(t testing.TB, c RankConfig) Source {
	t.Helper()
	src, err := data.NewByteCorpus(data.DemoText(), c.SeqLength, 11)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// layout sets the parallel sizes of c.
func layout(c RankConfig, dp, tp, pp int, partition []int) RankConfig {
	c.DP, c.TP, c.PP, c.PartitionLayers = dp, tp, pp, partition
	return c
}

func layoutName(c RankConfig) string {
	return fmt.Sprintf("DP%d_TP%d_PP%d%v", c.DP, c.TP, c.PP, c.Partition())
}

// lossCurve runs c in process and returns its losses, checking that every
// rank reported the same ones (and the same gradient norms).
func lossCurve(t *testing.T, c RankConfig) ([]float64, jobResult) {
	t.Helper()
	res, err := runJob(context.Background(), c, tinySource(t, c), nil, nil)
	if err != nil {
		t.Fatalf("%s: %v", layoutName(c), err)
	}
	var losses []float64
	for _, s := range res.stats[0] {
		losses = append(losses, s.Loss)
	}
	if len(losses) != c.Steps {
		t.Fatalf("%s: %d steps reported, want %d", layoutName(c), len(losses), c.Steps)
	}
	for r, st := range res.stats {
		for i, s := range st {
			if s.Loss != losses[i] || s.GradNorm != res.stats[0][i].GradNorm {
				t.Fatalf("%s: rank %d reports step %d loss %v norm %v, rank 0 %v %v", layoutName(c), r, i+1, s.Loss, s.GradNorm, losses[i], res.stats[0][i].GradNorm)
			}
		}
	}
	return losses, res
}

// TestParallelMatchesLocal: a Local run is the rank loop with TP = PP = DP
// = 1 on the caller's model, bit for bit (same initialization, data,
// clipping and updates), LoRA included.
func TestParallelMatchesLocal(t *testing.T) {
	for _, c := range []RankConfig{tinyJob(), tinyLoRAJob()} {
		got, res := lossCurve(t, c)
		m, err := bloom.New(cpu.New(1), c.Model)
		if err != nil {
			t.Fatal(err)
		}
		m.InitMegatron(c.Seed, c.InitStd) // as a job's rank starts it
		loop := Local{Cfg: c, Model: m, Data: tinySource(t, c)}
		var want []float64
		if err := loop.Run(context.Background(), func(s StepStats) { want = append(want, s.Loss) }); err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("LoRA %v: step %d: parallel loop loss %v, local loop %v", c.Model.LoRA.On(), i+1, got[i], want[i])
			}
		}
		if i := sameBits(readBuf(m.Dev, m.Params), readBuf(res.ranks[0].Model.Dev, res.ranks[0].Model.Params)); i >= 0 {
			t.Fatalf("LoRA %v: parameter %d differs from the local loop's", c.Model.LoRA.On(), i)
		}
	}
}

// Tolerances of a layout against the single rank, at any of the 20 steps.
// Layouts add the same terms in other orders (tensor-parallel partial
// products, data-parallel gradient sums, float32 all-reduces of the loss and
// of the norm), ~1e-7 relative per operation, and 20 AdamW steps amplify
// the parameter differences that follow. Measured worst: loss 7e-8
// relative, gradient norm 7e-8 relative, parameters 1.4e-6 absolute (each
// run logs its own); the bounds are 70× or more above that. A real mistake is far
// outside them: a missing all-reduce or a wrong slice moves the loss by
// > 1e-3 within 3 steps, and a tensor counted twice in the norm moves the
// norm by > 1e-3 (the loss hardly: Adam is blind to the gradient's scale,
// which is why the norms are compared too).
var fp32Tol = equivTol{loss: 5e-6, norm: 1e-5, param: 1e-4}

// equivTol bounds a layout's differences from the single rank: relative
// for the loss and the gradient norm, absolute for the final parameters.
type equivTol struct{ loss, norm, param float64 }

// TestLayoutsEquivalent: the same seed, data and global batch give the same
// loss curve, gradient norms and final model for every (DP, TP, PP), within
// the tolerances above; every layout gives the same bits when run twice; data-parallel replicas,
// replicated tensors and the tied embeddings' copies stay identical.
func TestLayoutsEquivalent(t *testing.T) {
	layoutsEquivalent(t, tinyJob(), 0.5, fp32Tol, layout(tinyJob(), 2, 1, 1, nil), layout(tinyJob(), 1, 2, 1, nil),
		layout(tinyJob(), 1, 1, 2, []int{3, 1}), layout(tinyJob(), 2, 2, 2, nil))
}

// tinyLoRAJob is tinyJob fine-tuning adapters on every linear LoRA can
// adapt.
func tinyLoRAJob() RankConfig {
	c := tinyJob()
	c.Model.LoRA = bloom.LoRA{R: 4, Alpha: 8, Targets: bloom.LoRAQKV | bloom.LoRADense | bloom.LoRAFC | bloom.LoRAProj}
	return c
}

// TestLoRALayoutsEquivalent: LoRA fine-tuning gives the same curve for every
// layout (the adapters' tensor-parallel sums), and only the adapters move.
func TestLoRALayoutsEquivalent(t *testing.T) {
	base := tinyLoRAJob()
	layoutsEquivalent(t, base, 0.02, fp32Tol, layout(base, 1, 2, 1, nil), layout(base, 2, 2, 2, nil))
	res, err := runJob(context.Background(), base, tinySource(t, base), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := bloom.New(cpu.New(1), base.Model)
	m.InitMegatron(base.Seed, base.InitStd)
	start, end := readBuf(m.Dev, m.Params), readBuf(m.Dev, res.ranks[0].Model.Params)
	moved := 0
	for _, tn := range m.Layout.Tensors {
		if i := sameBits(start[tn.Offset:tn.Offset+tn.Size], end[tn.Offset:tn.Offset+tn.Size]); tn.Frozen && i >= 0 {
			t.Errorf("frozen %s changed at %d", tn.Name, i)
		} else if !tn.Frozen && i >= 0 {
			moved++
		}
	}
	if moved != 4*2*base.Model.Layers {
		t.Errorf("%d adapter tensors moved, want all %d", moved, 4*2*base.Model.Layers)
	}
}

// layoutsEquivalent runs base and each layout of it and compares them
// within tol; the base run's loss must fall by drop.
func layoutsEquivalent(t *testing.T, base RankConfig, drop float64, tol equivTol, layouts ...RankConfig) {
	want, res := lossCurve(t, base)
	wantParams, _, _ := fullState(t, base, res.ranks)
	var wantNorms []float64
	for _, s := range res.stats[0] {
		wantNorms = append(wantNorms, s.GradNorm)
	}
	if want[len(want)-1] > want[0]-drop {
		t.Errorf("loss went from %.3f to %.3f: the job does not train", want[0], want[len(want)-1])
	}
	for _, c := range layouts {
		t.Run(layoutName(c), func(t *testing.T) {
			got, res := lossCurve(t, c)
			worst, nworst := 0.0, 0.0
			for i := range want {
				d := math.Abs(got[i]-want[i]) / want[i]
				worst = max(worst, d)
				if d > tol.loss {
					t.Errorf("step %d: loss %.7f, single rank %.7f (relative %.1e)", i+1, got[i], want[i], d)
				}
				gn, wn := res.stats[0][i].GradNorm, wantNorms[i]
				nworst = max(nworst, math.Abs(gn-wn)/wn)
				if math.Abs(gn-wn) > tol.norm*wn {
					t.Errorf("step %d: gradient norm %.7f, single rank %.7f", i+1, gn, wn)
				}
			}
			params, _, _ := fullState(t, c, res.ranks)
			pworst := 0.0
			for i := range params {
				pworst = max(pworst, math.Abs(float64(params[i]-wantParams[i])))
			}
			t.Logf("worst relative differences: loss %.1e, gradient norm %.1e; worst parameter difference %.1e", worst, nworst, pworst)
			if pworst > tol.param {
				t.Errorf("final parameters differ from the single rank's by up to %.1e", pworst)
			}
			again, res2 := lossCurve(t, c)
			for i := range got {
				if got[i] != again[i] {
					t.Fatalf("step %d: loss %v, then %v on a second run", i+1, got[i], again[i])
				}
			}
			if p2, _, _ := fullState(t, c, res2.ranks); sameBits(p2, params) >= 0 {
				t.Fatal("a second run ends with other parameters")
			}
		})
	}
}

// maskedSource is tinySource with every target but the last two of each
// sample ignored: instruction data's shape.
type maskedSource struct{ Source }

func (m maskedSource) Targets(i int64, dst []int32) error {
	sample := make([]int32, len(dst)+1)
	if err := m.Sample(i, sample); err != nil {
		return err
	}
	for k := range dst {
		dst[k] = npu.IgnoreIndex
		if k >= len(dst)-2 {
			dst[k] = sample[k+1]
		}
	}
	return nil
}

// TestTargetSource: a source's own targets replace the shifted sample: the
// first loss is the mean over the unmasked targets only, and layouts agree.
func TestTargetSource(t *testing.T) {
	c := tinyJob()
	c.Steps = 3
	src := maskedSource{tinySource(t, c)}
	m, _ := bloom.New(cpu.New(1), c.Model)
	m.InitMegatron(c.Seed, c.InitStd)
	T, micro := c.SeqLength, c.GlobalBatch/c.MicroBatch
	want := 0.0
	for k := range micro {
		b := bloom.Batch{B: c.MicroBatch, T: T, IDs: make([]int32, c.MicroBatch*T), Targets: make([]int32, c.MicroBatch*T)}
		sample := make([]int32, T+1)
		for r := range c.MicroBatch {
			if err := loadSample(src, int64(k*c.MicroBatch+r), sample, b.IDs[r*T:(r+1)*T], b.Targets[r*T:(r+1)*T]); err != nil {
				t.Fatal(err)
			}
		}
		losses, err := m.TokenLosses(b)
		if err != nil {
			t.Fatal(err)
		}
		sum, n := 0.0, 0
		for i, l := range losses {
			if b.Targets[i] != npu.IgnoreIndex {
				sum, n = sum+float64(l), n+1
			}
		}
		if n != 2*c.MicroBatch {
			t.Fatalf("%d targets in micro-batch %d", n, k)
		}
		want += sum / float64(n) / float64(micro)
	}
	var got []float64
	for _, lc := range []RankConfig{c, layout(c, 2, 2, 2, nil)} {
		res, err := runJob(context.Background(), lc, src, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, res.stats[0][0].Loss)
	}
	if math.Abs(got[0]-want) > 1e-6*want || math.Abs(got[1]-want) > 1e-5*want {
		t.Errorf("first loss %v (one rank), %v (DP2 TP2 PP2); the unmasked targets' mean %v", got[0], got[1], want)
	}
}

// TestRecomputeAcrossRanks: activation checkpointing (its second forward
// of each block runs the tensor-parallel reductions again) trains every
// layout to the same losses as keeping the activations, bit for bit.
func TestRecomputeAcrossRanks(t *testing.T) {
	base := tinyJob()
	base.Steps = 4
	for _, c := range []RankConfig{layout(base, 2, 2, 2, nil), layout(base, 1, 2, 1, nil)} {
		kept, _ := lossCurve(t, c)
		c.Recompute = true
		again, _ := lossCurve(t, c)
		if !slices.Equal(kept, again) {
			t.Errorf("%s: recomputed %v, kept %v", layoutName(c), again, kept)
		}
	}
}

// TestLayoutsEquivalentRampup: under --rampup-batch-size (4 samples a
// step, then 8 after the first 40) every layout follows the one rank, and
// a pipeline runs the ramp-up's fewer micro-batches in the slots of the
// full batch.
func TestLayoutsEquivalentRampup(t *testing.T) {
	base := tinyJob()
	base.Rampup = Rampup{Start: 4, Increment: 4, Samples: 40}
	layoutsEquivalent(t, base, 0.5, fp32Tol, layout(base, 2, 1, 1, nil), layout(base, 1, 1, 2, []int{3, 1}), layout(base, 2, 2, 2, nil))
	_, res := lossCurve(t, layout(base, 2, 1, 2, nil))
	var batches []int
	for _, s := range res.stats[0] {
		batches = append(batches, s.Batch)
	}
	// Resumed from the checkpoint of step 10 (the ramp-up's last), the
	// run goes on bit for bit (the batch follows the consumed samples the
	// checkpoint records).
	resumeExact(t, layout(base, 2, 1, 2, nil))
	if batches[0] != 4 || batches[9] != 4 || batches[10] != 8 || batches[19] != 8 {
		t.Errorf("batches %v: 4 until 40 samples are consumed (one increment per 40), then 8", batches)
	}
}

// TestValidation: --eval-interval 5 --eval-iters 2 validates after steps
// 5, 10, 15 and 20, and once more at the end of training (as Megatron
// does), on every layout with the same losses (within the layouts'
// tolerance), each on its own 2 global batches of the validation samples;
// the training curve is the one without validation, bit for bit.
func TestValidation(t *testing.T) {
	base := tinyJob()
	plain, _ := lossCurve(t, base)
	base.Eval = Eval{Interval: 5, Iters: 2}
	valid, err := data.NewByteCorpus(data.DemoText(), base.SeqLength, 99)
	if err != nil {
		t.Fatal(err)
	}
	var ref []float64
	for _, c := range []RankConfig{base, layout(base, 2, 1, 1, nil), layout(base, 1, 2, 2, nil)} {
		res, err := runJobValid(c, valid)
		if err != nil {
			t.Fatalf("%s: %v", layoutName(c), err)
		}
		var vals, losses []float64
		var final float64
		for i, s := range res.stats[c.World()-1] {
			losses = append(losses, s.Loss)
			// The validation at the end of training, on the last step only,
			// on samples of its own.
			if last := i == len(res.stats[c.World()-1])-1; last != (s.FinalValLoss != 0) || last && (s.FinalValLoss == s.ValLoss ||
				math.Abs(s.FinalValPPL-math.Exp(s.FinalValLoss)) > 1e-9*s.FinalValPPL) {
				t.Errorf("%s: step %d: validation at the end of training %v (ppl %v), after the step %v", layoutName(c), s.Step, s.FinalValLoss, s.FinalValPPL, s.ValLoss)
			}
			final = s.FinalValLoss
			if s.ValLoss != 0 {
				vals = append(vals, s.ValLoss)
				if s.Step%5 != 0 || math.Abs(s.ValPPL-math.Exp(s.ValLoss)) > 1e-9*s.ValPPL {
					t.Errorf("%s: validation at step %d: loss %v ppl %v", layoutName(c), s.Step, s.ValLoss, s.ValPPL)
				}
			}
		}
		vals = append(vals, final) // compared across layouts with the others
		if len(vals) != 5 || vals[0] == vals[1] {
			t.Fatalf("%s: validation losses %v", layoutName(c), vals)
		}
		if ref == nil {
			ref = vals
			if !slices.Equal(losses, plain) {
				t.Errorf("validation changed the training losses: %v, without %v", losses, plain)
			}
		}
		for i := range vals {
			if math.Abs(vals[i]-ref[i]) > fp32Tol.loss*ref[i] {
				t.Errorf("%s: validation %d: %v, one rank %v", layoutName(c), i, vals[i], ref[i])
			}
		}
	}
}

// runJobValid is runJob with validation samples.
func runJobValid(c RankConfig, valid Source) (jobResult, error) {
	w := newWorld(c)
	for r := range w.envs {
		w.envs[r].Valid = valid
	}
	return runJob(context.Background(), c, tinySourceNoT(c), nil, w)
}

func tinySourceNoT(c RankConfig) Source {
	src, err := data.NewByteCorpus(data.DemoText(), c.SeqLength, 11)
	if err != nil {
		panic(err)
	}
	return src
}
