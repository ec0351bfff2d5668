package supervisor

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"bloom/daemon/coord"
)

// An NPU job's workers get an HCCL rank table (version 1.0, the file
// RANK_TABLE_FILE names; collective.md §2): every rank of the attempt's
// plan as a device of its node, so that a data path over real HCCL has what
// it needs. Servers are the plan's nodes in the order of their first rank;
// each device is an NPU index from that node's --devices, its device_ip
// (the NPU's own NIC, which each node reads from its /etc/hccn.conf and
// gossips: Member.DeviceIPs) and its rank. HCCL's parser (hcomm's
// topoinfo_ranktableConcise.cc and config.cc) needs device_ip on every
// device of a table spanning servers, each address unique in the table,
// and across servers all of one family (IPv4 or IPv6), as it wants the
// host_ips: a table that breaks one of these is not written, and the
// warning names the NPUs. On one server it does without device_ip, on
// every SoC (unless HCCL_INTRA_ROCE_ENABLE=1), so there a missing one is
// left out.

type rankTableJSON struct {
	Status      string            `json:"status"`
	Version     string            `json:"version"`
	ServerCount string            `json:"server_count"`
	ServerList  []rankTableServer `json:"server_list"`
}

type rankTableServer struct {
	ServerID string            `json:"server_id"`
	HostIP   string            `json:"host_ip,omitempty"`
	Device   []rankTableDevice `json:"device"`
}

type rankTableDevice struct {
	DeviceID string `json:"device_id"`
	DeviceIP string `json:"device_ip,omitempty"`
	RankID   string `json:"rank_id"`
}

// rankTable is the HCCL rank table of plan, or nil when the plan has a
// rank that is not on an NPU. deviceOf resolves a node's --devices and a
// plan position to a device kind and index. HCCL forbids a server's ranks
// to interleave with another's; a plan that does is refused.
func rankTable(st *coord.State, plan *coord.Plan, deviceOf func(devices string, pos int) (string, int, error)) ([]byte, error) {
	rt := rankTableJSON{Status: "completed", Version: "1.0"}
	at := map[string]int{}
	last := -1
	var noIP []string
	ipOf := map[netip.Addr]string{} // device_ip: the NPU it is
	families := map[bool]string{}   // IPv4?: an NPU whose device_ip is
	for i, r := range plan.Ranks {
		if r.Rank != i {
			return nil, fmt.Errorf("rank table: plan rank %d at position %d", r.Rank, i)
		}
		m := st.Members[r.Node]
		if m == nil {
			return nil, fmt.Errorf("rank table: rank %d is on %s, which is not a member", r.Rank, r.Node)
		}
		kind, idx, err := deviceOf(m.Devices, r.Device)
		if err != nil {
			return nil, err
		}
		if kind != "npu" {
			return nil, nil
		}
		s, seen := at[r.Node]
		if !seen {
			s = len(rt.ServerList)
			at[r.Node] = s
			rt.ServerList = append(rt.ServerList, rankTableServer{ServerID: r.Node, HostIP: hostIP(m)})
		} else if s != last {
			return nil, fmt.Errorf("rank table: the ranks of %s interleave with another node's, which HCCL does not allow", r.Node)
		}
		last = s
		npu := fmt.Sprintf("%s's NPU %d", r.Node, idx)
		ip := m.DeviceIP(idx)
		if ip == "" {
			noIP = append(noIP, npu)
		} else if a, err := netip.ParseAddr(ip); err != nil {
			return nil, fmt.Errorf("rank table: %s's device_ip %q is not an IP address", npu, ip)
		} else if other, dup := ipOf[a]; dup {
			return nil, fmt.Errorf("rank table: %s and %s have the same device_ip %s, which HCCL refuses (check their nodes' hccn.conf)", other, npu, ip)
		} else {
			ipOf[a] = npu
			families[a.Is4()] = npu
		}
		rt.ServerList[s].Device = append(rt.ServerList[s].Device, rankTableDevice{DeviceID: strconv.Itoa(idx), DeviceIP: ip, RankID: strconv.Itoa(r.Rank)})
	}
	if len(rt.ServerList) > 1 {
		if len(noIP) > 0 {
			return nil, fmt.Errorf("rank table: HCCL needs every NPU's device_ip across servers, and none is known for %s "+
				"(bloomd reads them from /etc/hccn.conf's address_<device id> or IPv6address_<device id> lines, or the file --hccn-conf names)", strings.Join(noIP, ", "))
		}
		if len(families) > 1 {
			return nil, fmt.Errorf("rank table: HCCL needs the device_ips across servers all IPv4 or all IPv6, and %s's is IPv4, %s's IPv6",
				families[true], families[false])
		}
		hosts := map[bool]string{}
		for _, srv := range rt.ServerList {
			if a, err := netip.ParseAddr(srv.HostIP); err == nil {
				hosts[a.Is4()] = srv.ServerID
			}
		}
		if len(hosts) > 1 {
			return nil, fmt.Errorf("rank table: HCCL needs the host_ips across servers all IPv4 or all IPv6, and %s's is IPv4, %s's IPv6",
				hosts[true], hosts[false])
		}
	}
	rt.ServerCount = strconv.Itoa(len(rt.ServerList))
	return json.MarshalIndent(rt, "", "  ")
}

// hostIP is the IP address a member's data plane listens on, when it is
// one ("" for a name).
func hostIP(m *coord.Member) string {
	for _, addr := range []string{m.QUICAddr, m.RaftAddr} {
		if host, _, err := net.SplitHostPort(addr); err == nil && net.ParseIP(host) != nil {
			return host
		}
	}
	return ""
}

// writeRankTable writes the attempt's rank table next to the worker's log
// and returns the RANK_TABLE_FILE setting for its environment; none for a
// plan that is not all NPUs, or when the table cannot be made (logged).
func (s *Supervisor) writeRankTable(st *coord.State, key Key) []string {
	job := st.Jobs[key.Job]
	if s.env.DeviceOf == nil || job == nil || job.Plan == nil {
		return nil
	}
	b, err := rankTable(st, job.Plan, s.env.DeviceOf)
	if err != nil {
		s.env.Log.Warn("no HCCL rank table for this attempt", "job", key.Job, "attempt", key.Attempt, "err", err)
		return nil
	}
	if b == nil {
		return nil
	}
	path := filepath.Join(filepath.Dir(s.env.LogPath(key.Job, key.Attempt, key.Rank)), fmt.Sprintf("rank_table.attempt%d.json", key.Attempt))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err == nil {
		err = os.WriteFile(path, append(b, '\n'), 0o644)
	}
	if err != nil {
		s.env.Log.Warn("writing the HCCL rank table", "path", path, "err", err)
		return nil
	}
	return []string{"RANK_TABLE_FILE=" + path}
}
