package daemon

import (
	"bufio"
	"bytes"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"

	"bloom/daemon/sched"
)

// ReadDeviceIPs reads the addresses of the NPUs in devices from the
// hccn.conf at path (HCCL's device_ip for rank tables across servers), as
// Config.DeviceIPs. A node without NPUs reads nothing. A file that cannot
// be read or parsed is an error only when the path was named (bloomd
// join's --hccn-conf): the default /etc/hccn.conf may be absent, or not
// readable by bloomd's user, on a single server, which needs none, so
// that is a warning (rank tables across nodes then are not written), as
// is an NPU the file has no address for.
func ReadDeviceIPs(devices, path string, named bool, log *slog.Logger) (string, error) {
	npus := sched.NPUIndices(devices)
	if len(npus) == 0 {
		return "", nil
	}
	conf, err := os.ReadFile(path)
	var ips string
	if err == nil {
		ips, err = hccnDeviceIPs(conf, npus)
	}
	switch {
	case err != nil && named:
		return "", fmt.Errorf("--hccn-conf %s: %w", path, err)
	case err != nil:
		log.Warn("the NPUs' NIC addresses (device_ip) were not read, so NPU jobs across nodes get no HCCL rank table "+
			"(configure the NPUs' NICs with hccn_tool, or name the file with --hccn-conf)", "path", path, "err", err)
		return "", nil
	}
	if n := strings.Count(ips, "="); n < len(npus) {
		log.Warn("hccn.conf has no address for some of this node's NPUs: rank tables across nodes need one for each", "path", path, "npus", len(npus), "addresses", n)
	}
	return ips, nil
}

// An NPU's own NIC (HCCL's RoCE link between servers) has an address that
// only its node knows: /etc/hccn.conf, written by hccn_tool, holds one
// "address_<device id>=<IP>" line per NPU beside its netmask, gateway and
// detection lines, and "IPv6address_<device id>=<IP>" for an IPv6 address
// (hccn_tool -ip -inet6, with IPv6netmask_ and the like beside it). HCCL's
// rank table names it as each device's device_ip, which a table spanning
// servers must have (shared/reference/collective.md §2). The node gossips its NPUs'
// addresses as DeviceIPs: "0=192.168.100.101,1=..." (coord.Member.DeviceIP
// reads them).

// hccnDeviceIPs reads the address lines of an hccn.conf for the NPUs in
// indices and returns them as DeviceIPs, in index order; an NPU the file
// has no address for is left out, and one with both an address_ and an
// IPv6address_ line gets its address_ line's, whichever comes first in the
// file (as CANN's own readers of the file look for address_ first). A malformed or repeated address line is an error: the file
// is the node's, and a wrong address would only fail later, inside HCCL.
func hccnDeviceIPs(conf []byte, indices []int) (string, error) {
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
