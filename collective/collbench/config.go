package collbench

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"bloom/collective"
)

// Collectives are the operations the benchmark measures.
var Collectives = []string{"allreduce", "reducescatter", "allgather", "broadcast", "sendrecv"}

// Config is what every rank agrees on. Its fields are bloomctl bench
// allreduce's flags, and Validate's messages name them.
type Config struct {
	Ranks      int                 // processes to start, 2..64
	Transport  string              // quic or shm
	Sizes      []int               // message sizes in bytes
	DType      collective.DataType // element type
	Op         collective.ReduceOp // reduce op of allreduce and reducescatter
	Collective string              // one of Collectives
	Baselines  bool                // measure p2p and ring sendrecv first
	MinTime    time.Duration       // time to spend measuring each size in each round, at least
	Rounds     int                 // rounds per size; each section reports its median round
	Chunk      int                 // pipeline piece in bytes (0: collective's default)
	Streams    int                 // QUIC streams per hop (0: collective's default)
	SmallBytes int                 // collective.Config.SmallAllReduceBytes (-1: its default)
	Algo       string              // collective.Config.AllReduceAlgo ("": by transport and size)
}

// Validate says what is wrong with c's counts and names (not its sizes,
// type or op, which the caller parses).
func (c Config) Validate() error {
	if c.Rounds < 1 {
		return fmt.Errorf("--rounds %d: want at least 1", c.Rounds)
	}
	if c.Ranks < 2 || c.Ranks > 64 {
		return fmt.Errorf("--ranks %d: want 2..64", c.Ranks)
	}
	if c.Transport != "quic" && c.Transport != "shm" {
		return fmt.Errorf("--transport %q: want quic or shm", c.Transport)
	}
	if !slices.Contains([]string{"", collective.AlgoRing, collective.AlgoTree, collective.AlgoDoubling, collective.AlgoBoard}, c.Algo) {
		return fmt.Errorf("--algo %q: want ring, tree, doubling or board", c.Algo)
	}
	if !slices.Contains(Collectives, c.Collective) {
		return fmt.Errorf("--collective %q: want one of %s", c.Collective, strings.Join(Collectives, ", "))
	}
	return nil
}

// Row is one measured line, as nccl-tests prints it; rank 0 writes them,
// the launcher reads them back.
type Row struct {
	Peer       string  `json:"peer"`
	Transport  string  `json:"transport"`
	Collective string  `json:"collective"`
	Ranks      int     `json:"ranks"`
	Size       int     `json:"size"`
	Count      int     `json:"count"`
	Type       string  `json:"type"`
	Op         string  `json:"op"`
	TimeUS     float64 `json:"time_us"`
	AlgBW      float64 `json:"algbw"`
	BusBW      float64 `json:"busbw"`
	Wrong      int64   `json:"wrong"`
	// CPUUS is the CPU time (user and system) all ranks' processes spent
	// per operation: on a loaded machine a steadier measure of the work an
	// algorithm does than its time.
	CPUUS float64 `json:"cpu_us"`
}
