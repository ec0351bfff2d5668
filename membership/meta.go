package membership

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
)

// MetaMaxSize is memberlist's limit on a node's metadata.
const MetaMaxSize = 512

// ErrMetaTooLarge is returned when NodeMeta does not fit in MetaMaxSize bytes.
var ErrMetaTooLarge = errors.New("membership: node metadata too large")

// NodeMeta is what a node advertises to every other node. Short JSON keys
// keep it well under 512 bytes.
type NodeMeta struct {
	Name    string `json:"n,omitempty"`
	API     string `json:"a,omitempty"` // HTTPS API (and Raft, multiplexed) address
	Raft    string `json:"r,omitempty"`
	QUIC    string `json:"q,omitempty"`
	Devices string `json:"d,omitempty"` // "cpu:4", "npu:0-7"
	// DeviceIPs are the NPUs' own NIC addresses (HCCL's device_ip, from
	// /etc/hccn.conf): "0=192.168.100.101,1=192.168.101.101".
	DeviceIPs string `json:"di,omitempty"`
	// DevicesHealthy is "ok/total" from the node's last device probe.
	DevicesHealthy string `json:"dh,omitempty"`
	// RaftErr is set while the node's Raft log refuses appends ("since
	// 15:04:05: no space left on device", short): it answers and
	// heartbeats, but cannot take new entries.
	RaftErr string `json:"re,omitempty"`
	// MemPerDevice is the memory a rank on one of the node's devices may
	// use, in MiB: the smallest device's for accelerators, the host's
	// divided among its CPU devices (0: not known yet).
	MemPerDevice uint64 `json:"mpd,omitempty"`
	Version      string `json:"v,omitempty"`
	// Cluster is the cluster id once the node knows it; empty before bootstrap.
	Cluster string `json:"c,omitempty"`
	// Boot is the hash of the bootstrap configuration the node proposes,
	// empty when it is not bootstrapping.
	Boot string `json:"b,omitempty"`
	// State is set when the node has Raft state on disk (it never bootstraps).
	State bool `json:"s,omitempty"`
	// Nonce is random per process; the bootstrap hash includes it, so two
	// clusters bootstrapped from the same names get different ids.
	Nonce string `json:"o,omitempty"`
	// Leaving is set just before a graceful leave, so others report the
	// node as left rather than dead.
	Leaving bool `json:"l,omitempty"`
	// Draining is set while the node's jobs checkpoint before it stops:
	// nothing new is placed on it (every node sees it, a new leader too).
	Draining bool `json:"g,omitempty"`
}

func (m NodeMeta) encode() ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("membership: encode metadata: %w", err)
	}
	if len(b) > MetaMaxSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d (shorten the device list or addresses)", ErrMetaTooLarge, len(b), MetaMaxSize)
	}
	return b, nil
}

// fit is m, its RaftErr shortened (ending in "…") as far as it takes for
// the metadata to fit MetaMaxSize: a node near the limit still gossips a
// flag (draining, leaving) or a figure when its disk's error text is long.
// The error is encode's when even an empty RaftErr does not fit.
func (m NodeMeta) fit() (NodeMeta, error) {
	for {
		b, err := m.encode()
		if err == nil || !errors.Is(err, ErrMetaTooLarge) || m.RaftErr == "" {
			return m, err
		}
		r := []rune(strings.TrimSuffix(m.RaftErr, "…"))
		cut := max(1, (len(b)-MetaMaxSize+3+2)/3) // at least the excess, in runes of up to 3 bytes, and the "…"
		if cut >= len(r) {
			m.RaftErr = ""
			continue
		}
		m.RaftErr = string(r[:len(r)-cut]) + "…"
	}
}

// FitsWhenFull reports whether m still fits MetaMaxSize once every field the
// daemon sets after start is at its longest (cluster id and bootstrap hash,
// device health and memory figures, every flag; the Raft error text is
// shortened to fit, fit): nil if so, else encode's error. A node checks
// this at start, so that no later update is refused for size.
func (m NodeMeta) FitsWhenFull() error {
	m.Cluster, m.Boot = strings.Repeat("c", 16), strings.Repeat("b", 16)
	m.DevicesHealthy, m.MemPerDevice = "1024/1024", math.MaxUint64
	m.State, m.Leaving, m.Draining, m.RaftErr = true, true, true, ""
	_, err := m.encode()
	return err
}

// DecodeMeta reads metadata written by a peer. Unknown keys are ignored so
// newer nodes can add fields.
func DecodeMeta(b []byte) (NodeMeta, error) {
	var m NodeMeta
	if len(b) == 0 {
		return m, nil
	}
	if len(b) > MetaMaxSize {
		return m, fmt.Errorf("%w: %d bytes", ErrMetaTooLarge, len(b))
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return NodeMeta{}, fmt.Errorf("membership: bad metadata: %w", err)
	}
	return m, nil
}
