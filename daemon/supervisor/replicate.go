package supervisor

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"bloom/api"
	"bloom/daemon/coord"
	"bloom/daemon/worker"
)

// Checkpoint replication (DESIGN.md §9): every shard a worker here
// reports is pushed to another node over the QUIC data plane (Env.Push,
// which the daemon wires to package daemon/xfer: zstd, SHA-256 checked,
// fsynced there) before the
// coordinator commits the checkpoint, which records where each file lives.
// A worker that resumes pulls what its node lacks from those nodes
// (package daemon/worker), in the order newFetch gives it.

// replicaTargets are the nodes a shard written here may be copied to, in
// the order to try: alive, registered with a transfer address, the ring of
// names starting after this node's.
func (s *Supervisor) replicaTargets(st *coord.State) []*coord.Member {
	me := s.env.Node
	alive := s.env.Alive()
	var out []*coord.Member
	for _, n := range st.MemberNames() {
		if m := st.Members[n]; n != me && alive[n] && m.QUICAddr != "" {
			out = append(out, m)
		}
	}
	i, _ := slices.BinarySearchFunc(out, me, func(m *coord.Member, name string) int {
		switch {
		case m.Name < name:
			return -1
		case m.Name > name:
			return 1
		}
		return 0
	})
	return append(out[i:], out[:i]...)
}

// replicate pushes the files of shard sh of worker p to another node,
// retrying other nodes and later rounds until one holds them all, the
// attempt is over or the supervisor stops; then it records the copy in
// the worker's report. Its goroutine belongs to s.wg.
func (s *Supervisor) replicate(p *Worker, sh api.Shard) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() { // owned by this goroutine: ends with ctx
			select {
			case <-s.stopC:
				cancel()
			case <-ctx.Done():
			}
		}()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			st := s.env.State()
			if _, ok := current(st, p.key.Job, p.key.Attempt); !ok {
				return
			}
			for _, m := range s.replicaTargets(st) {
				start := time.Now()
				bytes, err := s.pushShard(ctx, p.key.Job, m.QUICAddr, sh)
				if err != nil {
					s.env.Log.Warn("replicate checkpoint shard", "job", p.key.Job, "step", sh.Step, "to", m.Name, "err", err)
					continue
				}
				s.env.Log.Info("checkpoint shard replicated", "job", p.key.Job, "step", sh.Step, "to", m.Name,
					"bytes", bytes, "took", time.Since(start).Round(time.Millisecond))
				p.addReplica(sh.Step, m.Name)
				s.env.Poke()
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// pushShard pushes every file of sh to the node at addr.
func (s *Supervisor) pushShard(ctx context.Context, job, addr string, sh api.Shard) (int64, error) {
	var wire int64
	for _, f := range sh.Files {
		rel := filepath.Join(filepath.Base(sh.Dir), f.Name)
		pctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
		n, err := s.env.Push(pctx, addr, job, rel, filepath.Join(sh.Dir, f.Name), f.SHA256, f.Bytes)
		cancel()
		if err != nil {
			return wire, fmt.Errorf("%s: %w", f.Name, err)
		}
		wire += n
	}
	return wire, nil
}

// addReplica records that node holds a copy of the worker's shard of step.
func (p *Worker) addReplica(step int64, node string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range p.rep.Shards {
		if sh := &p.rep.Shards[i]; sh.Step == step && !slices.Contains(sh.Replicas, node) {
			sh.Replicas = append(sh.Replicas, node)
		}
	}
}

// newFetch is the fetch list of checkpoint k for a worker on node me: every
// other holder of each file that gossip has alive, by its transfer address
// (a dead one would cost a handshake timeout). nil when Raft does not know
// where the files live (an older bloomd committed it).
func newFetch(st *coord.State, k coord.Checkpoint, me string, alive map[string]bool) *worker.Fetch {
	if len(k.Files) == 0 {
		return nil
	}
	f := &worker.Fetch{Manifest: k.Manifest}
	for _, file := range k.Files {
		ff := worker.FetchFile{CheckpointFile: file}
		for _, n := range file.Nodes {
			if m := st.Members[n]; n != me && alive[n] && m != nil && m.QUICAddr != "" {
				ff.From = append(ff.From, m.QUICAddr)
			}
		}
		f.Files = append(f.Files, ff)
	}
	return f
}
