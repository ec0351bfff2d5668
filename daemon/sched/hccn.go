package sched

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
)

// An NPU's own NIC (HCCL's RoCE link between servers) has an address that
// only its node knows: /etc/hccn.conf, written by hccn_tool, holds one
// "address_<device id>=<IP>" line per NPU beside its netmask, gateway and
// detection lines. HCCL's rank table names it as each device's device_ip,
// which a table spanning servers must have (collective.md §2). The node
// gossips its NPUs' addresses as DeviceIPs: "0=192.168.100.101,1=..."
// (coord.Member.DeviceIP reads them).

// HCCNDeviceIPs reads the address lines of an hccn.conf for the NPUs in
// indices and returns them as DeviceIPs, in index order; an NPU the file
// has no address for is left out. A malformed or repeated address line is
// an error: the file is the node's, and a wrong address would only fail
// later, inside HCCL.
func HCCNDeviceIPs(conf []byte, indices []int) (string, error) {
	found := map[int]string{}
	sc := bufio.NewScanner(bytes.NewReader(conf))
	for line := 1; sc.Scan(); line++ {
		key, val, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		num, isAddr := strings.CutPrefix(strings.TrimSpace(key), "address_")
		if !ok || !isAddr {
			continue
		}
		id, err := strconv.Atoi(num)
		ip := net.ParseIP(strings.TrimSpace(val))
		if err != nil || id < 0 || id > 255 || ip == nil {
			return "", fmt.Errorf("hccn.conf line %d: %q is not address_<device id 0..255>=<IP address>", line, sc.Text())
		}
		if _, dup := found[id]; dup {
			return "", fmt.Errorf("hccn.conf line %d: a second address for NPU %d", line, id)
		}
		found[id] = ip.String()
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("hccn.conf: %w", err)
	}
	var pairs []string
	for _, i := range slices.Sorted(slices.Values(indices)) {
		if ip, ok := found[i]; ok {
			pairs = append(pairs, strconv.Itoa(i)+"="+ip)
		}
	}
	return strings.Join(pairs, ","), nil
}

// NPUIndices are the NPU indices a node's --devices offers.
func NPUIndices(devices string) []int {
	devs, _ := ParseDevices(devices)
	var idx []int
	for _, d := range devs {
		if d.Kind == "npu" {
			idx = append(idx, d.Indices...)
		}
	}
	return idx
}
