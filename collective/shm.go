package collective

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// The shm transport: ranks on one node exchange through files in a tmpfs
// (/dev/shm), mapped with mmap. Each directed link is a single-producer,
// single-consumer ring buffer with atomic head and tail counters; a control
// file holds every rank's state and pid and the communicator's abort word.
// Waiting spins briefly, then yields, then sleeps with a short backoff (no
// futex), checking for abort, a closed peer and a dead peer process.
//
// Layout of the control file: [8:16] the ring size every rank must share,
// [64:72] abort word (0, or 1+rank that
// aborted); at 128+64·r rank r's state (uint32: 0 absent, 1 joined, 2 left)
// and pid (uint64 at +8). A link file: head at 0, tail at 64, the ring from
// 4096. A message on the ring is a 64-byte header (its length) and the
// payload, padded to 64 bytes.

const (
	shmRingSizeOff = 8
	shmAbortOff    = 64
	shmSlotsOff    = 128
	shmRingOff     = 4096
	shmHeadOff     = 0
	shmTailOff     = 64
	shmMsgAlign    = 64
	shmStateJoin   = 1
	shmStateLeft   = 2
)

type shmTransport struct {
	cfg     Config
	rank    int
	members []int // ranks on this node, this one included
	prefix  string
	ctl     []byte
	pid     int

	mu     sync.Mutex
	links  map[int]*shmLink
	files  []string
	maps   [][]byte
	closed bool
	gone   atomic.Bool
	board  *board // shm_board.go, mapped on first use
}

func shmPrefix(dir string, id [16]byte) string {
	return filepath.Join(dir, "bloom-"+hex.EncodeToString(id[:]))
}

// mapFile opens (creating) path with size bytes and maps it shared.
func mapFile(path string, size int) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("collective: shm: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err == nil && st.Size() < int64(size) {
		err = f.Truncate(int64(size))
	}
	if err != nil {
		return nil, fmt.Errorf("collective: shm: %s: %w", path, err)
	}
	// Allocate the pages now: a tmpfs too small for them fails here, with
	// an error, instead of killing the process with SIGBUS at the first
	// touch of a page it cannot back (Docker's /dev/shm is 64 MiB unless
	// --shm-size says otherwise).
	if err := syscall.Fallocate(int(f.Fd()), 0, 0, int64(size)); err != nil && !errors.Is(err, syscall.EOPNOTSUPP) {
		return nil, fmt.Errorf("collective: shm: reserving %d bytes for %s: %w (give ShmDir more room, e.g. docker --shm-size)", size, path, err)
	}
	m, err := syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("collective: shm: mmap %s: %w", path, err)
	}
	return m, nil
}

func word64(m []byte, off int) *atomic.Uint64 { return (*atomic.Uint64)(unsafe.Pointer(&m[off])) }
func word32(m []byte, off int) *atomic.Uint32 { return (*atomic.Uint32)(unsafe.Pointer(&m[off])) }

// joinShm maps the control file, marks this rank joined and waits for every
// member to join.
func joinShm(ctx context.Context, cfg Config, id [16]byte, rank, size int, members []int) (*shmTransport, error) {
	t := &shmTransport{cfg: cfg, rank: rank, members: members, prefix: shmPrefix(cfg.ShmDir, id),
		pid: os.Getpid(), links: map[int]*shmLink{}}
	ctlPath := t.prefix + ".ctl"
	ctl, err := mapFile(ctlPath, shmSlotsOff+64*size)
	if err != nil {
		return nil, err
	}
	t.ctl, t.files, t.maps = ctl, []string{ctlPath}, [][]byte{ctl}
	ringW := word64(ctl, shmRingSizeOff)
	if !ringW.CompareAndSwap(0, uint64(cfg.ShmRingBytes)) && ringW.Load() != uint64(cfg.ShmRingBytes) {
		t.close()
		return nil, fmt.Errorf("collective: shm: ShmRingBytes is %d here but %d on another rank: give every rank the same", cfg.ShmRingBytes, ringW.Load())
	}
	word64(ctl, t.slot(rank)+8).Store(uint64(t.pid))
	word32(ctl, t.slot(rank)).Store(shmStateJoin)
	w := waiter{}
	for _, m := range members {
		for word32(ctl, t.slot(m)).Load() != shmStateJoin {
			if err := t.check(ctx, -1); err != nil {
				t.close()
				return nil, fmt.Errorf("collective: shm: waiting for rank %d to join: %w", m, err)
			}
			if word32(ctl, t.slot(m)).Load() == shmStateLeft {
				t.close()
				return nil, fmt.Errorf("collective: shm: rank %d left before joining: %w", m, ErrPeerLost)
			}
			w.pause()
		}
	}
	return t, nil
}

func (t *shmTransport) slot(r int) int { return shmSlotsOff + 64*r }

// check returns why waiting must stop: abort, this side closed, the peer
// left or died, or ctx ended. peer -1 checks no peer.
func (t *shmTransport) check(ctx context.Context, peer int) error {
	if a := word64(t.ctl, shmAbortOff).Load(); a != 0 {
		return fmt.Errorf("collective: shm: %w by rank %d", ErrAborted, a-1)
	}
	if t.gone.Load() {
		return fmt.Errorf("collective: shm: rank %d: %w", t.rank, ErrClosed)
	}
	if peer >= 0 && word32(t.ctl, t.slot(peer)).Load() == shmStateLeft {
		return fmt.Errorf("collective: shm: rank %d left: %w", peer, ErrPeerLost)
	}
	if ctx.Err() != nil {
		return ctxErr(ctx)
	}
	return nil
}

// alive reports whether peer's process still exists.
func (t *shmTransport) alive(peer int) bool {
	pid := int(word64(t.ctl, t.slot(peer)+8).Load())
	if pid == 0 || pid == t.pid {
		return true
	}
	if errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
		return false
	}
	// A killed process stays a zombie until its parent reaps it.
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return !os.IsNotExist(err)
	}
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2] != 'Z' && stat[i+2] != 'X'
	}
	return true
}

func (t *shmTransport) link(peer int) (link, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if l := t.links[peer]; l != nil {
		return l, nil
	}
	if t.closed {
		return nil, fmt.Errorf("collective: shm: %w", ErrClosed)
	}
	if peer == t.rank || indexOf(t.members, peer) < 0 {
		return nil, fmt.Errorf("collective: shm: rank %d is not on this node", peer)
	}
	size := shmRingOff + t.cfg.ShmRingBytes
	var rings [2][]byte
	for i, name := range []string{fmt.Sprintf("%s.%d-%d", t.prefix, t.rank, peer), fmt.Sprintf("%s.%d-%d", t.prefix, peer, t.rank)} {
		m, err := mapFile(name, size)
		if err != nil {
			return nil, err
		}
		t.files, t.maps, rings[i] = append(t.files, name), append(t.maps, m), m
	}
	l := &shmLink{t: t, peer: peer, out: rings[0], in: rings[1], mask: uint64(t.cfg.ShmRingBytes - 1)}
	l.head = word64(l.out, shmHeadOff).Load()
	l.tail = word64(l.in, shmTailOff).Load()
	t.links[peer] = l
	return l, nil
}

func (t *shmTransport) abort(cause error) {
	word64(t.ctl, shmAbortOff).CompareAndSwap(0, uint64(t.rank+1))
}

func (t *shmTransport) close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	t.gone.Store(true)
	word32(t.ctl, t.slot(t.rank)).Store(shmStateLeft)
	// Unmapping under a running send or recv would crash it; the communicator
	// calls close and then waits for its operation, so leave the mappings to
	// the finalizer-free end of the process only when an operation may still
	// run. Links hold no goroutines, so unlinking the names is enough here.
	for _, f := range t.files {
		os.Remove(f)
	}
	return nil
}

// release unmaps the files; the communicator calls it once no operation runs.
func (t *shmTransport) release() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, m := range t.maps {
		syscall.Munmap(m)
	}
	t.maps = nil
}

// shmLink is one peer: out is this rank's ring to it, in the peer's ring here.
type shmLink struct {
	t          *shmTransport
	peer       int
	out, in    []byte
	mask       uint64
	head, tail uint64 // private copies: head of out (we produce), tail of in (we consume)
}

func align64(x uint64) uint64 { return (x + shmMsgAlign - 1) &^ (shmMsgAlign - 1) }

func (l *shmLink) send(ctx context.Context, b []byte) error {
	size := l.mask + 1
	tail := word64(l.out, shmTailOff)
	headW := word64(l.out, shmHeadOff)
	ring := l.out[shmRingOff:]
	w := waiter{}
	for size-(l.head-tail.Load()) < shmMsgAlign { // room for the header
		if err := l.wait(ctx, &w); err != nil {
			return err
		}
	}
	// Race builds: an acquire after loading a word the peer stores, a
	// release before storing one it loads (race.go).
	raceAcquire()
	binary.LittleEndian.PutUint64(ring[l.head&l.mask:], uint64(len(b)))
	l.head += shmMsgAlign
	raceRelease()
	headW.Store(l.head)
	for len(b) > 0 {
		free := size - (l.head - tail.Load())
		raceAcquire()
		if free == 0 {
			if err := l.wait(ctx, &w); err != nil {
				return err
			}
			continue
		}
		w = waiter{}
		pos := l.head & l.mask
		n := min(free, uint64(len(b)), size-pos)
		if n < uint64(len(b)) {
			n &^= 7
		}
		copy(ring[pos:pos+n], b[:n])
		l.head += n
		b = b[n:]
		raceRelease()
		headW.Store(l.head)
	}
	l.head = align64(l.head)
	raceRelease()
	headW.Store(l.head)
	return nil
}

func (l *shmLink) wait(ctx context.Context, w *waiter) error { return l.t.waitPeer(ctx, w, l.peer) }

// waitPeer pauses once in a wait on peer, and says why to stop: abort, a
// closed transport, the peer gone or dead, ctx.
func (t *shmTransport) waitPeer(ctx context.Context, w *waiter, peer int) error {
	if w.n&63 == 63 {
		if err := t.check(ctx, peer); err != nil {
			return err
		}
		if w.deadCheck() && !t.alive(peer) {
			return fmt.Errorf("collective: shm: rank %d's process died: %w", peer, ErrPeerLost)
		}
	}
	w.pause()
	return nil
}

func (l *shmLink) recv(ctx context.Context, b []byte) error {
	return l.recvReduce(ctx, len(b), func(off int, src []byte) { copy(b[off:], src) })
}

func (l *shmLink) recvReduce(ctx context.Context, size int, f func(off int, src []byte)) error {
	ringSize := l.mask + 1
	head := word64(l.in, shmHeadOff)
	tailW := word64(l.in, shmTailOff)
	ring := l.in[shmRingOff:]
	w := waiter{}
	for head.Load() < l.tail+shmMsgAlign { // not head-tail: tail may be aligned past a head not yet aligned
		if err := l.waitIn(ctx, &w, head); err != nil {
			return err
		}
	}
	raceAcquire()
	if n := binary.LittleEndian.Uint64(ring[l.tail&l.mask:]); n != uint64(size) {
		return fmt.Errorf("collective: shm: %d bytes from rank %d, expected %d: %w", n, l.peer, size, ErrMismatch)
	}
	l.tail += shmMsgAlign
	for off := 0; off < size; {
		avail := head.Load() - l.tail
		raceAcquire()
		if avail == 0 {
			if err := l.waitIn(ctx, &w, head); err != nil {
				return err
			}
			continue
		}
		w = waiter{}
		pos := l.tail & l.mask
		left := uint64(size - off)
		n := min(avail, left, ringSize-pos)
		if n < left {
			n &^= 7
			if n == 0 {
				continue
			}
		}
		f(off, ring[pos:pos+n])
		l.tail += n
		off += int(n)
		raceRelease()
		tailW.Store(l.tail)
	}
	l.tail = align64(l.tail)
	raceRelease()
	tailW.Store(l.tail)
	return nil
}

// waitIn waits for data; a peer that left after writing it still counts.
func (l *shmLink) waitIn(ctx context.Context, w *waiter, head *atomic.Uint64) error {
	err := l.wait(ctx, w)
	if err != nil && errors.Is(err, ErrPeerLost) && head.Load() > l.tail {
		return nil
	}
	return err
}

// waiter paces a wait: spin a little, then yield the core to other
// processes (ranks may outnumber cores), now and then letting this
// process's other goroutines run, and only after ~thousands of rounds
// sleep. runtime.Gosched is the rare one: it queues the goroutine globally
// and wakes an idle P's thread to take it, two futex calls and a thread
// that spins and parks — with ranks outnumbering cores that was a third of
// a rank's CPU, stolen from the rank it waited for.
type waiter struct {
	n    int
	last time.Time
}

func (w *waiter) pause() {
	w.n++
	switch {
	case w.n < 8:
	case w.n < 4096:
		if w.n&15 == 0 { // GOMAXPROCS may be 1: a sender waits on its receiver
			runtime.Gosched()
		}
		syscall.Syscall(syscall.SYS_SCHED_YIELD, 0, 0, 0)
	default:
		time.Sleep(50 * time.Microsecond)
	}
}

// deadCheck says whether to look for a dead process now (every 50 ms).
func (w *waiter) deadCheck() bool {
	now := time.Now()
	if now.Sub(w.last) < 50*time.Millisecond {
		return false
	}
	w.last = now
	return true
}
