// Package collbench is the collective benchmark harness behind
// `bloomctl bench allreduce`: it starts N ranks on this machine, each a
// process of its own, measures a collective per message size after two
// baselines of the same transport (one hop point to point, and a ring of
// send/recv where every rank sends to its neighbour at once), and reports
// nccl-tests' columns per size.
//
// What it owns:
//   - the launcher (Run): the rank processes, a temporary directory with a
//     throwaway CA and one TLS identity every rank shares (quic), the shm
//     files of the run, and rank 0's rows, read back as JSON lines;
//   - one rank (RunWorker): join, then per size the sections back to back,
//     round after round, each reporting its median round;
//   - the values every rank sends, small integers every element type holds
//     exactly with closed-form reductions, and the check of each result
//     (#wrong).
//
// The process it starts per rank is the caller's: Run appends the rank's
// flags (--comm-id, --tls-dir, --rank and, but for rank 0, --root-info)
// to Launch.Args; that command parses them into a Worker and calls
// RunWorker with the same Config. bloomctl's hidden
// `bench allreduce-worker` is that command.
//
// It may import collective and nothing else of this project (never daemon);
// collective must not import it.
//
// Usage, in the launching process:
//
//	cfg := collbench.Config{Ranks: 2, Transport: "shm", Sizes: []int{1 << 20}, DType: collective.Float32,
//		Op: collective.Sum, Collective: "allreduce", Baselines: true, MinTime: time.Second, Rounds: 3, SmallBytes: -1}
//	err := collbench.Run(ctx, cfg, collbench.Launch{Exe: exe, Args: workerArgs}, func(r collbench.Row) error {
//		fmt.Println(r.Collective, r.Size, r.BusBW)
//		return nil
//	})
//
// and in each rank's process:
//
//	err := collbench.RunWorker(cfg, collbench.Worker{Rank: rank, RootInfo: info, CommID: id, TLSDir: dir}, os.Stdout)
package collbench
