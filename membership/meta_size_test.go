package membership

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// npuNodeMeta is an 8-NPU node's metadata at start, with its NPUs'
// device_ip (IPv4, as hccn.conf usually has them) and long addresses.
func npuNodeMeta(ipv6 bool) NodeMeta {
	var ips []string
	for i := range 8 {
		ip := fmt.Sprintf("192.168.%d.%d", 100+i, 200+i)
		if ipv6 {
			ip = fmt.Sprintf("fd00:1234:5678:9abc:def0:1234:5678:9a%02d", i)
		}
		ips = append(ips, fmt.Sprintf("%d=%s", i, ip))
	}
	return NodeMeta{Name: "ascend-node-0123.rack17", API: "172.16.100.200:7946", Raft: "172.16.100.200:7946",
		QUIC: "172.16.100.200:7947", Devices: "npu:0-7", DeviceIPs: strings.Join(ips, ","),
		Version: "v1.2.3-45-gabcdef0", Nonce: strings.Repeat("o", 8)}
}

// TestMetaFitsNPUNode: an 8-NPU node's metadata with its NPUs' IPv4
// device_ip fits memberlist's 512 bytes with every field the daemon sets
// later at its longest (FitsWhenFull); eight long IPv6 addresses do not
// (the daemon then leaves them out, saying so).
func TestMetaFitsNPUNode(t *testing.T) {
	if err := npuNodeMeta(false).FitsWhenFull(); err != nil {
		t.Fatal(err)
	}
	if err := npuNodeMeta(true).FitsWhenFull(); !errors.Is(err, ErrMetaTooLarge) {
		t.Fatalf("eight IPv6 device_ip: %v, want ErrMetaTooLarge", err)
	}
}

// TestMetaFitShortensRaftErr: metadata over the limit only by its Raft
// error text is gossiped with the text shortened (ending in "…"), so a
// flag set with it still goes out; metadata over it without one is
// refused.
func TestMetaFitShortensRaftErr(t *testing.T) {
	m := npuNodeMeta(false)
	m.Cluster, m.Boot, m.DevicesHealthy, m.MemPerDevice, m.State, m.Draining = "c0123456789abcde", "", "8/8", 65536, true, true
	for _, text := range []string{strings.Repeat("x", 160), strings.Repeat("é", 80), strings.Repeat("<", 160)} {
		m.RaftErr = "since 15:04:05: " + text
		if _, err := m.encode(); !errors.Is(err, ErrMetaTooLarge) {
			t.Fatalf("the test's metadata fits already: %v", err)
		}
		got, err := m.fit()
		b, eerr := got.encode()
		if err != nil || eerr != nil || len(b) > MetaMaxSize || !strings.HasSuffix(got.RaftErr, "…") ||
			!strings.HasPrefix(got.RaftErr, "since 15:04:05: ") || !got.Draining {
			t.Errorf("%q: fit gave %q (%d bytes), %v %v", text[:3], got.RaftErr, len(b), err, eerr)
		}
	}
	m.RaftErr, m.Devices = "", strings.Repeat("npu:0,", 60)
	if _, err := m.fit(); !errors.Is(err, ErrMetaTooLarge) {
		t.Errorf("metadata too large without a Raft error: %v", err)
	}
}
