//go:build race

package collective

// raceEnabled: the race detector cannot see the happens-before edges that
// shm carries — a rank's send is ordered before its own later receive of
// the same bytes only through the peer, via atomics on mmapped memory — so
// it reports false races there. The algorithms run race-checked over mem,
// whose channels it does see, and over quic, whose sockets tell it that a
// datagram is sent before it is received (quic_race.go).
const raceEnabled = true
