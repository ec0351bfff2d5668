package collective

import (
	"context"
	"errors"
	"testing"
	"time"

	"bloom/internal/testutil"
)

// TestHybrid: shm between ranks of one host, quic between hosts, and the
// two-level allreduce over both; an abort crosses both transports.
func TestHybrid(t *testing.T) {
	testutil.CheckLeaks(t, 10*time.Second)
	// a,a,a,b,b,b: rank 1's ring neighbours share its node while rank 0's
	// do not, so the engines must agree per group, not per rank.
	// a,a,a: one node alone, so the board.
	for _, hosts := range [][]string{{"a", "a", "b", "b"}, {"a", "b", "c"}, {"a", "a", "a", "b", "b", "b"}, {"a", "a", "a"}} {
		cfg := testConfig(t, "hybrid")
		cfg.ChunkBytes, cfg.ShmRingBytes = 4096, 1<<16 // rings of two pieces and more: the fused engine runs
		comms := cluster(t, cfg, len(hosts), hosts...)
		if want := len(hosts) != 3; comms[0].Hierarchical() != want {
			t.Fatalf("hosts %v: hierarchical %v", hosts, comms[0].Hierarchical())
		}
		if _, ok := comms[0].tr.(*hybrid); !ok {
			t.Fatalf("transport %T", comms[0].tr)
		}
		if board := comms[0].algorithm(comms[0].flat, 4<<20) == AlgoBoard; board != (hosts[len(hosts)-1] == "a") {
			t.Fatalf("hosts %v: board %v", hosts, board)
		}
		for _, count := range []int{0, 1, 1000, 30011, 100003} {
			checkAll(t, comms, Float32, Sum, count)
		}
		checkAllReduce(t, comms, BFloat16, Sum, 999)
		within(t, "abort", time.Second, ErrAborted, func() []error {
			return blockedRanks(t, comms, func() { comms[0].Abort() })
		})
		if err := comms[0].Barrier(context.Background()); !errors.Is(err, ErrAborted) {
			t.Errorf("barrier after abort: %v", err)
		}
	}
}
