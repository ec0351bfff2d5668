// Package sched is the leader's job scheduler as a state machine without
// I/O, in the manner of Nomad's scheduler and etcd/raft's Ready: given the
// committed state (daemon/coord), gossip's view of the nodes and the time,
// a Pass returns the Raft commands to apply — start an attempt (place),
// end one, re-plan on fewer replicas, stop to grow back, commit a
// checkpoint — and the lines to log, in order. The daemon applies them and
// reports each outcome back (Applied).
//
// It owns:
//   - the rules (sched.go, readable in one file): restart from the last
//     committed checkpoint after a worker failure or a lost node; no retry
//     for a job's own fault (wrong input, the same crash at the same step)
//     or once --max-restarts is spent; shrink after --node-grace down to
//     --min-nodes (shrink.go) and grow back when the layout fits again;
//     drain (ranks that checkpointed and stopped for a node's restart end
//     the attempt as planned, not as a failure);
//   - the leader's memory of running attempts, built from the nodes'
//     reports (Report, live.go): progress, exits, shards, manifest acks;
//   - checkpoint commit: a step's manifest merged from the ranks' views,
//     written by every holder, then committed (checkpoint.go);
//   - placement in Megatron's rank order, TP inside a node (Place), the
//     free devices of a state and the --devices syntax (devices.go).
//
// It reads no clock, does no network or disk I/O and logs nothing; its
// table tests run without a cluster. It may import daemon/coord,
// daemon/jobspec, ckpt (the manifest type) and api (the report wire
// types); never the daemon, Raft, gossip (membership, memberlist) or QUIC.
//
// Usage, on the leader, every interval:
//
//	s := sched.New(sched.Config{LeaderGrace: 5 * time.Second, DrainTTL: time.Second})
//	reply, changed := s.Report(nodeReport, time.Now()) // as reports come in
//	for _, a := range s.Pass(state.Clone(), gossip, time.Now()) {
//		err := raftApply(a.Cmd) // when a.Cmd != nil
//		s.Applied(a.Cmd, err)
//		log(a.Level, a.Msg, a.Args...)
//	}
package sched
