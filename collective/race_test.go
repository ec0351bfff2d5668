//go:build race

package collective

// raceEnabled: the race detector cannot see the happens-before edges that
// shm and quic carry — a rank's send is ordered before its own later
// receive of the same bytes only through the peer, via atomics on mmapped
// memory or via the kernel's sockets — so it reports false races there. The
// algorithms run race-checked over mem, whose channels it does see.
const raceEnabled = true
