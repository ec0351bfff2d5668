package sched

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"bloom/api"
	"bloom/ckpt"
	"bloom/daemon/coord"
	"bloom/daemon/jobspec"
)

// Committing a checkpoint (DESIGN.md §9). Each rank that writes a shard
// (data-parallel replica 0 of every TP·PP position) reports it, with its
// checksum and its view of the manifest, through its daemon. When the
// scheduler has every shard of a step (and, on a cluster with a second
// node, a copy of each on another node) it merges the manifest and asks
// each node holding shards to write it (Report's reply); once every such
// node has acked, it commits the checkpoint in Raft with the manifest's
// SHA-256. A job resumes only from a checkpoint committed in Raft.

// pendingCkpt is a checkpoint whose shards are all durable and whose
// manifest the nodes are writing; it is committed when every node acked.
type pendingCkpt struct {
	files  []coord.CheckpointFile // and where they live, for the commit
	sha    string
	orders map[string]api.ManifestOrder // node → its order
	acked  map[string]bool
}

// checkpoints turns steps whose shards are all in into pending manifests,
// and commits pending ones every node has made durable.
func (s *Scheduler) checkpoints(st *coord.State, job *coord.Job, a *attempt, alive map[string]bool, now time.Time) []Action {
	last := job.LastStep()
	replicas := replicasNeeded(st, alive)
	shards := map[int64]map[int]api.Shard{}
	for r, rr := range a.ranks {
		for _, sh := range rr.Shards {
			if sh.Step > last {
				if shards[sh.Step] == nil {
					shards[sh.Step] = map[int]api.Shard{}
				}
				shards[sh.Step][r] = sh
			}
		}
	}
	var acts, commits []Action
	for step, byRank := range shards {
		if len(byRank) < expected(job, byRank) || replicas && !replicated(byRank) {
			continue
		}
		p := a.pending[step]
		if p == nil && !a.refused[step] {
			np, err := newPending(job, a, step, byRank)
			if err != nil {
				a.refused[step] = true
				acts = append(acts, note(slog.LevelError, "checkpoint shards do not agree; not committing", "job", job.ID, "step", step, "err", err))
				continue
			}
			a.pending[step] = np
			continue
		}
		if p == nil || len(p.acked) < len(p.orders) {
			continue
		}
		commits = append(commits, Action{
			Cmd: coord.CommitCheckpoint{ID: job.ID, Checkpoint: coord.Checkpoint{Step: step, Dir: ckpt.StepDirName(int(step)),
				Manifest: p.sha, CommittedAt: now.UnixMilli(), Files: p.files}},
			Level: slog.LevelInfo, Msg: "checkpoint committed",
			Args: []any{"job", job.ID, "step", step, "manifest", p.sha[:12]},
		})
	}
	for step := range a.pending {
		if step <= last {
			delete(a.pending, step)
		}
	}
	sort.Slice(commits, func(i, k int) bool {
		return commits[i].Cmd.(coord.CommitCheckpoint).Checkpoint.Step < commits[k].Cmd.(coord.CommitCheckpoint).Checkpoint.Step
	})
	return append(acts, commits...)
}

// expected is how many shards complete a checkpoint: what the shards say
// (TP·PP for the native format), else one per rank.
func expected(job *coord.Job, byRank map[int]api.Shard) int {
	for _, sh := range byRank {
		if sh.Expect > 0 {
			return sh.Expect
		}
	}
	return len(job.Plan.Ranks)
}

// newPending builds the manifest of step and one order per node holding a
// shard.
func newPending(job *coord.Job, a *attempt, step int64, byRank map[int]api.Shard) (*pendingCkpt, error) {
	ranks := make([]int, 0, len(byRank))
	for r := range byRank {
		ranks = append(ranks, r)
	}
	sort.Ints(ranks)
	b, err := nativeManifest(byRank, ranks)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	p := &pendingCkpt{sha: hex.EncodeToString(sum[:]), orders: map[string]api.ManifestOrder{}, acked: map[string]bool{}}
	for _, r := range ranks {
		sh := byRank[r]
		// The writer and every node with a copy get the manifest: any of
		// them can serve the whole step directory later.
		holders := append([]string{a.nodes[r]}, sh.Replicas...)
		for _, node := range holders {
			p.orders[node] = api.ManifestOrder{Job: job.ID, Step: step, Dir: ckpt.StepDirName(int(step)), Manifest: b, SHA256: p.sha}
		}
		for _, f := range sh.Files {
			p.files = append(p.files, coord.CheckpointFile{Name: f.Name, SHA256: f.SHA256, Bytes: f.Bytes, Nodes: holders})
		}
	}
	return p, nil
}

// replicasNeeded reports whether checkpoints wait for a copy of every
// shard on a second node: when the cluster has a second node that can take
// one.
func replicasNeeded(st *coord.State, alive map[string]bool) bool {
	n := 0
	for name, m := range st.Members {
		if alive[name] && m.QUICAddr != "" {
			if n++; n > 1 {
				return true // a pass asks for each running job: stop at the second
			}
		}
	}
	return false
}

// replicated reports whether every shard has a copy on another node.
func replicated(byRank map[int]api.Shard) bool {
	for _, sh := range byRank {
		if len(sh.Replicas) == 0 {
			return false
		}
	}
	return true
}

// nativeManifest merges the ranks' views of a native checkpoint's
// manifest: the same training state, one shard each. The bytes are what
// ckpt.CommitNative writes.
func nativeManifest(byRank map[int]api.Shard, ranks []int) ([]byte, error) {
	var out ckpt.Manifest
	for i, r := range ranks {
		var m ckpt.Manifest
		if len(byRank[r].Native) == 0 {
			return nil, fmt.Errorf("rank %d reported a shard without its manifest", r)
		}
		if err := json.Unmarshal(byRank[r].Native, &m); err != nil {
			return nil, fmt.Errorf("rank %d: manifest: %w", r, err)
		}
		if i == 0 {
			out = m
			out.Shards = nil
		} else if m.Step != out.Step || m.ConsumedSamples != out.ConsumedSamples || m.LRSamples != out.LRSamples {
			return nil, fmt.Errorf("rank %d is at step %d after %d samples, rank %d at step %d after %d",
				r, m.Step, m.ConsumedSamples, ranks[0], out.Step, out.ConsumedSamples)
		}
		out.Shards = append(out.Shards, m.Shards...)
	}
	out.Format, out.Version = ckpt.NativeFormat, ckpt.NativeVersion
	sort.Slice(out.Shards, func(a, b int) bool { return out.Shards[a].Rank < out.Shards[b].Rank })
	b, err := json.MarshalIndent(out, "", "  ")
	return append(b, '\n'), err
}

// retire applies the job's retention policy (--keep-last, --keep-every):
// the committed checkpoints it lets go leave the record, and each node
// deletes their files once it sees them gone. The newest checkpoint and
// the one the running attempt resumed from are kept. A job is looked at
// again only when its checkpoints or attempts changed since it last had
// nothing to retire (its spec is decoded then, not every pass).
func (s *Scheduler) retire(job *coord.Job) []Action {
	if len(job.Checkpoints) < 2 {
		return nil
	}
	key := keptKey{n: len(job.Checkpoints), newest: job.LastStep(), attempts: len(job.Attempts), state: job.State}
	if s.kept[job.ID] == key {
		return nil
	}
	spec, err := jobspec.Decode(job.Spec)
	if err != nil || !spec.Retention().Enabled() {
		s.kept[job.ID] = key
		return nil
	}
	steps := make([]int64, len(job.Checkpoints))
	for i, c := range job.Checkpoints {
		steps[i] = c.Step
	}
	var protect []int64
	if n := len(job.Attempts); n > 0 && job.State == coord.JobRunning {
		protect = append(protect, job.Attempts[n-1].FromStep)
	}
	drop := spec.Retention().Drop(steps, protect...)
	if len(drop) == 0 {
		s.kept[job.ID] = key
		return nil
	}
	return []Action{{Cmd: coord.RetireCheckpoints{ID: job.ID, Steps: drop},
		Level: slog.LevelInfo, Msg: "checkpoints retired", Args: []any{"job", job.ID, "steps", drop, "keep_last", spec.KeepLast, "keep_every", spec.KeepEvery}}}
}

// keptKey is what retire's answer depends on besides the spec.
type keptKey struct {
	n, attempts int
	newest      int64
	state       coord.JobState
}
