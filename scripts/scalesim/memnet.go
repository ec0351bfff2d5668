package main

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// memNet is an in-memory network for memberlist, after memberlist's own
// MockNetwork, with what that one lacks at scale: a dead node's packets
// are dropped instead of blocking the sender (MockTransport's unbuffered
// channel has no reader once its memberlist shuts down), a full receive
// queue drops as a UDP socket buffer does, lookups are safe while nodes
// come and go, and every byte a node sends is counted. There is no
// latency and no loss but the drops.
type memNet struct {
	mu      sync.RWMutex
	byAddr  map[string]*memTransport
	byName  map[string]*memTransport
	dropped atomic.Int64 // packets lost to a full receive queue
}

func newMemNet() *memNet {
	return &memNet{byAddr: map[string]*memTransport{}, byName: map[string]*memTransport{}}
}

// packetQueue is a node's receive queue, in packets: about a 1.4 MB UDP
// socket buffer of full packets.
const packetQueue = 1024

// newTransport adds node i, addressed 10.x.y.z:7946 as a LAN node would be.
func (n *memNet) newTransport(name string, i int) *memTransport {
	ip := net.IPv4(10, byte(i>>16), byte(i>>8), byte(i))
	t := &memTransport{net: n, name: name, ip: ip, port: 7946,
		packets: make(chan *memberlist.Packet, packetQueue), streams: make(chan net.Conn, 64), done: make(chan struct{})}
	t.addr = net.JoinHostPort(ip.String(), "7946")
	t.from = &net.UDPAddr{IP: ip, Port: 7946}
	n.mu.Lock()
	n.byAddr[t.addr], n.byName[name] = t, t
	n.mu.Unlock()
	return t
}

func (n *memNet) peer(a memberlist.Address) *memTransport {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if a.Name != "" {
		if t := n.byName[a.Name]; t != nil {
			return t
		}
	}
	return n.byAddr[a.Addr]
}

// memTransport is one node's end of a memNet.
type memTransport struct {
	net     *memNet
	name    string
	ip      net.IP
	port    int
	addr    string
	from    net.Addr
	packets chan *memberlist.Packet
	streams chan net.Conn
	done    chan struct{}
	once    sync.Once

	sent    atomic.Int64 // bytes this node sent: packets and stream writes
	packetN atomic.Int64 // packets this node sent
}

var _ memberlist.NodeAwareTransport = (*memTransport)(nil)

var errRefused = errors.New("memnet: connection refused")

func (t *memTransport) FinalAdvertiseAddr(string, int) (net.IP, int, error) { return t.ip, t.port, nil }
func (t *memTransport) PacketCh() <-chan *memberlist.Packet                 { return t.packets }
func (t *memTransport) StreamCh() <-chan net.Conn                           { return t.streams }

func (t *memTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

// WriteToAddress sends one datagram: counted, then queued at the
// destination or dropped (dead node, full queue), never an error, as UDP.
func (t *memTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	now := time.Now()
	t.sent.Add(int64(len(b)))
	t.packetN.Add(1)
	dest := t.net.peer(a)
	if dest == nil {
		return now, nil
	}
	p := &memberlist.Packet{Buf: append([]byte(nil), b...), From: t.from, Timestamp: now}
	select {
	case <-dest.done:
	case dest.packets <- p:
	default:
		t.net.dropped.Add(1)
	}
	return now, nil
}

func (t *memTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

// DialAddressTimeout opens a stream (memberlist's TCP: push/pull, joins,
// the TCP fallback of probes) over net.Pipe; each end counts what it writes.
func (t *memTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	dest := t.net.peer(a)
	if dest == nil {
		return nil, fmt.Errorf("%w: no node at %s", errRefused, a.Addr)
	}
	mine, theirs := net.Pipe()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case dest.streams <- &countConn{Conn: theirs, n: &dest.sent}:
		return &countConn{Conn: mine, n: &t.sent}, nil
	case <-dest.done:
	case <-timer.C:
	}
	mine.Close()
	theirs.Close()
	return nil, fmt.Errorf("%w: %s is down", errRefused, a.Addr)
}

// Shutdown stops delivery to this node: packets to it are dropped and
// dials fail, as for a machine that is gone.
func (t *memTransport) Shutdown() error {
	t.once.Do(func() { close(t.done) })
	for {
		select {
		case c := <-t.streams:
			c.Close()
		default:
			return nil
		}
	}
}

// countConn counts the bytes written through it.
type countConn struct {
	net.Conn
	n *atomic.Int64
}

func (c *countConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.n.Add(int64(n))
	return n, err
}
