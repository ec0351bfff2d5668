package collbench

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"time"

	"bloom/collective"
)

// Worker is one rank's part of a run: the flags Run appends for it.
type Worker struct {
	Rank     int
	RootInfo string // hex root info of rank 0 (quic; empty on rank 0)
	CommID   string // 32 hex digits: the shm files' name
	TLSDir   string // the shared identity (quic)
}

// RunWorker is one rank: join, then measure every section and size; rank
// 0 writes a "rootinfo" line, then the rows as JSON lines, to out.
func RunWorker(cfg Config, w Worker, out io.Writer) error {
	comm, err := join(cfg, w, out)
	if err != nil {
		return err
	}
	defer comm.Close()
	maxSize := 0
	for _, s := range cfg.Sizes {
		maxSize = max(maxSize, s)
	}
	b := &rank{cfg: cfg, comm: comm, send: alignedBytes(maxSize), recv: alignedBytes(maxSize)}
	sections := []string{cfg.Collective}
	if cfg.Baselines && cfg.Collective != "sendrecv" {
		sections = []string{"p2p", "sendrecv", cfg.Collective}
	} else if cfg.Baselines {
		sections = []string{"p2p", "sendrecv"}
	}
	// Per size, the sections run back to back, round after round, and each
	// reports its median round: the machine's load drifts within seconds,
	// and a ratio between sections must compare like with like.
	rows := map[string][]Row{}
	for _, size := range cfg.Sizes {
		times, cpus := map[string][]float64{}, map[string][]float64{}
		wrong := map[string]int64{}
		for range cfg.Rounds {
			for _, sec := range sections {
				m, err := b.measure(sec, size)
				if err != nil {
					return fmt.Errorf("rank %d: %s %d bytes: %w", w.Rank, sec, size, err)
				}
				times[sec] = append(times[sec], m.time)
				cpus[sec] = append(cpus[sec], m.cpu)
				wrong[sec] += m.wrong
			}
		}
		for _, sec := range sections {
			row := b.row(sec, size, median(times[sec]), wrong[sec])
			row.CPUUS = median(cpus[sec]) * 1e6
			rows[sec] = append(rows[sec], row)
		}
	}
	if w.Rank != 0 {
		return nil
	}
	for _, sec := range sections {
		for _, row := range rows[sec] {
			line, err := json.Marshal(row)
			if err != nil {
				return err
			}
			if _, err := fmt.Fprintf(out, "%s\n", line); err != nil {
				return err
			}
		}
	}
	return nil
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	slices.Sort(s)
	return s[len(s)/2]
}

// join makes this rank's communicator; rank 0 writes the root info to out.
func join(spec Config, w Worker, out io.Writer) (*collective.Comm, error) {
	cfg := collective.DefaultConfig()
	cfg.Transport = spec.Transport
	cfg.OpTimeout = 5 * time.Minute
	cfg.ConnectTimeout = time.Minute
	if spec.Chunk > 0 {
		cfg.ChunkBytes = spec.Chunk
	}
	if spec.Streams > 0 {
		cfg.StreamsPerHop = spec.Streams
	}
	if spec.SmallBytes >= 0 {
		cfg.SmallAllReduceBytes = spec.SmallBytes
	}
	cfg.AllReduceAlgo = spec.Algo
	ctx := context.Background()
	if spec.Transport == "shm" {
		idb, err := hex.DecodeString(w.CommID)
		if err != nil || len(idb) != 16 {
			return nil, fmt.Errorf("--comm-id: want 32 hex digits")
		}
		if w.Rank == 0 {
			fmt.Fprintln(out, "rootinfo -")
		}
		return collective.JoinLocal(ctx, cfg, [16]byte(idb), w.Rank, spec.Ranks)
	}
	var err error
	if cfg.TLS, err = readTLS(w.TLSDir); err != nil {
		return nil, err
	}
	ep, err := collective.Listen(cfg)
	if err != nil {
		return nil, err
	}
	info := w.RootInfo
	if w.Rank == 0 {
		info = hex.EncodeToString(ep.RootInfo())
		fmt.Fprintln(out, "rootinfo "+info)
	}
	raw, err := hex.DecodeString(info)
	if err != nil {
		ep.Close()
		return nil, fmt.Errorf("--root-info: %w", err)
	}
	return ep.Join(ctx, raw, w.Rank, spec.Ranks)
}
