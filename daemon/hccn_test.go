package daemon

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"bloom/daemon/coord"
	"bloom/daemon/sched"
)

// TestReadDeviceIPs: a node with NPUs reads their addresses from the
// hccn.conf; the default file may be missing, unreadable or malformed (one
// server needs none), a named one may not; a node without NPUs reads
// nothing.
func TestReadDeviceIPs(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	path := filepath.Join(t.TempDir(), "hccn.conf")
	if err := os.WriteFile(path, []byte("address_0=192.168.100.101\nnetmask_0=255.255.255.0\naddress_1=192.168.101.101\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if ips, err := ReadDeviceIPs("npu:0-1", path, true, log); err != nil || ips != "0=192.168.100.101,1=192.168.101.101" {
		t.Errorf("npu:0-1: %q %v", ips, err)
	}
	if ips, err := ReadDeviceIPs("cpu:2", filepath.Join(t.TempDir(), "none"), true, log); err != nil || ips != "" {
		t.Errorf("cpu:2: %q %v", ips, err)
	}
	missing := filepath.Join(t.TempDir(), "none")
	if ips, err := ReadDeviceIPs("npu:0", missing, false, log); err != nil || ips != "" {
		t.Errorf("the default file missing: %q %v", ips, err)
	}
	if _, err := ReadDeviceIPs("npu:0", missing, true, log); err == nil || !strings.Contains(err.Error(), "--hccn-conf") {
		t.Errorf("a named file missing: %v", err)
	}
	if err := os.WriteFile(path, []byte("address_0=192.168.100\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadDeviceIPs("npu:0", path, true, log); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("a malformed named file: %v", err)
	}
	// The default file, malformed or unreadable, does not stop a node
	// (a single server needs no device_ip): a warning, no addresses.
	if ips, err := ReadDeviceIPs("npu:0", path, false, log); err != nil || ips != "" {
		t.Errorf("a malformed default file: %q %v", ips, err)
	}
	if ips, err := ReadDeviceIPs("npu:0", t.TempDir(), false, log); err != nil || ips != "" { // a directory: read fails
		t.Errorf("an unreadable default file: %q %v", ips, err)
	}
}

// TestHCCNDeviceIPs reads an hccn.conf as hccn_tool writes it (address,
// netmask, netdetect and gateway lines per NPU, IPv6address lines for IPv6)
// for the NPUs a node offers.
func TestHCCNDeviceIPs(t *testing.T) {
	conf := `address_0=192.168.100.101
netmask_0=255.255.255.0
netdetect_0=192.168.100.1
gateway_0=192.168.100.1
address_1=192.168.101.101
netmask_1=255.255.255.0
address_3 = 192.168.103.101
address_7=fd00::7
send_arp_status_0=1
`
	got, err := hccnDeviceIPs([]byte(conf), []int{7, 0, 1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	if want := "0=192.168.100.101,1=192.168.101.101,3=192.168.103.101,7=fd00::7"; got != want {
		t.Fatalf("DeviceIPs %q, want %q", got, want)
	}
	for idx, want := range map[int]string{0: "192.168.100.101", 3: "192.168.103.101", 7: "fd00::7", 2: "", 10: ""} {
		if ip := (&coord.Member{DeviceIPs: got}).DeviceIP(idx); ip != want {
			t.Errorf("DeviceIP(%d) = %q, want %q", idx, ip, want)
		}
	}
	if got, _ := hccnDeviceIPs([]byte(conf), []int{1}); got != "1=192.168.101.101" {
		t.Errorf("only NPU 1 offered: %q", got)
	}
	// hccn_tool -ip -inet6 writes IPv6address_ lines; an NPU with both
	// gets its address_ (IPv4), as CANN's readers of the file take it.
	v6 := `IPv6address_0=fd00::100:101
IPv6netmask_0=64
address_1=192.168.101.101
IPv6address_1=fd00::101:101
IPv6address_2=FD00:0:0:0:0:0:102:101
IPv6address_3=::ffff:192.168.103.101
`
	if got, err := hccnDeviceIPs([]byte(v6), []int{0, 1, 2, 3}); err != nil || got != "0=fd00::100:101,1=192.168.101.101,2=fd00::102:101,3=::ffff:192.168.103.101" {
		t.Errorf("IPv6address lines: %q %v", got, err)
	}
	for name, bad := range map[string]string{
		"not an address": "address_0=192.168.100\n",
		"not an index":   "address_x=192.168.100.101\n",
		"repeated":       "address_0=192.168.100.101\naddress_0=192.168.100.102\n",
		"not IPv6":       "IPv6address_0=fd00::100::101\n",
		"a zone":         "IPv6address_0=fe80::1%eth0\n",
		"repeated IPv6":  "IPv6address_0=fd00::1\nIPv6address_0=fd00::2\n",
	} {
		if _, err := hccnDeviceIPs([]byte(bad), []int{0}); err == nil || !strings.Contains(err.Error(), "line") {
			t.Errorf("%s: %v", name, err)
		}
	}
	if idx := sched.NPUIndices("npu:0-3;cpu:2"); len(idx) != 4 || idx[3] != 3 {
		t.Errorf("NPUIndices: %v", idx)
	}
}
