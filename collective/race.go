//go:build race

package collective

import (
	"runtime"
	"unsafe"
)

// In race builds the transports tell the race detector about the order
// their peers give. A buffer a rank sends from one goroutine and later
// receives into from another — an in-place allreduce sends chunk i from
// buf and later receives chunk i's final value into buf; the tree's up and
// down phases run in two goroutines — is ordered only by a chain of
// messages through other ranks, other processes as a rule, which the
// detector cannot follow; without help it reports a race between the send
// and the receive. So, as Go's syscall package does for read and write
// (ioSync in syscall_unix.go), every send releases one variable and every
// receive acquires it: what this process did before sending is ordered
// before what it does after a later receive, as a message chain may make
// it. The transports annotate:
//   - quic: sendmsg and recvmsg, which syscall does not (quic_race.go);
//   - shm: every store to shared memory a peer reads (a ring's head or
//     tail, a board's phase word) comes after a release, every load of a
//     word a peer stored before an acquire. The detector sees no order in
//     sync/atomic on mapped memory (outside Go's heap it only does the
//     operation), nor two mappings of one file as one place.
//
// One variable for both, since a chain may cross them (hybrid). Ranks in
// one process (tests) are ordered through it too, as they are by the
// atomics.
var raceSync uint64

// raceRelease comes before a send, or a store a peer reads.
func raceRelease() { runtime.RaceReleaseMerge(unsafe.Pointer(&raceSync)) }

// raceAcquire comes after a receive, or a load of a word a peer stored.
func raceAcquire() { runtime.RaceAcquire(unsafe.Pointer(&raceSync)) }
