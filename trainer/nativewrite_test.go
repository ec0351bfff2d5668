package trainer

import (
	"math"
	"path/filepath"
	"slices"
	"testing"

	"bloom/ckpt"
	"bloom/trainer/bloom"
)

// TestReshardOffline: a checkpoint of DP=TP=PP=2 (layout A) resharded
// offline to TP=4 (layout B) loads on B with every parameter and moment of
// A's run in place, bit for bit; resuming it on B gives the same bits,
// step by step, as B resuming A's checkpoint directly (resharding on
// load), and the same losses as resuming on A within the equivalence
// tolerance (TP=4 sums its partial products in another order than TP=2);
// and A→B→A gives back A's shards byte for byte.
func TestReshardOffline(t *testing.T) {
	a := layout(tinyJob(), 2, 2, 2, nil)
	a.Save, a.Steps = t.TempDir(), 10
	saved := runAndGather(t, a)
	aDir := filepath.Join(a.Save, ckpt.StepDirName(10))

	bRoot := t.TempDir()
	bDir, err := Reshard(a.Save, bRoot, NativeSpec{TP: 4, PP: 1})
	if err != nil {
		t.Fatal(err)
	}
	bMan, err := ckpt.ReadManifest(bDir)
	if err != nil {
		t.Fatal(err)
	}
	aMan, _ := ckpt.ReadManifest(aDir)
	if bMan.Step != 10 || bMan.ConsumedSamples != aMan.ConsumedSamples || bMan.LRSamples != aMan.LRSamples ||
		bMan.Layout.TP != 4 || bMan.Layout.PP != 1 || bMan.Layout.DP != 2 || string(bMan.Trainer) != string(aMan.Trainer) {
		t.Fatalf("resharded manifest %+v\nfrom %+v", bMan, aMan)
	}

	b := layout(tinyJob(), 1, 4, 1, nil)
	b.Load, b.Steps = bRoot, 10 // nothing to train: the state as loaded
	sameState(t, "loaded on B", runAndGather(t, b), saved)

	b.Steps = 20
	offline := runAndGather(t, b)
	b.Load = a.Save
	online := runAndGather(t, b)
	sameState(t, "B resumed from the offline reshard", offline, online)
	for i, s := range offline.stats {
		if w := online.stats[i]; s.Loss != w.Loss || s.GradNorm != w.GradNorm {
			t.Fatalf("step %d: loss %v, norm %v; resharding on load: %v, %v", s.Step, s.Loss, s.GradNorm, w.Loss, w.GradNorm)
		}
	}
	a.Load, a.Save, a.Steps = a.Save, t.TempDir(), 20
	onA := runAndGather(t, a)
	worst := 0.0
	for i, s := range offline.stats {
		w := onA.stats[i]
		d := math.Abs(s.Loss-w.Loss) / w.Loss
		worst = max(worst, d)
		if d > fp32Tol.loss {
			t.Errorf("step %d: loss %.7f on B, %.7f on A", s.Step, s.Loss, w.Loss)
		}
	}
	t.Logf("resumed on TP=4 vs on DP=TP=PP=2: steps 11–20, largest relative loss difference %.2g", worst)

	back, err := Reshard(bDir, t.TempDir(), NativeSpec{TP: 2, PP: 2})
	if err != nil {
		t.Fatal(err)
	}
	backMan, err := ckpt.ReadManifest(back)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range backMan.Shards {
		w := aMan.Shards[i]
		if s.File != w.File || s.SHA256 != w.SHA256 || s.Bytes != w.Bytes || s.Rank != w.Rank {
			t.Errorf("A→B→A shard %+v, A's %+v", s, w)
		}
	}
}

// TestReshardKeepsRNG: resharding to the checkpoint's own layout is a
// copy, random states included; an existing committed step is not
// overwritten.
func TestReshardKeepsRNG(t *testing.T) {
	a := layout(tinyJob(), 1, 2, 2, []int{1, 3})
	a.Save, a.Steps = t.TempDir(), 2
	runAndGather(t, a)
	root := t.TempDir()
	dir, err := Reshard(a.Save, root, NativeSpec{TP: 2, PP: 2, Partition: []int{1, 3}})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := ckpt.ReadManifest(dir)
	want, _ := ckpt.ReadManifest(filepath.Join(a.Save, ckpt.StepDirName(2)))
	for i := range got.Shards {
		if g, w := got.Shards[i], want.Shards[i]; g.SHA256 != w.SHA256 || !slices.Equal(g.RNG, w.RNG) || len(g.RNG) == 0 {
			t.Errorf("shard %d: %+v, want %+v", i, g, w)
		}
	}
	if _, err := Reshard(a.Save, root, NativeSpec{TP: 1, PP: 1}); err == nil {
		t.Error("resharding over a committed step succeeded")
	}
	if _, err := Reshard(a.Save, t.TempDir(), NativeSpec{TP: 3, PP: 1}); err == nil {
		t.Error("TP=3 of 4 heads succeeded")
	}
}

// fullTensors serves whole tensors out of full-layout buffers.
type fullTensors struct {
	l     *bloom.Layout
	state [3][]float32 // parameters, exp_avg, exp_avg_sq; nil: absent
}

func (f fullTensors) Whole(prefix, name string) ([]float32, []int, error) {
	t, _ := f.l.Lookup(name)
	i := slices.Index(ckptPrefixes[:], prefix)
	if f.state[i] == nil {
		return nil, nil, nil
	}
	return f.state[i][t.Offset : t.Offset+t.Size], t.Global, nil
}

// TestWriteNative: whole tensors with their moments written for TP=2,
// PP=2 load as the run that produced them held them, bit for bit, and go on
// with its step, data position and optimizer step; without moments they
// load as zeros at optimizer step 0.
func TestWriteNative(t *testing.T) {
	a := tinyJob()
	a.Steps = 6
	saved := runAndGather(t, a)
	full := bloom.NewLayout(a.Model)
	spec := NativeSpec{Model: a.Model, TP: 2, PP: 2, Partition: []int{3, 1}, Step: 6, ConsumedSamples: saved.consumed,
		LRSamples: saved.consumed, OptimizerStep: saved.optimStep}
	root := t.TempDir()
	if _, err := WriteNative(root, spec, fullTensors{full, [3][]float32{saved.params, saved.m, saved.v}}); err != nil {
		t.Fatal(err)
	}
	b := layout(tinyJob(), 1, 2, 2, []int{3, 1})
	b.Load, b.Steps = root, 6
	sameState(t, "written", runAndGather(t, b), saved)

	root = t.TempDir()
	spec.OptimizerStep = 0
	if _, err := WriteNative(root, spec, fullTensors{full, [3][]float32{saved.params, nil, nil}}); err != nil {
		t.Fatal(err)
	}
	b.Load = root
	got := runAndGather(t, b)
	zero := make([]float32, full.Size)
	sameState(t, "written without moments", got, runState{params: saved.params, m: zero, v: zero, consumed: saved.consumed})
}
