package collective

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"bloom/internal/testutil"
)

// One conformance suite, run against every transport (STYLE.md 8).
// shm-unfused is shm on the two-goroutine engine (shm normally takes the
// fused one, shm_fused.go).
var transports = []string{"mem", "shm", "shm-unfused", "quic"}

func TestConformance(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			t.Run("links", func(t *testing.T) { testLinks(t, tr) })
			t.Run("mismatch", func(t *testing.T) { testMismatch(t, tr) })
			t.Run("collectives", func(t *testing.T) { testCollectives(t, tr) })
			t.Run("abort", func(t *testing.T) { testAbort(t, tr) })
			t.Run("abort-idle-ranks", func(t *testing.T) { testAbortIdle(t, tr) })
			t.Run("deadline", func(t *testing.T) { testDeadline(t, tr) })
			t.Run("peer-lost", func(t *testing.T) { testPeerLost(t, tr) })
			t.Run("closed", func(t *testing.T) { testClosed(t, tr) })
		})
	}
}

func pattern(seed, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(seed*31 + i*7 + i>>8)
	}
	return b
}

// testLinks: ordered, reliable, full duplex, messages smaller and larger
// than every buffer (the shm ring is 4 KiB here).
func testLinks(t *testing.T, tr string) {
	testutil.CheckLeaks(t, 10*time.Second)
	comms := cluster(t, testConfig(t, tr), 2)
	sizes := []int{1, 7, 8, 63, 64, 65, 4095, 4096, 4097, 12345, 100000}
	allOK(t, "links", each(comms, func(c *Comm) error {
		l, err := c.tr.link(1 - c.Rank())
		if err != nil {
			return err
		}
		ctx := context.Background()
		errc := make(chan error, 1)
		go func() {
			for i, n := range sizes {
				if err := l.send(ctx, pattern(c.Rank()*100+i, n)); err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
		for i, n := range sizes {
			got := make([]byte, n)
			if err := l.recv(ctx, got); err != nil {
				return err
			}
			if !bytes.Equal(got, pattern((1-c.Rank())*100+i, n)) {
				return fmt.Errorf("message %d (%d bytes) corrupted", i, n)
			}
		}
		return <-errc
	}))
}

func testMismatch(t *testing.T, tr string) {
	testutil.CheckLeaks(t, 10*time.Second)
	comms := cluster(t, testConfig(t, tr), 2)
	errs := each(comms, func(c *Comm) error {
		buf := make([]byte, 400)
		if c.Rank() == 0 {
			return c.Send(context.Background(), buf, 100, Float32, 1)
		}
		return c.Recv(context.Background(), buf, 99, Float32, 0)
	})
	if !errors.Is(errs[1], ErrMismatch) {
		t.Fatalf("recv of 99 floats from a send of 100: %v, want ErrMismatch", errs[1])
	}
}

func testCollectives(t *testing.T, tr string) {
	testutil.CheckLeaks(t, 10*time.Second)
	ns := []int{2, 3, 5}
	counts := []int{0, 1, 13, 1000, 100003}
	if testing.Short() {
		ns, counts = []int{3}, []int{0, 1, 1000}
	}
	cfg := testConfig(t, tr)
	if tr == "quic" { // a QUIC message costs ~10 µs of CPU: fewer, larger pieces
		cfg.ChunkBytes = 8192
	}
	for _, n := range ns {
		comms := cluster(t, cfg, n)
		for _, count := range counts {
			checkAll(t, comms, Float32, Sum, count)
		}
		checkAllReduce(t, comms, Float16, Sum, 1001)
		checkAllReduce(t, comms, Int8, Max, 77)
	}
}

// within fails unless every error arrives within d, each matching target.
func within(t *testing.T, what string, d time.Duration, target error, run func() []error) {
	t.Helper()
	start := time.Now()
	errs := run()
	if el := time.Since(start); el > d {
		t.Errorf("%s took %v, want < %v", what, el, d)
	}
	for r, err := range errs {
		if !errors.Is(err, target) {
			t.Errorf("%s: rank %d: %v, want %v", what, r, err, target)
		}
	}
}

// blockedRanks runs a large AllReduce on ranks 1..n-1 (rank 0 stays out, so
// they block), calls act once they are blocked, and returns their errors.
func blockedRanks(t *testing.T, comms []*Comm, act func()) []error {
	t.Helper()
	ops := comms[1:]
	var wg sync.WaitGroup
	errs := make([]error, len(ops))
	entered := make(chan struct{}, len(ops))
	for i, c := range ops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]float32, 1<<16)
			entered <- struct{}{}
			errs[i] = c.AllReduceF32(context.Background(), buf, buf, Sum)
		}()
	}
	for range ops {
		<-entered
	}
	act()
	wg.Wait()
	return errs
}

func testAbort(t *testing.T, tr string) {
	testutil.CheckLeaks(t, 10*time.Second)
	comms := cluster(t, testConfig(t, tr), 4)
	checkAllReduce(t, comms, Float32, Sum, 100)
	within(t, "abort", time.Second, ErrAborted, func() []error {
		return blockedRanks(t, comms, func() { go comms[0].Abort() })
	})
	for r, c := range comms { // later operations fail at once
		if err := c.Barrier(context.Background()); !errors.Is(err, ErrAborted) {
			t.Errorf("rank %d: barrier after abort: %v", r, err)
		}
	}
}

// testAbortIdle: a rank aborts while the ranks between it and the blocked
// ones are idle: the abort must still reach the blocked ones.
func testAbortIdle(t *testing.T, tr string) {
	testutil.CheckLeaks(t, 10*time.Second)
	comms := cluster(t, testConfig(t, tr), 6)
	checkAllReduce(t, comms, Float32, Sum, 100)
	var errs [2]error
	var wg sync.WaitGroup
	for i, r := range []int{3, 4} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = comms[r].Barrier(context.Background())
		}()
	}
	start := time.Now()
	comms[0].Abort()
	wg.Wait()
	if el := time.Since(start); el > time.Second {
		t.Errorf("abort took %v", el)
	}
	for i, err := range errs {
		if !errors.Is(err, ErrAborted) {
			t.Errorf("rank %d: %v, want ErrAborted", 3+i, err)
		}
	}
}

func testDeadline(t *testing.T, tr string) {
	testutil.CheckLeaks(t, 10*time.Second)
	cfg := testConfig(t, tr)
	cfg.OpTimeout = 300 * time.Millisecond
	comms := cluster(t, cfg, 3)
	errs := blockedRanks(t, comms, func() {})
	for r, err := range errs {
		if !errors.Is(err, ErrTimeout) && !errors.Is(err, ErrAborted) {
			t.Errorf("rank %d: %v, want ErrTimeout (or ErrAborted from the rank that timed out first)", r+1, err)
		}
	}
	if !errors.Is(errs[0], ErrTimeout) && !errors.Is(errs[1], ErrTimeout) {
		t.Errorf("no rank timed out: %v", errs)
	}
	// A caller's context deadline works the same way.
	comms = cluster(t, testConfig(t, tr), 2)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := comms[1].Recv(ctx, make([]byte, 4), 1, Float32, 0)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrTimeout) {
		t.Errorf("recv past the caller's deadline: %v", err)
	}
}

// testPeerLost: rank 2 dies while 0, 1 and 3 are in an AllReduce.
func testPeerLost(t *testing.T, tr string) {
	testutil.CheckLeaks(t, 10*time.Second)
	cfg := testConfig(t, tr)
	comms := cluster(t, cfg, 4)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	entered := make(chan struct{}, 3)
	for _, r := range []int{0, 1, 3} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]float32, 1<<16)
			entered <- struct{}{}
			errs[r] = comms[r].AllReduceF32(context.Background(), buf, buf, Sum)
		}()
	}
	for range 3 {
		<-entered
	}
	start := time.Now()
	kill(t, cfg, comms[2])
	wg.Wait()
	limit := time.Second
	if tr == "quic" { // a silent peer is noticed after PeerTimeout
		limit = cfg.PeerTimeout + 2*time.Second
	}
	if el := time.Since(start); el > limit {
		t.Errorf("peer loss noticed after %v, want < %v", el, limit)
	}
	for _, r := range []int{0, 1, 3} {
		if !errors.Is(errs[r], ErrPeerLost) && !errors.Is(errs[r], ErrAborted) {
			t.Errorf("rank %d: %v, want ErrPeerLost or ErrAborted", r, errs[r])
		}
	}
}

// kill makes a rank vanish as a crashed process would: no goodbye.
func kill(t *testing.T, cfg Config, c *Comm) {
	switch tr := c.tr.(type) {
	case *memTransport:
		cfg.Mem.Kill(c.rank)
	case *shmTransport:
		tr.close() // marks the slot left; a dead process is found by pid
	case *quicEndpoint:
		tr.crash()
	default:
		t.Fatalf("cannot kill %T", tr)
	}
}

func testClosed(t *testing.T, tr string) {
	testutil.CheckLeaks(t, 10*time.Second)
	comms := cluster(t, testConfig(t, tr), 2)
	comms[0].Close()
	err := comms[0].AllReduceF32(context.Background(), []float32{1}, []float32{1}, Sum)
	if !errors.Is(err, ErrClosed) {
		t.Errorf("allreduce after close: %v", err)
	}
	err = comms[1].Recv(context.Background(), make([]byte, 4), 1, Float32, 0)
	if !errors.Is(err, ErrPeerLost) && !errors.Is(err, ErrAborted) {
		t.Errorf("recv from a closed peer: %v", err)
	}
}
