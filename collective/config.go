package collective

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"time"
)

// Config configures an endpoint and the communicators it joins. Start from
// DefaultConfig and override fields; Validate says what is wrong.
type Config struct {
	// Transport: "quic" (between nodes; mutual TLS), "shm" (ranks on one
	// node, through shared memory), "hybrid" (shm inside a node, quic across
	// nodes) or "mem" (in-process, for tests; needs Mem).
	Transport string

	// OpTimeout bounds every operation, as HCCL_EXEC_TIMEOUT does; a rank
	// that passes it aborts the communicator everywhere. 0 = no limit beyond
	// the caller's context.
	OpTimeout time.Duration
	// ConnectTimeout bounds joining (HCCL_CONNECT_TIMEOUT).
	ConnectTimeout time.Duration
	// PeerTimeout: a quic peer silent this long is lost (keep-alives are sent
	// at a third of it). shm notices a dead peer process within ~50 ms.
	PeerTimeout time.Duration

	// ChunkBytes is the pipeline piece: ring steps move messages of at most
	// this size, so a hop forwards one piece while the next arrives. A
	// multiple of 64.
	ChunkBytes int

	// SmallAllReduceBytes: an allreduce of at most this many bytes skips
	// the ring (algo.go): with 2 ranks one exchange, with more a k-nomial
	// tree that reduces to one rank and broadcasts back — 2(n-1) messages
	// in all where the ring sends 2n(n-1). Ranks that all share one node
	// over shm take the board at any size instead (three or more; two keep
	// the ring). 0: always the ring (or the board). Every rank must use the
	// same value.
	SmallAllReduceBytes int
	// AllReduceAlgo forces an allreduce algorithm: "ring", "tree",
	// "doubling" (recursive doubling; the ring unless the ranks are a power
	// of two) or "board" (ranks on one node over shm; else the ring). ""
	// chooses as above. Every rank must use the same.
	AllReduceAlgo string

	// Host names this rank's node; ranks with equal Host share a node (the
	// hierarchical algorithms and hybrid's shm links use it). Default: the
	// hostname. A rank table's server_id overrides it.
	Host string

	// quic
	// ListenAddr is the UDP address this rank listens on (host:port; port 0
	// picks one).
	ListenAddr string
	// TLS holds this rank's identity (Certificates) and the CA that issued
	// every rank's (RootCAs); both sides of a link verify each other. The
	// certificates must name ServerName (default "bloom-collective").
	TLS *tls.Config
	// StreamsPerHop is the number of QUIC streams a link spreads its messages
	// over.
	StreamsPerHop int
	// StreamWindow is the per-stream flow-control window (the connection's is
	// StreamsPerHop times it): size it to the bandwidth-delay product.
	StreamWindow int
	// RankTablePort is where a rank table that names no port for a rank
	// puts it: RankTablePort + device_id on the rank's host (a 910 table
	// has only device_id, device_ip and rank_id; RankTable.Addr). Default
	// 60100, above the host ports HCCL itself takes (60000–60031 from
	// HCCL_IF_BASE_PORT); 0: every rank's port must be in the table.
	RankTablePort int

	// shm
	// ShmDir holds the shared-memory files (a tmpfs).
	ShmDir string
	// ShmRingBytes is the ring buffer of one directed link; a power of two.
	ShmRingBytes int

	// mem
	// Mem is the in-process network for the "mem" transport.
	Mem *MemNetwork

	noFuse bool // tests: run shm on the two-goroutine engine
	// tests: the tree's radix and piece (bytes, a multiple of 8); 0 = treeShape's
	treeRadix, treePiece int
	// listenConn (tests): the quic socket, already bound to ListenAddr. A
	// rank table names fixed ports; a test binds port 0, writes the table
	// from the sockets' ports and hands them over, so no other process can
	// take a port in between. The endpoint owns it from then on.
	listenConn *net.UDPConn
}

// DefaultConfig returns the defaults: quic on 127.0.0.1, HCCL's timeouts
// (exec 1836 s, connect 120 s), 512 KiB pieces, 4 streams per hop.
func DefaultConfig() Config {
	host, _ := os.Hostname()
	return Config{
		Transport:           "quic",
		OpTimeout:           1836 * time.Second,
		ConnectTimeout:      120 * time.Second,
		PeerTimeout:         6 * time.Second,
		ChunkBytes:          512 << 10,
		SmallAllReduceBytes: 1 << 20,
		Host:                host,
		ListenAddr:          "127.0.0.1:0",
		StreamsPerHop:       4,
		StreamWindow:        8 << 20,
		RankTablePort:       60100,
		ShmDir:              "/dev/shm",
		ShmRingBytes:        4 << 20,
	}
}

// Validate reports the first field that cannot work.
func (c *Config) Validate() error {
	switch c.Transport {
	case "quic", "hybrid":
		if c.TLS == nil || len(c.TLS.Certificates) == 0 || c.TLS.RootCAs == nil {
			return fmt.Errorf("collective: transport %s needs Config.TLS with this rank's certificate and the cluster CA in RootCAs", c.Transport)
		}
	case "shm", "mem":
	default:
		return fmt.Errorf("collective: unknown transport %q (want quic, shm, hybrid or mem)", c.Transport)
	}
	if c.Transport == "mem" && c.Mem == nil {
		return fmt.Errorf("collective: transport mem needs Config.Mem (NewMemNetwork)")
	}
	if c.ChunkBytes < 64 || c.ChunkBytes%64 != 0 {
		return fmt.Errorf("collective: ChunkBytes %d must be a positive multiple of 64", c.ChunkBytes)
	}
	if c.ShmRingBytes < 4096 || c.ShmRingBytes&(c.ShmRingBytes-1) != 0 {
		return fmt.Errorf("collective: ShmRingBytes %d must be a power of two of at least 4096", c.ShmRingBytes)
	}
	switch c.AllReduceAlgo {
	case AlgoAuto, AlgoRing, AlgoTree, AlgoDoubling, AlgoBoard:
	default:
		return fmt.Errorf("collective: unknown AllReduceAlgo %q (want ring, tree, doubling, board or empty)", c.AllReduceAlgo)
	}
	if c.SmallAllReduceBytes < 0 {
		return fmt.Errorf("collective: SmallAllReduceBytes %d must be >= 0", c.SmallAllReduceBytes)
	}
	if c.StreamsPerHop < 1 || c.StreamsPerHop > 64 {
		return fmt.Errorf("collective: StreamsPerHop %d must be in 1..64", c.StreamsPerHop)
	}
	if c.RankTablePort < 0 || c.RankTablePort > 65535 {
		return fmt.Errorf("collective: RankTablePort %d must be in 0..65535", c.RankTablePort)
	}
	if c.StreamWindow < 64<<10 {
		return fmt.Errorf("collective: StreamWindow %d must be at least 64 KiB", c.StreamWindow)
	}
	if c.OpTimeout < 0 || c.ConnectTimeout <= 0 || c.PeerTimeout <= 0 {
		return fmt.Errorf("collective: OpTimeout must be >= 0, ConnectTimeout and PeerTimeout > 0")
	}
	return nil
}
