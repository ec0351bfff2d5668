package daemon

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadDeviceIPs: a node with NPUs reads their addresses from the
// hccn.conf; the default file may be missing (one server needs none), a
// named one may not; a node without NPUs reads nothing.
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
	if _, err := ReadDeviceIPs("npu:0", path, false, log); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("a malformed file: %v", err)
	}
}
