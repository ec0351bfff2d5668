//go:build race

package collective

import (
	"net"
	"syscall"
	"time"
)

// packetConn, in race builds, wraps a quic socket so that the race detector
// sees what the kernel guarantees: a datagram is sent before it is
// received. Go's syscall package says so for read and write (ioSync in
// syscall_unix.go) but not for sendmsg and recvmsg, which quic-go uses, so
// without this every buffer that goes out to a peer and comes back — an
// in-place allreduce sends chunk i from buf and later receives chunk i's
// final value into buf — is reported as a race between the sending and the
// receiving goroutine, though a chain of messages orders them. The wrapper
// hides ReadMsgUDP and WriteMsgUDP, so quic-go reads and writes one packet
// at a time through ReadFrom and WriteTo (no GSO, no batches): race builds
// only.
func packetConn(udp *net.UDPConn) net.PacketConn { return raceConn{udp} }

// raceConn is a net.PacketConn that keeps quic-go's socket buffer sizing.
type raceConn struct{ udp *net.UDPConn }

func (c raceConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	raceRelease() // race.go
	return c.udp.WriteTo(b, addr)
}

func (c raceConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, addr, err := c.udp.ReadFrom(b)
	if err == nil {
		raceAcquire()
	}
	return n, addr, err
}

func (c raceConn) Close() error                          { return c.udp.Close() }
func (c raceConn) LocalAddr() net.Addr                   { return c.udp.LocalAddr() }
func (c raceConn) SetDeadline(t time.Time) error         { return c.udp.SetDeadline(t) }
func (c raceConn) SetReadDeadline(t time.Time) error     { return c.udp.SetReadDeadline(t) }
func (c raceConn) SetWriteDeadline(t time.Time) error    { return c.udp.SetWriteDeadline(t) }
func (c raceConn) SetReadBuffer(n int) error             { return c.udp.SetReadBuffer(n) }
func (c raceConn) SetWriteBuffer(n int) error            { return c.udp.SetWriteBuffer(n) }
func (c raceConn) SyscallConn() (syscall.RawConn, error) { return c.udp.SyscallConn() }
