// Package coord is the replicated state machine of a bloom cluster: the state
// every bloomd agrees on through Raft. It owns the types of that state —
// registered members, jobs and their states, each job's plan (rank →
// node/device with the TP/PP/DP layout), attempts, committed checkpoints —
// the versioned encoding of the commands that change it, and its snapshots.
//
// It is pure and deterministic: no I/O, no clocks, no randomness. Every time a
// command carries is chosen by the leader that proposed it, so replaying a log
// gives the same state on every node, byte for byte. The daemon wraps a State
// in a raft.FSM; this package does not know Raft exists.
//
// It must not import anything of the project, nor raft, memberlist or any
// network package.
//
// Usage:
//
//	st := coord.NewState()
//	b, _ := coord.Encode(coord.SubmitJob{ID: "j1", Name: "pretrain", Spec: spec, At: now})
//	cmd, err := coord.Decode(b)   // on every replica, from the Raft log
//	res := st.Apply(index, cmd)   // res.Err is a deterministic rejection
//	snap, _ := st.Snapshot()
//	st2, _ := coord.Restore(snap) // equal to st
package coord
