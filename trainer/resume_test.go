package trainer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"bloom/ckpt"
	"bloom/npu/cpu"
	"bloom/trainer/bloom"
)

// runState is a finished in-process job's reports and whole-model state.
type runState struct {
	stats     []StepStats
	params    []float32
	m, v      []float32
	consumed  int64
	optimStep int
}

func runAndGather(t *testing.T, c RankConfig) runState {
	t.Helper()
	res, err := runJob(context.Background(), c, tinySource(t, c), nil, nil)
	if err != nil {
		t.Fatalf("%s: %v", layoutName(c), err)
	}
	p, m, v := fullState(t, c, res.ranks)
	return runState{stats: res.stats[0], params: p, m: m, v: v, consumed: res.ranks[0].Consumed(), optimStep: res.ranks[0].Opt.Step}
}

func sameState(t *testing.T, what string, got, want runState) {
	t.Helper()
	for _, x := range []struct {
		name   string
		g, w   []float32
		exceed bool
	}{{"parameter", got.params, want.params, false}, {"exp_avg", got.m, want.m, false}, {"exp_avg_sq", got.v, want.v, false}} {
		if i := sameBits(x.g, x.w); i >= 0 {
			t.Fatalf("%s: %s %d is %v, want %v bit for bit", what, x.name, i, x.g[i], x.w[i])
		}
	}
	if got.consumed != want.consumed || got.optimStep != want.optimStep {
		t.Fatalf("%s: consumed %d, optimizer step %d; want %d, %d", what, got.consumed, got.optimStep, want.consumed, want.optimStep)
	}
}

// TestResumeExact: a run stopped after step 10 and resumed from its
// checkpoint equals the uninterrupted run bit for bit: every later step's
// loss, gradient norm and learning rate, and the final parameters and AdamW
// moments. For one rank and for DP=TP=PP=2.
func TestResumeExact(t *testing.T) {
	for _, c := range []RankConfig{tinyJob(), layout(tinyJob(), 2, 2, 2, nil)} {
		t.Run(layoutName(c), func(t *testing.T) { resumeExact(t, c) })
	}
}

// resumeExact stops c after step 10 and resumes it from its checkpoint,
// and checks the resumed run against the uninterrupted one bit for bit.
func resumeExact(t *testing.T, c RankConfig) {
	c.SaveInterval = 5
	whole := c
	whole.Save = t.TempDir()
	want := runAndGather(t, whole)

	stopped := c
	stopped.Save, stopped.Steps = t.TempDir(), 10
	runAndGather(t, stopped)
	man, err := ckpt.ReadManifest(filepath.Join(stopped.Save, ckpt.StepDirName(10)))
	if err != nil {
		t.Fatal(err)
	}
	var consumed int64 // 80 at 8 a step; less under a ramp-up
	for range 10 {
		consumed += int64(c.Rampup.Batch(c.GlobalBatch, consumed))
	}
	if len(man.Shards) != c.TP*c.PP || man.Step != 10 || man.ConsumedSamples != consumed {
		t.Fatalf("manifest: %d shards, step %d, %d samples", len(man.Shards), man.Step, man.ConsumedSamples)
	}

	resumed := c
	resumed.Save, resumed.Load = stopped.Save, stopped.Save
	got := runAndGather(t, resumed)
	if len(got.stats) != 10 || got.stats[0].Step != 11 {
		t.Fatalf("resumed run reported %d steps from %d, want 10 from 11", len(got.stats), got.stats[0].Step)
	}
	for i, s := range got.stats {
		w := want.stats[10+i]
		s.TokensPerSec, s.Seconds, s.Compute, s.PipeWait, s.DPWait = w.TokensPerSec, w.Seconds, w.Compute, w.PipeWait, w.DPWait
		if s != w {
			t.Fatalf("step %d resumed: %+v\nuninterrupted: %+v", s.Step, s, w)
		}
	}
	sameState(t, "resumed run", got, want)
}

// TestReshardOnLoad: a checkpoint of DP=TP=PP=2 loads into other layouts
// with every parameter and moment in place, bit for bit, and training goes
// on as the uninterrupted run within the equivalence tolerance.
func TestReshardOnLoad(t *testing.T) {
	src := layout(tinyJob(), 2, 2, 2, nil)
	src.Save, src.Steps = t.TempDir(), 10
	saved := runAndGather(t, src)
	whole := runAndGather(t, tinyJob())
	for _, c := range []RankConfig{tinyJob(), layout(tinyJob(), 1, 4, 1, nil), layout(tinyJob(), 2, 1, 2, []int{1, 3})} {
		t.Run(layoutName(c), func(t *testing.T) {
			c.Load, c.Steps = src.Save, 10 // nothing to train: the state as loaded
			loaded := runAndGather(t, c)
			sameState(t, "loaded", loaded, saved)
			c.Steps = 20
			cont := runAndGather(t, c)
			for i, s := range cont.stats {
				w := whole.stats[10+i]
				if math.Abs(s.Loss-w.Loss) > fp32Tol.loss*w.Loss {
					t.Errorf("step %d: loss %.7f, the single-rank run %.7f", s.Step, s.Loss, w.Loss)
				}
			}
		})
	}
}

// TestCheckpointShards: a rank resumes from the shards CheckpointShards
// names and nothing else (a node that holds only those resumes it), with
// the state it loads from the whole checkpoint, bit for bit; under the
// checkpoint's own layout that is its own shard, and the first stage's
// for the tied embeddings on the last stage.
func TestCheckpointShards(t *testing.T) {
	src := layout(tinyJob(), 2, 2, 2, nil)
	src.Save, src.Steps = t.TempDir(), 4
	runAndGather(t, src)
	dir := filepath.Join(src.Save, ckpt.StepDirName(4))
	man, err := ckpt.ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []RankConfig{src, tinyJob(), layout(tinyJob(), 1, 4, 1, nil), layout(tinyJob(), 2, 1, 2, []int{1, 3})} {
		t.Run(layoutName(c), func(t *testing.T) {
			c.Save, c.Load = "", ""
			w := newWorld(c)
			for r := range c.World() {
				rc := c
				rc.Rank = r
				files, err := CheckpointShards(man, rc)
				if err != nil {
					t.Fatal(err)
				}
				at := rc.Coords()
				pp, tp := at.PP, at.TP
				if c.TP == src.TP && c.PP == src.PP {
					want := []string{ckpt.ShardFileName(tp, pp)}
					if pp == c.PP-1 {
						want = append([]string{ckpt.ShardFileName(tp, 0)}, want...)
					}
					if !slices.Equal(files, want) {
						t.Errorf("rank %d: shards %v, want %v", r, files, want)
					}
				}
				part := t.TempDir()
				for _, f := range append(files, ckpt.ManifestName) {
					b, err := os.ReadFile(filepath.Join(dir, f))
					if err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(filepath.Join(part, f), b, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				var state [2][3][]float32
				for i, from := range []string{dir, part} {
					rc.Load = from
					env := w.envs[r]
					env.Data, env.Commit = tinySource(t, c), &DirCommitter{}
					rk, err := NewRank(rc, env)
					if err != nil {
						t.Fatalf("rank %d from %s: %v", r, from, err)
					}
					state[i] = [3][]float32{readBuf(rk.Model.Dev, rk.Model.Params), readBuf(rk.Model.Dev, rk.Opt.M), readBuf(rk.Model.Dev, rk.Opt.V)}
				}
				for k := range 3 {
					if i := sameBits(state[1][k], state[0][k]); i >= 0 {
						t.Fatalf("rank %d: buffer %d element %d differs between the shards it needs and the whole checkpoint", r, k, i)
					}
				}
			}
		})
	}
	if _, err := CheckpointShards(man, layout(tinyJob(), 1, 3, 1, nil)); err == nil {
		t.Error("a layout the model cannot take: no error")
	}
}

// TestLoadModelNative: the offline tools' LoadModel reassembles a native
// checkpoint of DP=TP=PP=2 into the whole model bit for bit, from the
// checkpoint root (its latest committed step) or a step directory, and
// SaveHF writes it as a Hugging Face directory that loads alike.
func TestLoadModelNative(t *testing.T) {
	src := layout(tinyJob(), 2, 2, 2, nil)
	src.Save, src.Steps, src.SaveInterval = t.TempDir(), 6, 3
	saved := runAndGather(t, src)
	dev := cpu.New(1)
	for _, dir := range []string{src.Save, filepath.Join(src.Save, ckpt.StepDirName(6))} {
		m, hf, err := LoadModel(dev, dir)
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		if m.Cfg != src.Model || hf.NLayer != src.Model.Layers || hf.HiddenSize != src.Model.Hidden {
			t.Fatalf("%s: model %+v, config %+v; want %+v", dir, m.Cfg, hf, src.Model)
		}
		if i := sameBits(readBuf(dev, m.Params), saved.params); i >= 0 {
			t.Fatalf("%s: parameter %d differs from the run's", dir, i)
		}
		out := t.TempDir()
		if err := SaveHF(m, hf, out, ckpt.F32, 0); err != nil {
			t.Fatal(err)
		}
		back, _, err := LoadModel(dev, out)
		if err != nil {
			t.Fatal(err)
		}
		if i := sameBits(readBuf(dev, back.Params), saved.params); i >= 0 {
			t.Fatalf("%s as Hugging Face: parameter %d differs", dir, i)
		}
	}
	if _, _, err := LoadModel(dev, t.TempDir()); err == nil || !strings.Contains(err.Error(), "neither") {
		t.Errorf("empty directory: %v", err)
	}
}

// TestLoadOnlyCommitted: the latest committed checkpoint is loaded, never a
// later one whose manifest was not written (a save cut short); a damaged
// shard is refused; a root with no checkpoint starts fresh.
func TestLoadOnlyCommitted(t *testing.T) {
	c := layout(tinyJob(), 1, 2, 1, nil)
	c.Save, c.SaveInterval, c.Steps = t.TempDir(), 3, 6
	runAndGather(t, c)
	if err := os.Remove(filepath.Join(c.Save, ckpt.StepDirName(6), ckpt.ManifestName)); err != nil {
		t.Fatal(err)
	}
	w := newWorld(c)
	var notes []string
	var mu sync.Mutex
	load := func(dir string) ([]*Rank, error) {
		ranks := make([]*Rank, c.World())
		for r := range ranks {
			rc := c
			rc.Rank, rc.Load = r, dir
			env := w.envs[r]
			env.Data, env.Commit = tinySource(t, c), &DirCommitter{}
			env.Logf = func(f string, a ...any) { mu.Lock(); notes = append(notes, fmt.Sprintf(f, a...)); mu.Unlock() }
			rk, err := NewRank(rc, env)
			if err != nil {
				return nil, err
			}
			ranks[r] = rk
		}
		return ranks, nil
	}
	ranks, err := load(c.Save)
	if err != nil {
		t.Fatal(err)
	}
	if ranks[0].StepsDone() != 3 || ranks[1].Consumed() != 24 {
		t.Errorf("loaded step %d, %d samples; want the committed step 3, 24", ranks[0].StepsDone(), ranks[1].Consumed())
	}
	shard := filepath.Join(c.Save, ckpt.StepDirName(3), ckpt.ShardFileName(1, 0))
	b, _ := os.ReadFile(shard)
	b[len(b)/2] ^= 0x40
	if err := os.WriteFile(shard, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := load(c.Save); !errors.Is(err, ckpt.ErrCorrupt) {
		t.Errorf("damaged shard: %v, want ErrCorrupt", err)
	}
	notes = nil
	ranks, err = load(filepath.Join(t.TempDir(), "none-yet"))
	if err != nil || ranks[0].StepsDone() != 0 {
		t.Fatalf("empty root: %v, step %d", err, ranks[0].StepsDone())
	}
	if len(notes) != 2 || !strings.Contains(notes[0], "no committed checkpoint") {
		t.Errorf("notes: %q", notes)
	}
}

// TestLoadHFIntoLayout: a Hugging Face directory is cut into every rank's
// piece by bloom.md §2's rules (the whole model reassembles bit for bit),
// with the optimizer fresh at step 0.
func TestLoadHFIntoLayout(t *testing.T) {
	base := tinyJob()
	m, _ := bloom.New(cpu.New(1), base.Model)
	m.InitRandom(99, 0.5)
	dir := t.TempDir()
	if err := SaveHF(m, ckpt.DefaultBloomConfig(), dir, ckpt.F32, 0); err != nil {
		t.Fatal(err)
	}
	want := readBuf(m.Dev, m.Params)
	c := layout(base, 1, 2, 2, []int{1, 3})
	c.Load, c.Steps = dir, 1
	res, err := runJob(context.Background(), c, tinySource(t, c), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// One step trained from the HF weights: its loss is the local loop's
	// first loss from the same weights.
	local := c
	local.Load = "" // m holds the HF weights already
	loop := Local{Cfg: local, Model: m, Data: tinySource(t, c)}
	var first float64
	if err := loop.Run(context.Background(), func(s StepStats) { first = s.Loss }); err != nil {
		t.Fatal(err)
	}
	if got := res.stats[0][0].Loss; math.Abs(got-first) > fp32Tol.loss*first {
		t.Errorf("first loss from the HF weights %.7f, local loop %.7f", got, first)
	}
	// Before training: load only.
	c.Steps = 1
	w := newWorld(c)
	full := bloom.NewLayout(c.Model)
	got := make([]float32, full.Size)
	for r := range c.World() {
		rc := c
		rc.Rank = r
		env := w.envs[r]
		env.Data = tinySource(t, c)
		rk, err := NewRank(rc, env)
		if err != nil {
			t.Fatal(err)
		}
		if rk.StepsDone() != 0 || rk.Opt.Step != 0 || slices.ContainsFunc(readBuf(rk.Model.Dev, rk.Opt.V), func(x float32) bool { return x != 0 }) {
			t.Fatalf("rank %d: loading HF weights left step %d, optimizer step %d or moments", r, rk.StepsDone(), rk.Opt.Step)
		}
		p := readBuf(rk.Model.Dev, rk.Model.Params)
		for _, tn := range rk.Model.Layout.Tensors {
			f, _ := full.Lookup(tn.Name)
			rk.Model.Layout.Unshard(tn, p[tn.Offset:tn.Offset+tn.Size], got[f.Offset:f.Offset+f.Size])
		}
	}
	if i := sameBits(got, want); i >= 0 {
		t.Fatalf("parameter %d: %v, the HF checkpoint's %v", i, got[i], want[i])
	}
	other := c
	other.Model.Layers = 3
	other.PartitionLayers = []int{1, 2}
	other.Rank = 0
	env := newWorld(other).envs[0]
	env.Data = tinySource(t, c)
	if _, err := NewRank(other, env); !errors.Is(err, ErrMismatch) {
		t.Errorf("HF model of another shape: %v, want ErrMismatch", err)
	}
}

// TestLoRAFineTune: a LoRA job starts from a base model's native checkpoint
// (of another layout) or Hugging Face directory: the base weights load and
// stay frozen bit for bit, the adapters start as peft starts them and
// train; stopped and resumed it equals the uninterrupted run bit for bit;
// LoadModel merges its adapters for the offline tools.
func TestLoRAFineTune(t *testing.T) {
	base := tinyJob()
	base.Save, base.Steps = t.TempDir(), 6
	pre := runAndGather(t, base)

	ft := layout(tinyLoRAJob(), 2, 2, 2, nil)
	ft.Load, ft.Steps, ft.SaveInterval = base.Save, 6, 3
	whole := ft
	whole.Save = t.TempDir()
	want := runAndGather(t, whole)
	full := bloom.NewLayout(ft.Model)
	baseFull := bloom.NewLayout(base.Model)
	for _, tn := range full.Tensors {
		got := want.params[tn.Offset : tn.Offset+tn.Size]
		if tn.Adapter {
			if strings.Contains(tn.Name, "lora_B") && !slices.ContainsFunc(got, func(x float32) bool { return x != 0 }) {
				t.Errorf("%s did not train", tn.Name)
			}
			continue
		}
		bt, _ := baseFull.Lookup(tn.Name)
		if i := sameBits(got, pre.params[bt.Offset:bt.Offset+bt.Size]); i >= 0 {
			t.Fatalf("frozen %s[%d] is not the base checkpoint's", tn.Name, i)
		}
	}

	// A node resuming a rank of the job from the base fetches what the
	// rank's base tensors need, as for the base job itself.
	man, err := ckpt.ReadManifest(filepath.Join(base.Save, ckpt.StepDirName(6)))
	if err != nil {
		t.Fatal(err)
	}
	for r := range ft.World() {
		rc := ft
		rc.Rank = r
		if files, err := CheckpointShards(man, rc); err != nil || !slices.Equal(files, []string{ckpt.ShardFileName(0, 0)}) {
			t.Errorf("rank %d reads %v of the base checkpoint (%v), want its one shard", r, files, err)
		}
	}

	// Its checkpoints hold the adapters only, and name the base.
	lm, err := ckpt.ReadManifest(filepath.Join(whole.Save, ckpt.StepDirName(6)))
	if err != nil {
		t.Fatal(err)
	}
	var tr trainerRecord
	json.Unmarshal(lm.Trainer, &tr)
	if tr.LoRABase != filepath.Join(base.Save, ckpt.StepDirName(6)) {
		t.Errorf("lora_base %q", tr.LoRABase)
	}
	f, err := ckpt.OpenSafetensors(filepath.Join(whole.Save, ckpt.StepDirName(6), lm.Shards[0].File))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range f.Names() {
		if !strings.Contains(name, ".lora_") {
			t.Errorf("a LoRA shard holds %s", name)
		}
	}
	f.Close()

	stopped := ft
	stopped.Save, stopped.Steps = t.TempDir(), 3
	runAndGather(t, stopped)
	resumed := ft
	resumed.Save, resumed.Load = stopped.Save, stopped.Save
	sameState(t, "resumed LoRA run", runAndGather(t, resumed), want)

	// Without a base the frozen weights are the seed's initialization, which
	// a resumed run and LoadModel rebuild.
	scratch := tinyLoRAJob()
	scratch.Steps, scratch.SaveInterval, scratch.Save = 4, 2, t.TempDir()
	wantScratch := runAndGather(t, scratch)
	cut := scratch
	cut.Steps, cut.Save = 2, t.TempDir()
	runAndGather(t, cut)
	cut.Steps, cut.Load = 4, cut.Save
	sameState(t, "resumed LoRA run without a base", runAndGather(t, cut), wantScratch)
	fromScratch, _, err := LoadModel(cpu.New(1), scratch.Save)
	if err != nil {
		t.Fatal(err)
	}
	adaptedScratch, _ := bloom.New(cpu.New(1), scratch.Model)
	adaptedScratch.Dev.Write(adaptedScratch.Params, wantScratch.params)
	if mergedScratch, _ := bloom.MergeLoRA(adaptedScratch); sameBits(readBuf(fromScratch.Dev, fromScratch.Params), readBuf(mergedScratch.Dev, mergedScratch.Params)) >= 0 {
		t.Error("LoadModel of a LoRA checkpoint without a base is not the run's model merged")
	}

	// The offline tools see the merged model: its logits are the adapted
	// model's.
	dev := cpu.New(1)
	merged, _, err := LoadModel(dev, whole.Save)
	if err != nil {
		t.Fatal(err)
	}
	adapted, _ := bloom.New(dev, ft.Model)
	dev.Write(adapted.Params, want.params)
	if merged.Cfg != withoutLoRA(ft.Model) {
		t.Fatalf("merged model %+v", merged.Cfg)
	}
	b := bloom.Batch{B: 1, T: 6, IDs: []int32{5, 70, 71, 72, 9, 40}}
	logits := func(m *bloom.Model) []float32 {
		out, err := m.Forward(b)
		if err != nil {
			t.Fatal(err)
		}
		return readBuf(dev, out)
	}
	w, g := logits(adapted), logits(merged)
	for i := range w {
		if d := math.Abs(float64(g[i] - w[i])); d > 1e-5*(1+math.Abs(float64(w[i]))) {
			t.Fatalf("logit %d: merged %g, adapted %g", i, g[i], w[i])
		}
	}

	// The adapters alone, as peft stores them.
	adir := t.TempDir()
	if err := ExportAdapter(dev, whole.Save, adir); err != nil {
		t.Fatal(err)
	}
	af, err := ckpt.OpenSafetensors(filepath.Join(adir, "adapter_model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer af.Close()
	names := 0
	for _, tn := range full.Tensors {
		if !tn.Adapter {
			continue
		}
		names++
		got, shape, err := af.Float32("base_model.model.transformer." + tn.Name)
		if err != nil || !slices.Equal(shape, tn.Shape) || sameBits(got, want.params[tn.Offset:tn.Offset+tn.Size]) >= 0 {
			t.Errorf("peft %s: shape %v, %v", tn.Name, shape, err)
		}
	}
	var pc map[string]any
	js, _ := os.ReadFile(filepath.Join(adir, "adapter_config.json"))
	if err := json.Unmarshal(js, &pc); err != nil || pc["peft_type"] != "LORA" || pc["r"] != float64(4) || pc["lora_alpha"] != float64(8) ||
		pc["base_model_name_or_path"] != filepath.Join(base.Save, ckpt.StepDirName(6)) || len(af.Names()) != names {
		t.Errorf("adapter_config.json %s (%d tensors, %v)", js, len(af.Names()), err)
	}

	// A Hugging Face base: the base weights load, stay frozen through a
	// step, and the adapters train.
	hf := t.TempDir()
	bm, _ := bloom.New(dev, base.Model)
	dev.Write(bm.Params, pre.params)
	if err := SaveHF(bm, ckpt.DefaultBloomConfig(), hf, ckpt.F32, 0); err != nil {
		t.Fatal(err)
	}
	one := tinyLoRAJob()
	one.Load, one.Steps = hf, 1
	res, err := runJob(context.Background(), one, tinySource(t, one), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := readBuf(dev, res.ranks[0].Model.Params)
	for _, tn := range full.Tensors {
		if tn.Adapter {
			continue
		}
		bt, _ := baseFull.Lookup(tn.Name)
		if i := sameBits(p[tn.Offset:tn.Offset+tn.Size], pre.params[bt.Offset:bt.Offset+bt.Size]); i >= 0 {
			t.Fatalf("from Hugging Face: %s[%d] is not the base's", tn.Name, i)
		}
	}
}

// TestCheckpointRecordsTokenizer: a job's checkpoints say what its data was
// tokenized with, so that an exported model can carry it.
func TestCheckpointRecordsTokenizer(t *testing.T) {
	c := tinyJob()
	c.Steps, c.Save, c.Tokenizer = 2, t.TempDir(), ByteTokenizer
	runAndGather(t, c)
	if got := ModelTokenizer(c.Save); got != ByteTokenizer {
		t.Errorf("ModelTokenizer of the checkpoint: %q", got)
	}
}
