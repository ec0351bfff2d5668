package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"bloom/api"
	"bloom/ckpt"
	"bloom/npu"
	"bloom/trainer"
	"bloom/trainer/tensorboard"
)

// rankConfig is the trainer's view of this rank of the job.
func (w *worker) rankConfig() (trainer.RankConfig, error) {
	a, s := &w.a, &w.a.Spec
	model, err := s.ModelConfig()
	if err != nil {
		return trainer.RankConfig{}, err
	}
	c := s.TrainConfig()
	c.Model, c.Rank = model, a.Rank
	c.TP, c.PP, c.DP = a.Plan.TP, a.Plan.PP, a.Plan.DP
	// Every daemon job saves: at --save-interval, at the last step, and
	// when its node asks it to checkpoint and stop.
	c.Save, c.SaveInterval = a.SaveDir, s.SaveInterval
	switch {
	case a.FromStep > 0:
		c.Load = a.LoadDir // the checkpoint Raft committed, nothing newer
	case s.Load != "":
		c.Load = s.Load
	}
	return c, c.Validate()
}

// train runs this rank with the trainer: it joins the communicators a
// multi-rank job needs (none for one rank), then trains until the last
// step, reporting every step and checkpoint shard to the daemon.
func (w *worker) train(ctx context.Context, dev npu.Device) error {
	cfg, err := w.rankConfig()
	if err != nil {
		return err
	}
	if err := ckpt.CheckWritable(cfg.Save); err != nil { // before any step is spent
		return fmt.Errorf("%w: --save: %w", errJobInput, err)
	}
	if err := w.fetchCheckpoint(ctx, cfg); err != nil {
		return err
	}
	src, valid, closeSrc, err := w.source()
	if err != nil {
		return err
	}
	defer closeSrc()
	var stoppedAt int64
	peak := w.a.Spec.DevicePeakTFLOPs
	if peak == 0 {
		peak = trainer.MeasurePeakTFLOPs(dev)
		w.logf("device peak (a float32 512³ product): %.3g TFLOPs", peak)
	}
	var tb *trainer.TensorBoardLog
	if s := &w.a.Spec; s.TensorBoardDir != "" && cfg.Rank == cfg.World()-1 {
		flags := tensorboard.Flags{LearningRate: true, LossScale: true, BatchSize: s.LogBatchSizeToTensorboard, Timers: s.LogTimersToTensorboard, ValidationPPL: s.LogValidationPPLToTensorboard}
		if tb, err = trainer.OpenTensorBoard(s.TensorBoardDir, cfg, cfg.Model, flags); err != nil {
			return fmt.Errorf("%w: --tensorboard-dir: %w", errJobInput, err)
		}
		defer tb.Close()
	}
	env := trainer.Env{Dev: dev, Data: src, Valid: valid, Commit: shardReporter{w}, Logf: w.logf, Stop: w.link.StopRequested,
		Report: func(st trainer.StepStats) {
			if tb != nil {
				if err := tb.Step(st); err != nil {
					w.logf("tensorboard: %v", err)
				}
			}
			tp := trainer.StepThroughput(cfg.Model, st.Batch, cfg.SeqLength, cfg.World(), st.Seconds, cfg.Recompute, peak)
			w.reportStep(api.StepProgress{Step: int64(st.Step), Steps: int64(cfg.Steps), Loss: st.Loss, HasLoss: true,
				LR: st.LR, GradNorm: st.GradNorm, TokensPerSec: st.TokensPerSec, Consumed: st.Consumed, BatchSize: st.Batch, ValLoss: st.ValLoss, ValPPL: st.ValPPL, FinalValLoss: st.FinalValLoss, FinalValPPL: st.FinalValPPL,
				LossScale: st.LossScale, SkippedSteps: st.SkippedSteps, History: cfg.Rank == cfg.World()-1,
				Throughput: api.Throughput{SamplesPerSec: tp.SamplesPerSec, TokensPerSecPerDevice: tp.TokensPerSecPerDevice, SecondsPerStep: tp.SecondsPerStep, TFLOPs: tp.TFLOPsPerDevice, MFU: tp.MFU}})
			if st.Stop {
				stoppedAt = int64(st.Step)
			}
			if saves(cfg, st.Step) || st.Stop {
				// The trainer saves right after it reports such a step: the
				// job shows "checkpointing" until the shard is reported.
				w.link.send(Msg{Type: "saving", Step: int64(st.Step)})
			}
		}}
	closeComms, err := w.connect(ctx, cfg, &env)
	if err != nil {
		return err
	}
	defer closeComms()
	err = trainer.Run(ctx, cfg, env)
	if errors.Is(err, trainer.ErrStopped) {
		w.logf("stopped after step %d on request: its checkpoint is saved", stoppedAt)
		return w.link.send(Msg{Type: "stopped", Step: stoppedAt})
	}
	if err != nil {
		return err
	}
	w.logf("done: %d steps", cfg.Steps)
	return nil
}

// saves reports whether this rank writes a shard after step (the
// trainer's rule, RankConfig.SavesAfter). Only data-parallel replica 0
// writes shards.
func saves(c trainer.RankConfig, step int) bool {
	return c.Coords().DP == 0 && c.SavesAfter(step)
}

// shardReporter is the trainer's Committer in a worker: every durable
// shard goes to the daemon, which relays it to the coordinator; the
// coordinator merges the shards' manifests, has the nodes write the
// manifest, and commits the checkpoint in Raft. It never waits for other
// ranks.
type shardReporter struct{ w *worker }

// ShardSaved implements trainer.Committer.
func (r shardReporter) ShardSaved(_ context.Context, dir string, m ckpt.Manifest) error {
	native, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("worker: shard manifest: %w", err)
	}
	sh := api.Shard{Step: int64(m.Step), Dir: dir, Expect: m.Layout.TP * m.Layout.PP, Native: native}
	for _, s := range m.Shards {
		sh.Files = append(sh.Files, api.ShardFile{Name: s.File, SHA256: s.SHA256, Bytes: s.Bytes})
	}
	r.w.logf("saved the shard of step %d: %s", m.Step, dir)
	return r.w.link.send(Msg{Type: "shard", Shard: &sh})
}
