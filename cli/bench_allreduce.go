package cli

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"

	"bloom/collective"
	"bloom/collective/collbench"
)

// bloomctl bench allreduce: N ranks on this machine, each a bloomctl
// process (the hidden "allreduce-worker" subcommand), print nccl-tests'
// columns per size after two baselines of the same transport: one hop
// point to point, and a ring of send/recv (every rank sends to its
// neighbour at once). The harness is collective/collbench; this file only
// turns flags into its Config and prints its rows.

// benchAllreduceFlags are bench allreduce's flags; the workers get the
// ones given passed on (workerArgs).
func benchAllreduceFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.IntFlag{Name: "ranks", Value: 2, Usage: "ranks (processes) to start"},
		&ucli.StringFlag{Name: "transport", Value: "shm", Usage: "quic or shm"},
		&ucli.StringFlag{Name: "sizes", Value: "1K,64K,1M,16M,64M", Usage: "message sizes in bytes (K, M, G suffixes: powers of 1024)"},
		&ucli.StringFlag{Name: "dtype", Value: "fp32", Usage: "element type (fp32, fp16, bf16, int32, ...)"},
		&ucli.StringFlag{Name: "op", Value: "sum", Usage: "reduce op: sum, prod, max, min"},
		&ucli.StringFlag{Name: "collective", Value: "allreduce", Usage: strings.Join(collbench.Collectives, ", ")},
		&ucli.BoolFlag{Name: "no-baselines", Usage: "skip the point-to-point and ring send/recv baselines"},
		&ucli.IntFlag{Name: "procs", Usage: "GOMAXPROCS of each rank (0: Go's default)"},
		&ucli.IntFlag{Name: "chunk", Value: 0, Usage: "pipeline piece in bytes (0: the default)"},
		&ucli.IntFlag{Name: "streams", Value: 0, Usage: "QUIC streams per hop (0: the default)"},
		&ucli.IntFlag{Name: "small-bytes", Value: -1, Usage: "allreduce: largest message that skips the ring for the exchange (2 ranks) or the tree (0: always the ring; -1: the default)"},
		&ucli.StringFlag{Name: "algo", Usage: "allreduce: force ring, tree, doubling (quic) or board (shm) (default: by transport and size)"},
		&ucli.Float64Flag{Name: "min-time", Value: 0.2, Usage: "seconds to spend measuring each size in each round, at least"},
		&ucli.IntFlag{Name: "rounds", Value: 3, Usage: "rounds per size (the sections alternate; each reports its median round)"},
		&ucli.StringFlag{Name: "cpuprofile", Usage: "write each rank's CPU profile to this path plus .RANK"},
	}
}

func benchAllreduceCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "allreduce",
		Usage: "collective bandwidth as nccl-tests prints it, N ranks on this machine",
		UsageText: "bloomctl bench allreduce --ranks N --transport quic|shm --sizes 1K,64K,1M,16M,64M [--dtype fp32] [--op sum]\n" +
			"   [--collective allreduce|reducescatter|allgather|broadcast|sendrecv] [--output json]",
		Description: `Starts N ranks as separate processes and prints per size: size (B), count
(elements), type, op, time (us), algbw and busbw (GB/s), #wrong, as nccl-tests
does. busbw = algbw·2(n-1)/n for allreduce, ·(n-1)/n for reducescatter and
allgather, ·1 for broadcast and sendrecv. Two baselines of the same transport
come first: one hop point to point (rank 0 to rank 1) and a ring send/recv.`,
		Flags: benchAllreduceFlags(),
		Action: func(c *ucli.Context) error {
			cfg, err := benchConfigFrom(c)
			if err != nil {
				return err
			}
			return runBenchCollective(c, cfg)
		},
	}
}

// benchAllreduceWorkerCommand is one rank of the benchmark (hidden).
func benchAllreduceWorkerCommand() *ucli.Command {
	return &ucli.Command{
		Name:   "allreduce-worker",
		Hidden: true,
		Flags: append(benchAllreduceFlags(),
			&ucli.IntFlag{Name: "rank"}, &ucli.StringFlag{Name: "root-info"}, &ucli.StringFlag{Name: "comm-id"},
			&ucli.StringFlag{Name: "tls-dir"}),
		Action: func(c *ucli.Context) error {
			cfg, err := benchConfigFrom(c)
			if err != nil {
				return err
			}
			if p := c.Int("procs"); p > 0 {
				runtime.GOMAXPROCS(p)
			}
			if path := c.String("cpuprofile"); path != "" {
				stop, err := startCPUProfile(fmt.Sprintf("%s.%d", path, c.Int("rank")))
				if err != nil {
					return err
				}
				defer stop()
			}
			w := collbench.Worker{Rank: c.Int("rank"), RootInfo: c.String("root-info"), CommID: c.String("comm-id"),
				TLSDir: c.String("tls-dir")}
			return collbench.RunWorker(cfg, w, c.App.Writer)
		},
	}
}

// benchConfigFrom reads the flags every rank agrees on.
func benchConfigFrom(c *ucli.Context) (collbench.Config, error) {
	cfg := collbench.Config{Ranks: c.Int("ranks"), Transport: c.String("transport"), Collective: c.String("collective"),
		Baselines: !c.Bool("no-baselines"), MinTime: time.Duration(c.Float64("min-time") * float64(time.Second)),
		Chunk: c.Int("chunk"), Streams: c.Int("streams"), Rounds: c.Int("rounds"), SmallBytes: c.Int("small-bytes"), Algo: c.String("algo")}
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	var err error
	if cfg.Sizes, err = parseSizes(c.String("sizes")); err != nil {
		return cfg, err
	}
	if cfg.DType, err = collective.ParseDataType(c.String("dtype")); err != nil {
		return cfg, err
	}
	if cfg.Op, err = collective.ParseReduceOp(c.String("op")); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// parseSizes reads "1K,64K,1M" (powers of 1024).
func parseSizes(s string) ([]int, error) {
	var sizes []int
	for _, f := range strings.Split(s, ",") {
		if strings.TrimSpace(f) == "" {
			continue
		}
		v, err := parseByteSize(f, 4<<30)
		if err != nil {
			return nil, fmt.Errorf("--sizes: %w (want e.g. 1K,64K,1M,16M,64M)", err)
		}
		sizes = append(sizes, int(v))
	}
	if len(sizes) == 0 {
		return nil, fmt.Errorf("--sizes: no sizes given (want e.g. 1K,64K,1M)")
	}
	return sizes, nil
}

// parseByteSize reads a size of at most max bytes: a number with an
// optional K, M or G (powers of 1024; KB, KiB and the like read alike).
func parseByteSize(s string, max int64) (int64, error) {
	f := strings.ToUpper(strings.TrimSpace(s))
	mult := int64(1)
	for suffix, m := range map[string]int64{"K": 1 << 10, "M": 1 << 20, "G": 1 << 30} {
		if strings.HasSuffix(f, suffix) || strings.HasSuffix(f, suffix+"B") || strings.HasSuffix(f, suffix+"IB") {
			f = strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(f, "IB"), "B"), suffix)
			mult = m
		}
	}
	f = strings.TrimSuffix(f, "B")
	v, err := strconv.ParseInt(f, 10, 64)
	if err != nil || v < 0 || v > max/mult {
		return 0, fmt.Errorf("%q is not a size of at most %d bytes", strings.TrimSpace(s), max)
	}
	return v * mult, nil
}

// runBenchCollective starts the ranks and prints rank 0's rows.
func runBenchCollective(c *ucli.Context, cfg collbench.Config) error {
	asJSON, err := outputJSON(c)
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	launch := collbench.Launch{Exe: exe, Args: append([]string{"bench", "allreduce-worker"}, workerArgs(c)...)}
	section := ""
	return collbench.Run(c.Context, cfg, launch, func(row collbench.Row) error {
		if asJSON {
			return writeJSON(c.App.Writer, row)
		}
		if row.Collective != section {
			section = row.Collective
			printBenchHeader(c.App.Writer, row)
		}
		fmt.Fprintf(c.App.Writer, "%12d %12d %8s %6s %10.1f %7.2f %7.2f %6d %10.1f\n",
			row.Size, row.Count, row.Type, row.Op, row.TimeUS, row.AlgBW, row.BusBW, row.Wrong, row.CPUUS)
		return nil
	})
}

// printBenchHeader prints nccl-tests' column headings for the rows of
// row's collective and transport.
func printBenchHeader(w io.Writer, row collbench.Row) {
	fmt.Fprintf(w, "# %s, %s, %d ranks\n", row.Collective, row.Transport, row.Ranks)
	fmt.Fprintf(w, "#%11s %12s %8s %6s %10s %7s %7s %6s %10s\n", "size", "count", "type", "redop", "time", "algbw", "busbw", "#wrong", "cpu")
	fmt.Fprintf(w, "#%11s %12s %8s %6s %10s %7s %7s %6s %10s\n", "(B)", "(elements)", "", "", "(us)", "(GB/s)", "(GB/s)", "", "(us)")
}

// workerArgs passes the benchmark's flags on to the workers.
func workerArgs(c *ucli.Context) []string {
	var args []string
	for _, f := range benchAllreduceFlags() {
		name := f.Names()[0]
		if c.IsSet(name) {
			if _, isBool := f.(*ucli.BoolFlag); isBool {
				args = append(args, "--"+name)
				continue
			}
			args = append(args, "--"+name, fmt.Sprint(c.Value(name)))
		}
	}
	return args
}

// startCPUProfile writes a CPU profile to path until stop is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
