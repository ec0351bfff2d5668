package worker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"bloom/api"
	"bloom/ckpt"
	"bloom/daemon/coord"
	"bloom/daemon/jobspec"
)

// runInProcess runs Run against a fake daemon and returns what it
// sent on the control pipe and wrote to its log.
func runInProcess(t *testing.T, a Assignment) ([]Msg, string, error) {
	t.Helper()
	inR, inW := io.Pipe()
	ctrlR, ctrlW := io.Pipe()
	var msgs []Msg
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(ctrlR)
		for sc.Scan() {
			var m Msg
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Errorf("bad control line %q", sc.Text())
			}
			msgs = append(msgs, m)
		}
	}()
	go func() {
		b, _ := json.Marshal(a)
		inW.Write(append(b, '\n'))
	}()
	var log bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := Run(ctx, inR, ctrlW, &log)
	ctrlW.Close()
	inW.Close()
	<-read
	return msgs, log.String(), err
}

func singleAssignment(t *testing.T) Assignment {
	s := jobspec.Default()
	s.ModelPreset, s.TrainIters, s.SaveInterval = "bloom-tiny", 12, 6
	s.MicroBatch, s.GlobalBatch, s.SeqLength, s.LR, s.LRWarmupSamples = 2, 4, 32, 5e-3, 8
	return Assignment{Job: "j1", Attempt: 1, Rank: 0, Node: "n1", Device: "cpu:0", Threads: 1, Spec: s,
		Plan: coord.Plan{TP: 1, PP: 1, DP: 1, Ranks: []coord.Rank{{Rank: 0, Node: "n1", Device: 0}}}, SaveDir: t.TempDir()}
}

func losses(msgs []Msg) map[int64]float64 {
	out := map[int64]float64{}
	for _, m := range msgs {
		if m.Type == "progress" {
			out[m.Progress.Step] = m.Progress.Loss
		}
	}
	return out
}

func shards(msgs []Msg) map[int64]*api.Shard {
	out := map[int64]*api.Shard{}
	for _, m := range msgs {
		if m.Type == "shard" {
			out[m.Shard.Step] = m.Shard
		}
	}
	return out
}

// TestResumeIsExact: a (1,1,1) worker resumed from its committed
// step-6 checkpoint gives the uninterrupted run's losses and final
// weights and optimizer state, bit for bit.
func TestResumeIsExact(t *testing.T) {
	a := singleAssignment(t)
	full, log, err := runInProcess(t, a)
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	fl, fs := losses(full), shards(full)
	if len(fl) != 12 || fs[6] == nil || fs[12] == nil {
		t.Fatalf("losses %v, shards %v\n%s", fl, fs, log)
	}
	if !(fl[12] < fl[1]) {
		t.Errorf("loss did not fall: %g → %g", fl[1], fl[12])
	}
	if !strings.Contains(log, "step 12/12") || !strings.Contains(log, "saved the shard of step 12") {
		t.Errorf("log:\n%s", log)
	}

	// The coordinator's part: commit step 6 (its manifest, from the shard's).
	var m ckpt.Manifest
	if err := json.Unmarshal(fs[6].Native, &m); err != nil || fs[6].Expect != 1 {
		t.Fatalf("shard manifest %v, expect %d", err, fs[6].Expect)
	}
	if err := ckpt.CommitNative(fs[6].Dir, m); err != nil {
		t.Fatal(err)
	}
	b := a
	b.Attempt, b.FromStep, b.LoadDir, b.SaveDir = 2, 6, fs[6].Dir, t.TempDir()
	resumed, log, err := runInProcess(t, b)
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	rl, rs := losses(resumed), shards(resumed)
	for s := int64(7); s <= 12; s++ {
		if rl[s] != fl[s] {
			t.Errorf("step %d: resumed loss %v, uninterrupted %v", s, rl[s], fl[s])
		}
	}
	if _, ok := rl[6]; ok || rs[12] == nil {
		t.Fatalf("resumed run redid step 6 or saved nothing: %v %v", rl, rs)
	}
	if len(fs[12].Files) != 1 || len(rs[12].Files) != 1 {
		t.Fatalf("shard files %+v %+v", fs[12].Files, rs[12].Files)
	}
	if f, g := fs[12].Files[0], rs[12].Files[0]; g.Name != f.Name || g.SHA256 != f.SHA256 {
		t.Errorf("%s: resumed %s, uninterrupted %s", f.Name, g.SHA256[:12], f.SHA256[:12])
	}
	if filepath.Base(fs[12].Dir) != "iter_0000012" {
		t.Errorf("checkpoint dir %s", fs[12].Dir)
	}
}

func TestRefusesBadAssignment(t *testing.T) {
	a := singleAssignment(t)
	a.Device = "tpu:0"
	msgs, _, err := runInProcess(t, a)
	if err == nil || len(msgs) == 0 || msgs[len(msgs)-1].Type != "error" || !strings.Contains(msgs[len(msgs)-1].Error, "tpu") {
		t.Errorf("bad device: %v %+v", err, msgs)
	}
	a = singleAssignment(t)
	a.Plan = coord.Plan{TP: 2, PP: 1, DP: 1, Ranks: []coord.Rank{{Rank: 0, Node: "n1", Device: 0}, {Rank: 1, Node: "n1", Device: 1}}}
	if _, _, err := runInProcess(t, a); err == nil || !strings.Contains(err.Error(), "secret") {
		t.Errorf("multi-rank without a cluster secret: %v", err)
	}
}
