// Package supervisor is the node side of jobs: it runs the `bloomd worker`
// child processes of the ranks the committed plan puts on this node, and
// tells the coordinator what they report (DESIGN.md §2). A worker that
// exits is never restarted here: the coordinator decides (a new attempt).
//
// It owns:
//   - the workers' lifecycle (supervisor.go, process.go): launch with their
//     Assignment, the control link (progress, checkpoint shards, errors),
//     logs, stop (SIGTERM, then SIGKILL after StopGrace), kill, drain (ask
//     every worker to checkpoint at a step boundary and stop);
//   - the node's report to the leader (in process when this node leads),
//     the leader's view of jobs this node's Raft state lags on, and the
//     checkpoint manifests the leader orders written here (manifest.go);
//   - the rendezvous store (rendezvous.go): small values the workers of an
//     attempt publish for each other, looked up through their daemons;
//   - checkpoint replication (replicate.go): which node each shard written
//     here is copied to, pushing it (Env.Push) and recording the copy, and
//     the fetch list a resuming worker pulls its checkpoint with.
//
// It gets what it needs of the node in an Env: plain values and function
// values (the applied state, gossip's view of who is alive, the leader's
// address, the coordinator in process, a push over the transfer service).
// It holds no pointer to the daemon and must not import package daemon
// (the daemon imports it), Raft or gossip (memberlist, membership); it
// may import api, ckpt, daemon/coord, daemon/jobspec and daemon/worker
// (the protocol it speaks with its workers).
//
// Usage (the daemon's jobs goroutine, every report interval):
//
//	sup := supervisor.New(supervisor.Env{Node: "n1", State: d.State, ...})
//	defer sup.StopAll(false)
//	st := sup.View(d.State())
//	sup.Reconcile(st) // start and stop this node's workers
//	sup.Report(st)    // tell the coordinator, write ordered manifests
package supervisor
