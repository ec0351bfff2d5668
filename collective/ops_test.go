package collective

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"testing"
	"time"

	"bloom/internal/half"
	"bloom/internal/testutil"
)

// Closed-form checks: rank r's element i is a small integer that every type
// holds exactly, and the expected result has a formula (sum, product of 1s
// and 2s, max and min of a known pattern), so results compare with ==.

var allTypes = []DataType{Int8, Int16, Int32, Float16, Float32, Int64, Uint64, Uint8, Uint16, Uint32, Float64, BFloat16}
var allOps = []ReduceOp{Sum, Prod, Max, Min}

func value(op ReduceOp, r, i int) float64 {
	switch op {
	case Sum:
		return float64(r+1) + float64(i%7)
	case Prod:
		if (r+i)%3 == 0 {
			return 2
		}
		return 1
	}
	return float64((r*5 + i) % 11)
}

// expected is the reduction over n ranks of value(op, r, i), in closed form
// for sum and prod.
func expected(op ReduceOp, n, i int) float64 {
	switch op {
	case Sum:
		return float64(n*(n+1)/2) + float64(n*(i%7))
	case Prod:
		k := 0 // ranks r < n with (r+i) % 3 == 0: r ≡ -i (mod 3)
		for r := mod(-i, 3); r < n; r += 3 {
			k++
		}
		return math.Ldexp(1, k)
	}
	best := value(op, 0, i)
	for r := 1; r < n; r++ {
		if v := value(op, r, i); op == Max && v > best || op == Min && v < best {
			best = v
		}
	}
	return best
}

func encode(dt DataType, vals []float64) []byte {
	b := make([]byte, len(vals)*dt.Size())
	for i, v := range vals {
		o := b[i*dt.Size():]
		switch dt {
		case Int8, Uint8:
			o[0] = byte(int64(v))
		case Int16, Uint16:
			binary.LittleEndian.PutUint16(o, uint16(int64(v)))
		case Int32, Uint32:
			binary.LittleEndian.PutUint32(o, uint32(int64(v)))
		case Int64, Uint64:
			binary.LittleEndian.PutUint64(o, uint64(int64(v)))
		case Float16:
			binary.LittleEndian.PutUint16(o, half.F32ToF16(float32(v)))
		case BFloat16:
			binary.LittleEndian.PutUint16(o, half.F32ToBF16(float32(v)))
		case Float32:
			binary.LittleEndian.PutUint32(o, math.Float32bits(float32(v)))
		case Float64:
			binary.LittleEndian.PutUint64(o, math.Float64bits(v))
		}
	}
	return b
}

func decode(dt DataType, b []byte) []float64 {
	vals := make([]float64, len(b)/dt.Size())
	for i := range vals {
		o := b[i*dt.Size():]
		switch dt {
		case Int8:
			vals[i] = float64(int8(o[0]))
		case Uint8:
			vals[i] = float64(o[0])
		case Int16:
			vals[i] = float64(int16(binary.LittleEndian.Uint16(o)))
		case Uint16:
			vals[i] = float64(binary.LittleEndian.Uint16(o))
		case Int32:
			vals[i] = float64(int32(binary.LittleEndian.Uint32(o)))
		case Uint32:
			vals[i] = float64(binary.LittleEndian.Uint32(o))
		case Int64:
			vals[i] = float64(int64(binary.LittleEndian.Uint64(o)))
		case Uint64:
			vals[i] = float64(binary.LittleEndian.Uint64(o))
		case Float16:
			vals[i] = float64(half.F16ToF32(binary.LittleEndian.Uint16(o)))
		case BFloat16:
			vals[i] = float64(half.BF16ToF32(binary.LittleEndian.Uint16(o)))
		case Float32:
			vals[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(o)))
		case Float64:
			vals[i] = math.Float64frombits(binary.LittleEndian.Uint64(o))
		}
	}
	return vals
}

func inputs(dt DataType, op ReduceOp, r, count int) []byte {
	v := make([]float64, count)
	for i := range v {
		v[i] = value(op, r, i)
	}
	return encode(dt, v)
}

func garbage(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 0x5a
	}
	return b
}

func compare(t testing.TB, what string, got []float64, want func(i int) float64) {
	t.Helper()
	for i, g := range got {
		if w := want(i); g != w {
			t.Fatalf("%s: element %d = %v, want %v", what, i, g, w)
		}
	}
}

// checkAllReduce runs AllReduce on every rank and checks the closed form.
func checkAllReduce(t testing.TB, comms []*Comm, dt DataType, op ReduceOp, count int) {
	t.Helper()
	n := len(comms)
	outs := make([][]byte, n)
	allOK(t, "allreduce", each(comms, func(c *Comm) error {
		in := inputs(dt, op, c.Rank(), count)
		outs[c.Rank()] = garbage(len(in))
		if c.Rank()%2 == 1 { // odd ranks run in place
			outs[c.Rank()] = in
		}
		return c.AllReduce(context.Background(), in, outs[c.Rank()], count, dt, op)
	}))
	for r := range comms {
		compare(t, fmt.Sprintf("allreduce %s %s n=%d count=%d rank %d", dt, op, n, count, r),
			decode(dt, outs[r]), func(i int) float64 { return expected(op, n, i) })
	}
}

func checkReduceScatter(t testing.TB, comms []*Comm, dt DataType, op ReduceOp, count int) {
	t.Helper()
	n := len(comms)
	outs := make([][]byte, n)
	allOK(t, "reducescatter", each(comms, func(c *Comm) error {
		outs[c.Rank()] = garbage(count * dt.Size())
		return c.ReduceScatter(context.Background(), inputs(dt, op, c.Rank(), count*n), outs[c.Rank()], count, dt, op)
	}))
	for r := range comms {
		compare(t, fmt.Sprintf("reducescatter %s %s n=%d count=%d rank %d", dt, op, n, count, r),
			decode(dt, outs[r]), func(i int) float64 { return expected(op, n, r*count+i) })
	}
}

func checkAllGather(t testing.TB, comms []*Comm, dt DataType, count int) {
	t.Helper()
	n := len(comms)
	outs := make([][]byte, n)
	allOK(t, "allgather", each(comms, func(c *Comm) error {
		v := make([]float64, count)
		for i := range v {
			v[i] = float64((c.Rank()*count + i) % 100)
		}
		outs[c.Rank()] = garbage(count * n * dt.Size())
		return c.AllGather(context.Background(), encode(dt, v), outs[c.Rank()], count, dt)
	}))
	for r := range comms {
		compare(t, fmt.Sprintf("allgather %s n=%d count=%d rank %d", dt, n, count, r),
			decode(dt, outs[r]), func(i int) float64 { return float64(i % 100) })
	}
}

func checkBroadcast(t testing.TB, comms []*Comm, dt DataType, count, root int) {
	t.Helper()
	n := len(comms)
	bufs := make([][]byte, n)
	allOK(t, "broadcast", each(comms, func(c *Comm) error {
		bufs[c.Rank()] = garbage(count * dt.Size())
		if c.Rank() == root {
			v := make([]float64, count)
			for i := range v {
				v[i] = float64(i % 100)
			}
			bufs[c.Rank()] = encode(dt, v)
		}
		return c.Broadcast(context.Background(), bufs[c.Rank()], count, dt, root)
	}))
	for r := range comms {
		compare(t, fmt.Sprintf("broadcast %s n=%d count=%d root %d rank %d", dt, n, count, root, r),
			decode(dt, bufs[r]), func(i int) float64 { return float64(i % 100) })
	}
}

func checkReduce(t testing.TB, comms []*Comm, dt DataType, op ReduceOp, count, root int) {
	t.Helper()
	n := len(comms)
	out := garbage(count * dt.Size())
	allOK(t, "reduce", each(comms, func(c *Comm) error {
		var recv []byte
		if c.Rank() == root {
			recv = out
		}
		return c.Reduce(context.Background(), inputs(dt, op, c.Rank(), count), recv, count, dt, op, root)
	}))
	compare(t, fmt.Sprintf("reduce %s %s n=%d count=%d root %d", dt, op, n, count, root),
		decode(dt, out), func(i int) float64 { return expected(op, n, i) })
}

// checkSendRecv pairs rank 2k with 2k+1: the lower sends first.
func checkSendRecv(t testing.TB, comms []*Comm, dt DataType, count int) {
	t.Helper()
	n := len(comms)
	outs := make([][]byte, n)
	allOK(t, "send/recv", each(comms, func(c *Comm) error {
		r, ctx := c.Rank(), context.Background()
		peer := r ^ 1
		if peer >= n {
			return nil
		}
		outs[r] = garbage(count * dt.Size())
		in := inputs(dt, Sum, r, count)
		if r < peer {
			if err := c.Send(ctx, in, count, dt, peer); err != nil {
				return err
			}
			return c.Recv(ctx, outs[r], count, dt, peer)
		}
		if err := c.Recv(ctx, outs[r], count, dt, peer); err != nil {
			return err
		}
		return c.Send(ctx, in, count, dt, peer)
	}))
	for r := range comms {
		if r^1 < n {
			compare(t, fmt.Sprintf("send/recv %s n=%d count=%d rank %d", dt, n, count, r),
				decode(dt, outs[r]), func(i int) float64 { return value(Sum, r^1, i) })
		}
	}
}

func checkSendRecvRing(t testing.TB, comms []*Comm, dt DataType, count int) {
	t.Helper()
	n := len(comms)
	outs := make([][]byte, n)
	allOK(t, "sendrecv ring", each(comms, func(c *Comm) error {
		r := c.Rank()
		outs[r] = garbage(count * dt.Size())
		return c.SendRecv(context.Background(), inputs(dt, Sum, r, count), (r+1)%n, outs[r], (r+n-1)%n, count, dt)
	}))
	for r := range comms {
		compare(t, fmt.Sprintf("sendrecv %s n=%d count=%d rank %d", dt, n, count, r),
			decode(dt, outs[r]), func(i int) float64 { return value(Sum, (r+n-1)%n, i) })
	}
}

// checkAll runs every operation at one count.
func checkAll(t testing.TB, comms []*Comm, dt DataType, op ReduceOp, count int) {
	t.Helper()
	n := len(comms)
	checkAllReduce(t, comms, dt, op, count)
	checkReduceScatter(t, comms, dt, op, count)
	checkAllGather(t, comms, dt, count)
	checkBroadcast(t, comms, dt, count, count%n)
	checkReduce(t, comms, dt, op, count, (count+1)%n)
	if n > 1 {
		checkSendRecv(t, comms, dt, count)
		checkSendRecvRing(t, comms, dt, count)
	}
	allOK(t, "barrier", each(comms, func(c *Comm) error { return c.Barrier(context.Background()) }))
}

// TestEveryTypeAndOp: all 12 types × 4 ops × every operation, on mem.
func TestEveryTypeAndOp(t *testing.T) {
	testutil.CheckLeaks(t, 10*time.Second)
	for _, n := range []int{3, 4} {
		cfg := testConfig(t, "mem")
		cfg.SmallAllReduceBytes = 512 // counts 0, 1, 7 small (the tree), 1000 the ring
		comms := cluster(t, cfg, n)
		if c := comms[0]; c.algorithm(c.flat, 7*8) == AlgoRing || c.algorithm(c.flat, 1000) != AlgoRing {
			t.Fatalf("n=%d: 56 bytes must take the small algorithm, 1000 the ring", n)
		}
		for _, dt := range allTypes {
			for _, op := range allOps {
				for _, count := range []int{0, 1, 7, 1000} {
					checkAll(t, comms, dt, op, count)
				}
			}
		}
	}
}

// TestEveryN: N = 1..8, sizes 0, 1, primes, counts not divisible by N, and a
// large one (pieces of 256 bytes: hundreds of pipelined steps); the small
// ones both on the ring (chunks of no element) and on the small-message
// algorithms (the exchange for N = 2, the tree for more).
func TestEveryN(t *testing.T) {
	testutil.CheckLeaks(t, 10*time.Second)
	for _, small := range []int{0, DefaultConfig().SmallAllReduceBytes} {
		counts := []int{0, 1, 2, 13, 1000}
		if small > 0 {
			counts = append(counts, 300007) // beyond SmallAllReduceBytes: the ring
		}
		for n := 1; n <= 8; n++ {
			cfg := testConfig(t, "mem")
			cfg.SmallAllReduceBytes = small
			comms := cluster(t, cfg, n)
			for _, count := range counts {
				checkAll(t, comms, Float32, Sum, count)
			}
			checkAll(t, comms, BFloat16, Max, 13)
		}
	}
}

// TestHierarchical: ranks on 2 or 3 nodes reduce in two levels, every type.
func TestHierarchical(t *testing.T) {
	testutil.CheckLeaks(t, 10*time.Second)
	for _, hosts := range [][]string{{"a", "a", "b", "b"}, {"a", "a", "a", "b", "b", "b"}, {"a", "a", "b", "b", "c", "c"}} {
		comms := cluster(t, testConfig(t, "mem"), len(hosts), hosts...)
		if !comms[0].Hierarchical() {
			t.Fatalf("hosts %v: not hierarchical", hosts)
		}
		for _, dt := range []DataType{Float32, Float16, BFloat16, Int32, Uint8} {
			for _, count := range []int{0, 1, 5, 1000, 4099} {
				checkAllReduce(t, comms, dt, Sum, count)
			}
		}
		checkAllReduce(t, comms, Float64, Prod, 777)
	}
}

// TestHalfRoundsOnce: 1024 + 3×0.25 in float16 is 1024.75, which rounds to
// 1025; adding in float16 one hop at a time would give 1024 for the chunks
// that start at 1024.
func TestHalfRoundsOnce(t *testing.T) {
	testutil.CheckLeaks(t, 10*time.Second)
	for _, hosts := range [][]string{nil, {"a", "a", "b", "b"}} {
		comms := cluster(t, testConfig(t, "mem"), 4, hosts...)
		count := 64
		outs := make([][]byte, 4)
		allOK(t, "allreduce", each(comms, func(c *Comm) error {
			v := make([]float64, count)
			for i := range v {
				v[i] = 0.25
				if c.Rank() == 0 {
					v[i] = 1024
				}
			}
			outs[c.Rank()] = make([]byte, 2*count)
			return c.AllReduce(context.Background(), encode(Float16, v), outs[c.Rank()], count, Float16, Sum)
		}))
		for r := range outs {
			compare(t, fmt.Sprintf("fp16 rank %d hosts %v", r, hosts), decode(Float16, outs[r]), func(int) float64 { return 1025 })
		}
	}
}

// TestBitIdentical: float32 sums of values that round differently in every
// order give the same bits on every rank, run after run, on the ring and
// the tree (N = 5).
func TestBitIdentical(t *testing.T) {
	testutil.CheckLeaks(t, 10*time.Second)
	cfg := testConfig(t, "mem")
	cfg.SmallAllReduceBytes = 8 << 10
	comms := cluster(t, cfg, 5)
	for _, count := range []int{10007, 1007} {
		if small := comms[0].algorithm(comms[0].flat, count*4) != AlgoRing; small != (count == 1007) {
			t.Fatalf("count %d: small-message algorithm %v", count, small)
		}
		checkBitIdentical(t, comms, count)
	}
}

// TestTreeShapes: the k-nomial tree at every N up to 9 with radix 2, 3, 4
// and N (flat), whole and in pieces of 64 bytes (up to 64 pipelined
// pieces), in place and not, 16-bit and integer types; and recursive
// doubling forced at N = 2, 4, 8.
func TestTreeShapes(t *testing.T) {
	testutil.CheckLeaks(t, 10*time.Second)
	for n := 2; n <= 9; n++ {
		for _, radix := range []int{2, 3, 4, n} {
			for _, piece := range []int{64, 0} {
				cfg := testConfig(t, "mem")
				cfg.AllReduceAlgo, cfg.treeRadix, cfg.treePiece = AlgoTree, radix, piece
				comms := cluster(t, cfg, n)
				for _, count := range []int{1, 13, 1000} {
					checkAllReduce(t, comms, Float32, Sum, count)
				}
				checkAllReduce(t, comms, BFloat16, Sum, 1001)
				checkAllReduce(t, comms, Int8, Max, 77)
			}
		}
	}
	for _, n := range []int{2, 4, 8} {
		cfg := testConfig(t, "mem")
		cfg.AllReduceAlgo = AlgoDoubling
		comms := cluster(t, cfg, n)
		if comms[0].algorithm(comms[0].flat, 1<<30) != AlgoDoubling {
			t.Fatal("doubling not taken")
		}
		checkAllReduce(t, comms, Float32, Sum, 1000)
		checkAllReduce(t, comms, Float16, Sum, 1001)
	}
}

// TestTreeBitIdentical: the tree, 8 ranks, pieces of 256 bytes: the same
// bits on every rank, run after run.
func TestTreeBitIdentical(t *testing.T) {
	testutil.CheckLeaks(t, 10*time.Second)
	cfg := testConfig(t, "mem")
	cfg.AllReduceAlgo, cfg.treePiece = AlgoTree, 256
	checkBitIdentical(t, cluster(t, cfg, 8), 3001)
}

func checkBitIdentical(t *testing.T, comms []*Comm, count int) {
	t.Helper()
	var first []float32
	for run := 0; run < 3; run++ {
		outs := make([][]float32, len(comms))
		allOK(t, "allreduce", each(comms, func(c *Comm) error {
			in := make([]float32, count)
			for i := range in {
				in[i] = float32(math.Sin(float64(i*7+c.Rank()*13))) * float32(math.Pow(10, float64((i+c.Rank())%9-4)))
			}
			outs[c.Rank()] = make([]float32, count)
			return c.AllReduceF32(context.Background(), in, outs[c.Rank()], Sum)
		}))
		if first == nil {
			first = outs[0]
		}
		for r, o := range outs {
			for i := range o {
				if math.Float32bits(o[i]) != math.Float32bits(first[i]) {
					t.Fatalf("count %d run %d rank %d element %d: %x, rank 0 run 0: %x", count, run, r, i, math.Float32bits(o[i]), math.Float32bits(first[i]))
				}
			}
		}
	}
}

// TestEveryNShm: shm at N = 1..8, the board (the default) and the fused
// ring, every type once; the board with blocks of 4 KiB too, so that an
// operation goes through many blocks and both sides.
func TestEveryNShm(t *testing.T) {
	testutil.CheckLeaks(t, 10*time.Second)
	for _, algo := range []string{AlgoAuto, AlgoRing, AlgoBoard} {
		for n := 1; n <= 8; n++ {
			cfg := testConfig(t, "shm")
			cfg.AllReduceAlgo = algo
			if algo == AlgoBoard {
				cfg.ShmRingBytes = 16 << 10 // blocks of 4 KiB
			}
			comms := cluster(t, cfg, n)
			if got := comms[0].algorithm(comms[0].flat, 4); algo == AlgoAuto && n > 2 && got != AlgoBoard {
				t.Fatalf("n=%d: shm takes %s, want the board", n, got)
			}
			for _, count := range []int{0, 1, 13, 1000, 30011} {
				checkAll(t, comms, Float32, Sum, count)
			}
			if n == 5 {
				for _, dt := range allTypes {
					checkAll(t, comms, dt, allOps[int(dt)%4], 777)
				}
			}
		}
	}
}
