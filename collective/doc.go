// Package collective is the data plane: an HCCL-style communicator that
// moves tensors between the ranks of a job — AllReduce, ReduceScatter,
// AllGather, Broadcast, Reduce, Send/Recv, SendRecv and Barrier — over QUIC
// between nodes and shared memory inside one.
//
// Semantics follow HCCL: counts are in elements; every rank passes the same
// count, type and op, in the same order; data types and reduce ops carry
// HCCL's numbers (Int8=0 … Float64=10, BFloat16=11; Sum=0, Prod=1, Max=2,
// Min=3). Buffers are []byte aligned to their element size, with []float32
// helpers (AllReduceF32 …) for the trainer's flat gradient buffer. No
// operation keeps a slice after it returns.
//
// What it owns:
//   - the ring algorithms: reduce-scatter then all-gather, each chunk cut
//     into pieces that are pipelined hop to hop; two levels (inside each
//     node, then across nodes) when ranks share nodes. Each element's
//     reduction order is fixed by the schedule, and every rank copies the one
//     final value, so results are bit-identical on every rank, run after
//     run. Float16 and bfloat16 are reduced in float32 and rounded once.
//     Small allreduces (Config.SmallAllReduceBytes) between nodes skip the
//     ring's 2(n-1) hops and 2n(n-1) messages: one exchange with two ranks,
//     else a k-nomial tree (reduce to one rank, broadcast back, pipelined in
//     pieces: 2(n-1) messages); there too every rank combines the same
//     values in the same order. Three or more ranks on one node alone
//     (shm, or hybrid with a single node) allreduce through the board, a
//     shared file each rank stages its input in, reduces its share of over
//     all slots in rank order and copies the result out of: two barriers
//     per block where the ring makes 2(n-1) hand-offs, each a trip through
//     the scheduler when ranks outnumber cores. Config.AllReduceAlgo forces
//     one.
//   - failure handling: every operation has a deadline (Config.OpTimeout,
//     like HCCL_EXEC_TIMEOUT, and the caller's context); Abort, a deadline or
//     a lost peer aborts the communicator on every rank within a second, with
//     errors matching ErrAborted, ErrTimeout or ErrPeerLost.
//   - the transports, behind one small interface and one conformance suite:
//     quic (quic-go, mutual TLS with the caller's identities, a connection
//     per directed link with several streams, windows from Config), shm
//     (mmapped ring buffers in /dev/shm, atomic head/tail, spin-yield-sleep
//     waits, dead processes found by pid; a fused engine reduces straight
//     from one ring into the next, as NCCL's recvReduceSend), hybrid (shm
//     inside a node, quic across) and mem (in-process, with fault
//     injection: drop, delay, kill).
//
// Files: types.go, half.go, reduce*.go (element types and kernels);
// comm.go, ops.go, typed.go (the communicator); algo.go (which algorithm;
// the exchange and the tree), ring.go, shm_fused.go, shm_board.go (the
// engines); join.go, ranktable.go (bootstrap); transport.go, mem.go,
// shm.go, quic*.go, hybrid.go (transports; race.go makes the race
// detector see the order UDP and shared memory give).
//   - bootstrap: a root-info blob made by one rank and handed to the others
//     by the caller (HcclGetRootInfo / HcclCommInitRootInfo), or an HCCL
//     version 1.0 (or 1.2) rank table (HcclCommInitClusterInfo).
//
// It must not import anything of this project (DESIGN.md §3): the trainer
// reaches it through an interface the daemon satisfies.
//
// Usage, one process per rank:
//
//	cfg := collective.DefaultConfig()
//	cfg.TLS = identity // this rank's certificate and the cluster CA
//	ep, err := collective.Listen(cfg)
//	info := ep.RootInfo()                        // on one rank; carry it to the others
//	comm, err := ep.Join(ctx, info, rank, size) // on every rank
//	defer comm.Close()
//	err = comm.AllReduceF32(ctx, grads, grads, collective.Sum)
//
// Or from a rank table: collective.JoinRankTable(ctx, cfg, path, rank).
package collective
