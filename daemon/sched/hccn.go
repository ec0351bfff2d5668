package sched

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// An NPU's own NIC (HCCL's RoCE link between servers) has an address that
// only its node knows: /etc/hccn.conf, written by hccn_tool, holds one
// "address_<device id>=<IP>" line per NPU beside its netmask, gateway and
// detection lines, and "IPv6address_<device id>=<IP>" for an IPv6 address
// (hccn_tool -ip -inet6, with IPv6netmask_ and the like beside it). HCCL's
// rank table names it as each device's device_ip, which a table spanning
// servers must have (collective.md §2). The node gossips its NPUs'
// addresses as DeviceIPs: "0=192.168.100.101,1=..." (coord.Member.DeviceIP
// reads them).

// HCCNDeviceIPs reads the address lines of an hccn.conf for the NPUs in
// indices and returns them as DeviceIPs, in index order; an NPU the file
// has no address for is left out, and one with both an address_ and an
// IPv6address_ line gets the first (as CANN's own readers of the file
// prefer IPv4). A malformed or repeated address line is an error: the file
// is the node's, and a wrong address would only fail later, inside HCCL.
func HCCNDeviceIPs(conf []byte, indices []int) (string, error) {
	found := [2]map[int]string{{}, {}} // address_, IPv6address_
	sc := bufio.NewScanner(bytes.NewReader(conf))
	for line := 1; sc.Scan(); line++ {
		key, val, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		key = strings.TrimSpace(key)
		kind, prefix := 0, "address_"
		if strings.HasPrefix(key, "IPv6address_") {
			kind, prefix = 1, "IPv6address_"
		}
		num, isAddr := strings.CutPrefix(key, prefix)
		if !ok || !isAddr {
			continue
		}
		id, err := strconv.Atoi(num)
		ip, ipErr := netip.ParseAddr(strings.TrimSpace(val))
		if err != nil || id < 0 || id > 255 || ipErr != nil || ip.Zone() != "" {
			return "", fmt.Errorf("hccn.conf line %d: %q is not %s<device id 0..255>=<IP address>", line, sc.Text(), prefix)
		}
		if _, dup := found[kind][id]; dup {
			return "", fmt.Errorf("hccn.conf line %d: a second %s line for NPU %d", line, prefix, id)
		}
		found[kind][id] = ip.String()
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("hccn.conf: %w", err)
	}
	var pairs []string
	for _, i := range slices.Sorted(slices.Values(indices)) {
		for _, f := range found {
			if ip, ok := f[i]; ok {
				pairs = append(pairs, strconv.Itoa(i)+"="+ip)
				break
			}
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
