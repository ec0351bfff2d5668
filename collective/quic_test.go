package collective

import (
	"testing"
	"time"

	"bloom/internal/testutil"
)

// TestQuicRingTinyMessages: the ring over quic with messages smaller than a
// packet, which quic-go's Write copies on the caller's goroutine, half the
// ranks in place. Under -race this is the test that fails without
// quic_race.go: a rank's send of a chunk is ordered before its receive of
// the chunk's final value only through the peers and UDP.
func TestQuicRingTinyMessages(t *testing.T) {
	testutil.CheckLeaks(t, 10*time.Second)
	cfg := testConfig(t, "quic")
	cfg.SmallAllReduceBytes = 0
	comms := cluster(t, cfg, 3)
	for _, count := range []int{1, 13, 1000, 100003} {
		checkAllReduce(t, comms, Float32, Sum, count)
	}
}
