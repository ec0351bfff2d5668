package membership

import (
	"fmt"
	"strings"
	"testing"
)

// TestMetaFitsNPUNode: an 8-NPU node's whole metadata (long addresses,
// every field set at the daemon's lengths: cluster id and bootstrap hash
// 16, nonce 8) fits memberlist's 512 bytes with its NPUs' device_ip, IPv4
// as hccn.conf usually has them. (Eight long IPv6 addresses do not: bloomd
// then refuses to start, saying so.)
func TestMetaFitsNPUNode(t *testing.T) {
	var ips []string
	for i := range 8 {
		ips = append(ips, fmt.Sprintf("%d=192.168.%d.%d", i, 100+i, 200+i))
	}
	m := NodeMeta{Name: "ascend-node-0123.rack17", API: "172.16.100.200:7946", Raft: "172.16.100.200:7946",
		QUIC: "172.16.100.200:7947", Devices: "npu:0-7", DeviceIPs: strings.Join(ips, ","), DevicesHealthy: "8/8",
		RaftErr: "since 15:04:05: no space left on device", MemPerDevice: 65536, Version: "v1.2.3-45-gabcdef0",
		Cluster: "c" + strings.Repeat("c", 15), Boot: strings.Repeat("b", 16), State: true, Nonce: strings.Repeat("o", 8),
		Leaving: true, Draining: true}
	b, err := m.encode()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d of %d bytes", len(b), MetaMaxSize)
}
