package collbench

import (
	"context"
	"encoding/binary"
	"math"
	"syscall"
	"time"

	"bloom/collective"
)

// alignedBytes allocates n bytes aligned for every element type, touched
// so that page faults stay out of the measurement.
func alignedBytes(n int) []byte {
	b := make([]byte, n) // large allocations are page-aligned
	for i := range b {
		b[i] = 1
	}
	return b
}

// rank is one rank's communicator and buffers.
type rank struct {
	cfg        Config
	comm       *collective.Comm
	send, recv []byte
}

// op returns the operation one iteration runs, with its element count and
// the busbw factor.
func (b *rank) op(sec string, size int) (func(ctx context.Context) error, int, float64) {
	c, n, dt, esz := b.comm, b.comm.Size(), b.cfg.DType, b.cfg.DType.Size()
	r := c.Rank()
	count := size / esz
	per := size / esz / n
	switch sec {
	case "p2p":
		return func(ctx context.Context) error {
			switch r {
			case 0:
				return c.Send(ctx, b.send, count, dt, 1)
			case 1:
				return c.Recv(ctx, b.recv, count, dt, 0)
			}
			return nil
		}, count, 1
	case "sendrecv":
		return func(ctx context.Context) error {
			return c.SendRecv(ctx, b.send, (r+1)%n, b.recv, (r+n-1)%n, count, dt)
		}, count, 1
	case "reducescatter":
		return func(ctx context.Context) error {
			return c.ReduceScatter(ctx, b.send, b.recv, per, dt, b.cfg.Op)
		}, per * n, float64(n-1) / float64(n)
	case "allgather":
		return func(ctx context.Context) error {
			return c.AllGather(ctx, b.send, b.recv, per, dt)
		}, per * n, float64(n-1) / float64(n)
	case "broadcast":
		return func(ctx context.Context) error {
			if r == 0 {
				return c.Broadcast(ctx, b.send, count, dt, 0)
			}
			return c.Broadcast(ctx, b.recv, count, dt, 0)
		}, count, 1
	}
	return func(ctx context.Context) error {
		return c.AllReduce(ctx, b.send, b.recv, count, dt, b.cfg.Op)
	}, count, 2 * float64(n-1) / float64(n)
}

// measurement is one section at one size, one round: seconds per
// operation (the slowest rank's mean), CPU seconds per operation (all
// ranks), and the wrong elements of its result (all ranks).
type measurement struct {
	time, cpu float64
	wrong     int64
}

// cpuTime is this process's CPU time so far, user and system, every thread.
func cpuTime() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// measure runs one section at one size.
func (b *rank) measure(sec string, size int) (measurement, error) {
	ctx := context.Background()
	run, count, _ := b.op(sec, size)
	b.fill(sec, count)
	if err := run(ctx); err != nil { // warm-up, and the result to check
		return measurement{}, err
	}
	wrong := b.check(sec, count)
	start := time.Now()
	if err := run(ctx); err != nil {
		return measurement{}, err
	}
	// Rank 0 picks the iteration count from the second warm-up.
	iters := []float64{float64(max(1, min(1000, int(b.cfg.MinTime.Seconds()/max(time.Since(start).Seconds(), 1e-7)))))}
	ib := f64Bytes(iters)
	if err := b.comm.Broadcast(ctx, ib, 1, collective.Float64, 0); err != nil {
		return measurement{}, err
	}
	iters[0] = math.Float64frombits(binary.LittleEndian.Uint64(ib))
	if err := b.comm.Barrier(ctx); err != nil {
		return measurement{}, err
	}
	start, cpu0 := time.Now(), cpuTime()
	for range int(iters[0]) {
		if err := run(ctx); err != nil {
			return measurement{}, err
		}
	}
	stats := []float64{time.Since(start).Seconds() / iters[0], float64(wrong), (cpuTime() - cpu0) / iters[0]}
	if err := b.allReduceF64(ctx, stats[:1], collective.Max); err != nil {
		return measurement{}, err
	}
	if err := b.allReduceF64(ctx, stats[1:], collective.Sum); err != nil {
		return measurement{}, err
	}
	return measurement{time: stats[0], wrong: int64(stats[1]), cpu: stats[2]}, nil
}

// row makes the nccl-tests line for a time per operation.
func (b *rank) row(sec string, size int, sec1 float64, wrong int64) Row {
	_, count, factor := b.op(sec, size)
	bytes := float64(count * b.cfg.DType.Size())
	row := Row{Peer: "bloom", Transport: b.cfg.Transport, Collective: sec, Ranks: b.comm.Size(), Size: size,
		Count: count, Type: b.cfg.DType.String(), Op: b.cfg.Op.String(), TimeUS: sec1 * 1e6, Wrong: wrong}
	if sec == "p2p" || sec == "sendrecv" || sec == "allgather" || sec == "broadcast" {
		row.Op = "none"
	}
	if sec1 > 0 {
		row.AlgBW = bytes / sec1 / 1e9
		row.BusBW = row.AlgBW * factor
	}
	return row
}

func (b *rank) allReduceF64(ctx context.Context, v []float64, op collective.ReduceOp) error {
	buf := f64Bytes(v)
	if err := b.comm.AllReduce(ctx, buf, buf, len(v), collective.Float64, op); err != nil {
		return err
	}
	for i := range v {
		v[i] = math.Float64frombits(binary.LittleEndian.Uint64(buf[8*i:]))
	}
	return nil
}

// fill writes this rank's inputs and poisons the output.
func (b *rank) fill(sec string, count int) {
	dt, r, op := b.cfg.DType, b.comm.Rank(), b.cfg.Op
	if sec != "allreduce" && sec != "reducescatter" {
		op = collective.Sum
	}
	for i := range count {
		setValue(dt, b.send, i, value(op, r, i))
	}
	clear(b.recv)
}

// check counts the wrong elements of the last result on this rank.
func (b *rank) check(sec string, count int) int {
	dt, r, n, op := b.cfg.DType, b.comm.Rank(), b.comm.Size(), b.cfg.Op
	per := count / n
	var want func(i int) float64
	m := count
	switch sec {
	case "allreduce":
		want = func(i int) float64 { return expected(op, n, i) }
	case "reducescatter":
		m, want = per, func(j int) float64 { return expected(op, n, r*per+j) }
	case "allgather":
		want = func(k int) float64 { return value(collective.Sum, k/per, k%per) }
	case "broadcast", "p2p":
		if r == 0 || sec == "p2p" && r != 1 {
			return 0
		}
		want = func(i int) float64 { return value(collective.Sum, 0, i) }
	case "sendrecv":
		want = func(i int) float64 { return value(collective.Sum, (r+n-1)%n, i) }
	}
	wrong := 0
	for i := range m {
		if getValue(dt, b.recv, i) != want(i) {
			wrong++
		}
	}
	return wrong
}
