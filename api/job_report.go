package api

import (
	"encoding/json"
	"fmt"
	"time"
)

// NodeReport is what a node tells the coordinator about the workers it
// runs: a snapshot of every rank of every live attempt it hosts, sent again
// and again, so a lost message or a new leader costs nothing.
type NodeReport struct {
	Node  string       `json:"node"`
	Ranks []RankReport `json:"ranks"`
	// Written are the checkpoint manifests this node has made durable.
	Written []ManifestAck `json:"written,omitempty"`
	// Draining: the node is going down for a restart; its workers
	// checkpoint and stop, and nothing new is placed on it.
	Draining bool `json:"draining,omitempty"`
	// Applied is the Raft index the node has applied: the leader tells a
	// node that lags (it just restarted) about running jobs it has ranks
	// in, so it does not wait for Raft to catch it up.
	Applied uint64 `json:"applied,omitempty"`
	// Instance is the reporting bloomd process's nonce (as in gossip).
	Instance string `json:"instance,omitempty"`
}

// RankReport is one rank's state on its node.
type RankReport struct {
	Job      string        `json:"job"`
	Attempt  int           `json:"attempt"`
	Rank     int           `json:"rank"`
	Progress *StepProgress `json:"progress,omitempty"`
	// Recent are the rank's last steps (MaxRecent), when its steps are the
	// job's history (StepProgress.History): reports are snapshots, so a
	// step between two reports still reaches the coordinator.
	Recent []StepProgress `json:"recent,omitempty"`
	// Saving is the step whose shard the rank is writing (0: none).
	Saving int64 `json:"saving,omitempty"`
	// Shards are the rank's durable checkpoint shards.
	Shards []Shard `json:"shards,omitempty"`
	// Exited: the worker process is gone; ExitOK when it finished its run.
	Exited bool   `json:"exited,omitempty"`
	ExitOK bool   `json:"exit_ok,omitempty"`
	Exit   string `json:"exit,omitempty"`  // "exit status 1", "signal: killed"
	Error  string `json:"error,omitempty"` // what the worker said last
	// Stopped is the step after which the rank stopped early, on its
	// node's request, with that step's shard saved (0: it did not).
	Stopped int64 `json:"stopped,omitempty"`
	// Fatal: the worker failed because of the job itself (its spec, data
	// or checkpoint is wrong); restarting it cannot help.
	Fatal bool `json:"fatal,omitempty"`
	// Secondary: the rank failed because another did (its peer was lost,
	// its communicator aborted): the attempt's cause is looked for
	// elsewhere first.
	Secondary bool `json:"secondary,omitempty"`
	// FailedAt is when the rank's node saw it fail (unix ms): the first
	// failure among ranks that failed on their own is the cause.
	FailedAt int64 `json:"failed_at,omitempty"`
	// Unusable is the step of the checkpoint the rank resumed from when no
	// node holds a verified copy of a file of it (0: none).
	Unusable int64 `json:"unusable,omitempty"`
	// Result is what the rank answered (a generation or evaluation job's
	// rank 0), kept with the job when it succeeds.
	Result json.RawMessage `json:"result,omitempty"`
	// Serving is where a serve job's rank answers HTTP on its node (a
	// loopback address its daemon proxies to).
	Serving string `json:"serving,omitempty"`
}

// StepProgress is one finished optimizer step on one rank.
type StepProgress struct {
	Step         int64   `json:"step"`
	Steps        int64   `json:"steps"`
	Loss         float64 `json:"loss"`
	HasLoss      bool    `json:"has_loss"` // only the last pipeline stage computes the loss
	LR           float64 `json:"lr"`
	GradNorm     float64 `json:"grad_norm"`
	TokensPerSec float64 `json:"tokens_per_s"`
	Consumed     int64   `json:"consumed_samples"`
	BatchSize    int     `json:"batch_size,omitempty"` // the step's global batch
	// ValLoss and ValPPL are the validation loss and perplexity, on the
	// steps after which validation ran (--eval-interval).
	ValLoss float64 `json:"val_loss,omitempty"`
	ValPPL  float64 `json:"val_ppl,omitempty"`
	// FinalValLoss and FinalValPPL: on the last step, the validation at
	// the end of training (Megatron's "the end of training for val data").
	FinalValLoss float64 `json:"final_val_loss,omitempty"`
	FinalValPPL  float64 `json:"final_val_ppl,omitempty"`
	At           int64   `json:"at"` // unix ms
	// History marks the steps of the rank whose figures are the job's
	// (its last, which holds the loss): kept in the job's history.
	History bool `json:"history,omitempty"`
	// Under --fp16: the step's loss scale and the steps skipped so far
	// for overflowing gradients.
	LossScale    float64 `json:"loss_scale,omitempty"`
	SkippedSteps int64   `json:"skipped_steps,omitempty"`
	Throughput
}

// MaxRecent is how many of its last steps a rank report carries.
const MaxRecent = 32

// Throughput is a step's figures as the seed's throughput table shows
// them: samples/s over the job, seconds per step, TFLOPs per device by
// AscendSpeed's formula and the model FLOPs utilization against the
// device's peak (0: unknown).
type Throughput struct {
	SamplesPerSec         float64 `json:"samples_per_s,omitempty"`
	TokensPerSecPerDevice float64 `json:"tokens_per_s_per_device,omitempty"`
	SecondsPerStep        float64 `json:"s_per_step,omitempty"`
	TFLOPs                float64 `json:"tflops_per_device,omitempty"`
	MFU                   float64 `json:"mfu,omitempty"`
}

// Line is the step as one log line.
func (p StepProgress) Line() string {
	s := stepLine(p.Step, p.Steps, p.Loss, p.LR, p.GradNorm, p.TokensPerSec, p.LossScale, p.SkippedSteps, p.Throughput)
	if p.ValLoss != 0 {
		s += fmt.Sprintf(" | validation loss %.4f ppl %.4g", p.ValLoss, p.ValPPL)
	}
	if p.FinalValLoss != 0 {
		s += fmt.Sprintf(" | validation at the end of training: loss %.4f ppl %.4g", p.FinalValLoss, p.FinalValPPL)
	}
	return s
}

// stepLine formats a step's figures the one way every log and listing
// shows them.
func stepLine(step, steps int64, loss, lr, gradNorm, tokensPerSec, lossScale float64, skipped int64, t Throughput) string {
	s := fmt.Sprintf("step %d/%d | loss %.4f | lr %.3e | grad-norm %.3f | %.0f tokens/s", step, steps, loss, lr, gradNorm, tokensPerSec)
	if lossScale > 0 {
		s += fmt.Sprintf(" | loss-scale %g | skipped %d", lossScale, skipped)
	}
	if t.SecondsPerStep > 0 {
		s += fmt.Sprintf(" | %.3g s/step | %.3g samples/s | %.3g TFLOPs/device", t.SecondsPerStep, t.SamplesPerSec, t.TFLOPs)
		if t.MFU > 0 {
			s += fmt.Sprintf(" | MFU %.1f%%", 100*t.MFU)
		}
		if left := steps - step; left > 0 {
			eta := time.Duration(float64(left) * t.SecondsPerStep * float64(time.Second))
			unit := time.Second
			if eta < time.Minute {
				unit = 100 * time.Millisecond
			}
			s += " | ETA " + eta.Round(unit).String()
		}
	}
	return s
}

// Shard is one rank's part of a checkpoint, durable on its node.
type Shard struct {
	Step  int64       `json:"step"`
	Dir   string      `json:"dir"` // the checkpoint directory (the shard is inside it)
	Files []ShardFile `json:"files"`
	// Expect is how many shards complete the checkpoint (TP·PP when only
	// one data-parallel replica writes); 0 means one per rank.
	Expect int `json:"expect,omitempty"`
	// Native, when set, is the rank's view of the checkpoint's native
	// manifest (ckpt's Manifest listing only its own shard); the
	// coordinator merges the views into the manifest it commits.
	Native []byte `json:"native,omitempty"`
	// Replicas are the other nodes that hold a verified copy of every
	// file of the shard.
	Replicas []string `json:"replicas,omitempty"`
}

// ShardFile is one file of a shard, relative to the checkpoint directory.
type ShardFile struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
	Bytes  int64  `json:"bytes"`
}

// ReportReply is the coordinator's answer: manifests to write.
type ReportReply struct {
	Manifests []ManifestOrder `json:"manifests,omitempty"`
	// Jobs, for a node whose Raft state lags the leader's, are the
	// leader's records of the running jobs with ranks on that node (the
	// coordinator's job encoding, opaque here).
	Jobs []json.RawMessage `json:"jobs,omitempty"`
	// StopJobs are jobs whose workers on the node should checkpoint and
	// stop (the coordinator restarts the job on another layout).
	StopJobs []string `json:"stop_jobs,omitempty"`
}

// ManifestOrder asks a node to write a checkpoint's manifest.json, exactly
// these bytes (base64 on the wire, so they arrive unchanged), into the
// directory of (Job, Step) on that node. Dir is the step directory's name
// (the node resolves its own checkpoint root; older nodes join the root
// with Dir's base name, so the two agree).
type ManifestOrder struct {
	Job      string `json:"job"`
	Step     int64  `json:"step"`
	Dir      string `json:"dir"`
	Manifest []byte `json:"manifest"`
	SHA256   string `json:"sha256"`
}

// ManifestAck says a manifest is durable on the reporting node.
type ManifestAck struct {
	Job    string `json:"job"`
	Step   int64  `json:"step"`
	SHA256 string `json:"sha256"`
}
