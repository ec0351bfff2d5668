package daemon

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"bloom/api"
	"bloom/ckpt"
	"bloom/daemon/coord"
)

// Committing a checkpoint (DESIGN.md §9). Each rank that writes a shard
// (data-parallel replica 0 of every TP·PP position) reports it, with its
// checksum and its view of the manifest, through its daemon. When the
// coordinator has every shard of a step it merges the manifest and asks
// each node holding shards to write it (fsynced, atomically renamed) into
// the step directory; once every such node has acked, it commits the
// checkpoint in Raft with the manifest's SHA-256. The daemon resumes a job
// only from a checkpoint committed in Raft, naming its directory.

// checkpoints turns steps whose shards are all in into pending manifests,
// and commits pending ones every node has made durable.
func (j *jobs) checkpoints(st *coord.State, job *coord.Job, lj *liveJob, alive map[string]bool) {
	var last int64 = -1
	if n := len(job.Checkpoints); n > 0 {
		last = job.Checkpoints[n-1].Step
	}
	var commit []api.Checkpoint
	files := map[int64][]coord.CheckpointFile{}
	replicas := replicasNeeded(st, alive)
	j.mu.Lock()
	shards := map[int64]map[int]api.Shard{}
	for r, rr := range lj.ranks {
		for _, sh := range rr.Shards {
			if sh.Step > last {
				if shards[sh.Step] == nil {
					shards[sh.Step] = map[int]api.Shard{}
				}
				shards[sh.Step][r] = sh
			}
		}
	}
	for step, byRank := range shards {
		if len(byRank) < expected(job, byRank) || replicas && !replicated(byRank) {
			continue
		}
		p := lj.pending[step]
		if p == nil && !lj.refused[step] {
			np, err := newPending(job, lj, step, byRank)
			if err != nil {
				lj.refused[step] = true
				j.d.log.Error("checkpoint shards do not agree; not committing", "job", job.ID, "step", step, "err", err)
				continue
			}
			lj.pending[step] = np
			continue
		}
		if p == nil {
			continue
		}
		if len(p.acked) == len(p.orders) {
			commit = append(commit, api.Checkpoint{Step: step, Dir: p.dir, Manifest: p.sha})
			files[step] = p.files
		}
	}
	for step := range lj.pending {
		if step <= last {
			delete(lj.pending, step)
		}
	}
	j.mu.Unlock()
	sort.Slice(commit, func(a, b int) bool { return commit[a].Step < commit[b].Step })
	for _, c := range commit {
		err := j.apply(coord.CommitCheckpoint{ID: job.ID, Checkpoint: coord.Checkpoint{Step: c.Step, Dir: c.Dir,
			Manifest: c.Manifest, CommittedAt: time.Now().UnixMilli(), Files: files[c.Step]}})
		if err == nil || errors.Is(err, coord.ErrStaleCheckpoint) {
			j.mu.Lock()
			delete(lj.pending, c.Step)
			j.mu.Unlock()
		}
		if err == nil {
			j.d.log.Info("checkpoint committed", "job", job.ID, "step", c.Step, "dir", c.Dir, "manifest", c.Manifest[:12])
		}
	}
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
// shard. Call with j.mu held.
func newPending(job *coord.Job, lj *liveJob, step int64, byRank map[int]api.Shard) (*pendingCkpt, error) {
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
	p := &pendingCkpt{sha: hex.EncodeToString(sum[:]), dir: byRank[ranks[0]].Dir, orders: map[string]api.ManifestOrder{}, acked: map[string]bool{}}
	for _, r := range ranks {
		sh := byRank[r]
		// The writer and every node with a copy get the manifest: any of
		// them can serve the whole step directory later.
		holders := append([]string{lj.nodes[r]}, sh.Replicas...)
		for _, node := range holders {
			p.orders[node] = api.ManifestOrder{Job: job.ID, Step: step, Dir: sh.Dir, Manifest: b, SHA256: p.sha}
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
			n++
		}
	}
	return n > 1
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

// writeManifest makes an order durable on this node: the manifest's bytes,
// checked against their hash, written atomically into the checkpoint dir,
// and read back as a valid manifest (else removed: not committed).
func writeManifest(o api.ManifestOrder) error {
	sum := sha256.Sum256(o.Manifest)
	if hex.EncodeToString(sum[:]) != o.SHA256 {
		return errors.New("daemon: manifest does not match its checksum")
	}
	path := filepath.Join(o.Dir, ckpt.ManifestName)
	err := ckpt.WriteAtomic(path, func(w io.Writer) error {
		_, err := w.Write(o.Manifest)
		return err
	})
	if err != nil {
		return err
	}
	if _, err := ckpt.ReadManifest(o.Dir); err != nil {
		os.Remove(path)
		return err
	}
	return nil
}
