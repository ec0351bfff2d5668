//go:build !race

package collective

import "net"

// packetConn is the socket quic-go runs on: the UDP socket itself, with
// its batched reads and GSO writes (quic_race.go says why race builds
// differ).
func packetConn(udp *net.UDPConn) net.PacketConn { return udp }
