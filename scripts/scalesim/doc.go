// Command scalesim measures bloomd's control plane at 1,000 nodes in one
// process, with the real libraries and bloomd's settings (issue 20):
//
//   - gossip: N hashicorp/memberlist instances with membership's timings
//     (membership.DefaultConfig over the LAN defaults, AES-256, compression)
//     on an in-memory transport that counts every byte: the time for the
//     cluster to form (every node sees N alive), for a crashed node
//     (Shutdown without Leave) to be declared dead by each survivor, and the
//     bytes each node sends per second;
//   - Raft: hashicorp/raft with 5 voters (and, as bloomd runs it, every
//     other node a non-voter) on InmemTransport with bloomd's timeouts: the
//     first election and the failover after the leader crashes;
//   - the coordinator: daemon/sched's Pass over a coord.State of N members
//     and 100 jobs, timed in Go benchmark style.
//
// It prints a table and a markdown section, and compares the gossip with
// Serf's published convergence model (reference/scale.md §5.1).
//
// Why in memory: on two cores, 1,000 loopback UDP+TCP sockets would spend
// the CPU in the kernel and in socket wakeups rather than in memberlist;
// the in-memory transport keeps memberlist's own code (encryption,
// compression, probes, suspicion, push/pull) and drops a datagram when a
// node's receive queue is full, as a socket buffer does. It has no
// latency: times are memberlist's timers plus the CPU the process had.
//
// Raft's stores are in memory: bloomd's bbolt fsyncs are not modelled.
// bloomd's memberlist and Raft configurations are mirrored, not imported
// (membership's conversion is unexported; the daemon may not be
// imported here, layering_test.go): TestMirrorsBloomd checks the copies.
//
// It imports membership (the timings and NodeMeta), daemon/coord,
// daemon/jobspec, daemon/sched and api; never the daemon.
//
//	make sim                              (go run ./scripts/scalesim)
//	go run ./scripts/scalesim -n 200 -settle 5s -window 5s -raft-trials 3
//	go test ./scripts/scalesim            (32 members, 5+20 Raft servers; in make test)
package main
