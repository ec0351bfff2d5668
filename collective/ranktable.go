package collective

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"
)

// RankTable is an HCCL rank table, version 1.0 or 1.2 (the file
// RANK_TABLE_FILE names): servers, each with devices, each device one rank.
// Every value in the file is a string.
type RankTable struct {
	Status      string
	Version     string
	ServerCount int
	Servers     []RankTableServer
	ranks       []rankEntry // by rank
}

// RankTableServer is one server_list entry.
type RankTableServer struct {
	ID      string // server_id
	HostIP  string // host_ip (optional)
	Devices []RankTableDevice
}

// RankTableDevice is one device entry: one rank.
type RankTableDevice struct {
	DeviceID   int
	DeviceIP   string   // the first of device_ip's addresses ("" if absent; optional on one server)
	DeviceIPs  []string // all of device_ip's addresses (HCCL takes a comma-separated list)
	DevicePort int      // device_port (0 if absent)
	HostPort   int      // host_port (0 if absent)
	Rank       int      // rank_id
}

type rankEntry struct {
	server int
	dev    RankTableDevice
}

// ErrRankTableNotReady: the table's status is not "completed" (a scheduler
// writes "initializing" first and completes the file later). HCCL rereads
// such a file until it is complete; JoinRankTable does too, within
// Config.ConnectTimeout.
var ErrRankTableNotReady = errors.New("collective: rank table is not ready")

type rawRankTable struct {
	Status      *string `json:"status"`
	Version     string  `json:"version"`
	ServerCount *string `json:"server_count"`
	ServerList  []struct {
		ServerID string `json:"server_id"`
		HostIP   string `json:"host_ip"`
		Device   []struct {
			DeviceID   string `json:"device_id"`
			DeviceIP   string `json:"device_ip"`
			DevicePort string `json:"device_port"`
			HostPort   string `json:"host_port"`
			RankID     string `json:"rank_id"`
		} `json:"device"`
	} `json:"server_list"`
}

// ParseRankTable reads and checks a rank table as HCCL's parser of versions
// 1.0 and 1.2 does (TopoinfoRanktableConcise): status "completed" (else an
// error matching ErrRankTableNotReady), server_count optional but, when
// given, equal to the servers listed; server_ids non-empty, at most 64
// bytes and unique; host_ip an IP address; device_ip, where given, one or
// more comma-separated IP addresses, each unique in the table, as many on
// every device that has one (a table across servers with devices lacking
// one passes here, as bloom's own transport does not use them; HCCL's
// documentation asks for them); ports 1..65535; rank_ids 0..n-1 each once. Across servers
// the host_ips are of one address family, and so are the device_ips. It
// also refuses what HCCL's documentation forbids but its parser lets
// through: a server's ranks not contiguous. Version 1.2's super-pod fields
// (A3) are not read.
func ParseRankTable(data []byte) (*RankTable, error) {
	var raw rawRankTable
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("collective: rank table is not JSON: %w", err)
	}
	bad := func(format string, a ...any) (*RankTable, error) {
		return nil, fmt.Errorf("collective: rank table: "+format, a...)
	}
	if raw.Status == nil {
		return bad("no status")
	}
	if *raw.Status != "completed" {
		return nil, fmt.Errorf("%w: its status is %q; only a \"completed\" table can be used", ErrRankTableNotReady, *raw.Status)
	}
	if raw.Version != "1.0" && raw.Version != "1.2" {
		return bad("version %q is not supported (want \"1.0\", or \"1.2\" of an A3 super pod)", raw.Version)
	}
	if len(raw.ServerList) == 0 {
		return bad("no servers")
	}
	rt := &RankTable{Status: *raw.Status, Version: raw.Version, ServerCount: len(raw.ServerList)}
	if raw.ServerCount != nil {
		if n, err := strconv.Atoi(*raw.ServerCount); err != nil || n != len(raw.ServerList) {
			return bad("server_count %q does not match the %d servers listed", *raw.ServerCount, len(raw.ServerList))
		}
	}
	num := func(field, s string, optional bool) (int, error) {
		if s == "" && optional {
			return 0, nil
		}
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 || v > 1<<20 {
			return 0, fmt.Errorf("collective: rank table: %s %q is not a non-negative integer", field, s)
		}
		return v, nil
	}
	port := func(field, s string) (int, error) {
		v, err := num(field, s, true)
		if err == nil && s != "" && (v == 0 || v > 65535) {
			err = fmt.Errorf("collective: rank table: %s %q is not a port (1..65535)", field, s)
		}
		return v, err
	}
	multi := len(raw.ServerList) > 1
	var hostV4, hostV6, devV4, devV6 bool
	family := func(a netip.Addr, v4, v6 *bool) { // as HCCL's: "::ffff:a.b.c.d" is IPv6
		if a.Is4() {
			*v4 = true
		} else {
			*v6 = true
		}
	}
	seen := map[string]bool{}
	seenIP := map[netip.Addr]bool{}
	ipsPerDevice := -1
	for si, s := range raw.ServerList {
		if s.ServerID == "" || len(s.ServerID) > 64 || seen[s.ServerID] {
			return bad("server_id %q is empty, longer than 64 or repeated", s.ServerID)
		}
		seen[s.ServerID] = true
		srv := RankTableServer{ID: s.ServerID, HostIP: s.HostIP}
		if s.HostIP != "" {
			a, err := netip.ParseAddr(s.HostIP)
			if err != nil {
				return bad("server %s: host_ip %q is not an IP address", s.ServerID, s.HostIP)
			}
			family(a, &hostV4, &hostV6)
		}
		for _, d := range s.Device {
			var dev RankTableDevice
			var err error
			if dev.DeviceID, err = num("device_id", d.DeviceID, false); err != nil {
				return nil, err
			}
			if dev.Rank, err = num("rank_id", d.RankID, false); err != nil {
				return nil, err
			}
			if dev.DevicePort, err = port("device_port", d.DevicePort); err != nil {
				return nil, err
			}
			if dev.HostPort, err = port("host_port", d.HostPort); err != nil {
				return nil, err
			}
			if d.DeviceIP != "" {
				for _, ip := range strings.Split(strings.TrimSuffix(d.DeviceIP, ","), ",") {
					a, err := netip.ParseAddr(ip)
					if err != nil {
						return bad("rank_id %d: device_ip %q is not a list of IP addresses", dev.Rank, d.DeviceIP)
					}
					if seenIP[a] {
						return bad("rank_id %d: device_ip %s is another device's too", dev.Rank, ip)
					}
					seenIP[a] = true
					family(a, &devV4, &devV6)
					dev.DeviceIPs = append(dev.DeviceIPs, ip)
				}
				dev.DeviceIP = dev.DeviceIPs[0]
			}
			if n := max(len(dev.DeviceIPs), 1); ipsPerDevice < 0 {
				ipsPerDevice = n
			} else if n != ipsPerDevice {
				return bad("rank_id %d has %d device_ip addresses, another device %d", dev.Rank, n, ipsPerDevice)
			}
			srv.Devices = append(srv.Devices, dev)
			if dev.Rank >= len(rt.ranks) {
				rt.ranks = append(rt.ranks, make([]rankEntry, dev.Rank+1-len(rt.ranks))...)
			}
			if rt.ranks[dev.Rank].server > 0 {
				return bad("rank_id %d appears twice", dev.Rank)
			}
			rt.ranks[dev.Rank] = rankEntry{server: si + 1, dev: dev}
		}
		if len(srv.Devices) == 0 {
			return bad("server %s has no devices", s.ServerID)
		}
		rt.Servers = append(rt.Servers, srv)
	}
	if multi && (hostV4 && hostV6 || devV4 && devV6) {
		return bad("across servers the host_ip addresses must all be IPv4 or all IPv6, and so must the device_ip addresses")
	}
	for r := range rt.ranks {
		e := &rt.ranks[r]
		if e.server == 0 {
			return bad("rank_id %d is missing (ranks must be 0..%d)", r, len(rt.ranks)-1)
		}
		if r > 0 && e.server != rt.ranks[r-1].server && seenBefore(rt.ranks[:r-1], e.server) {
			return bad("rank_id %d interleaves servers: each server's ranks must be contiguous", r)
		}
	}
	for r := range rt.ranks {
		rt.ranks[r].server--
	}
	return rt, nil
}

func seenBefore(entries []rankEntry, server int) bool {
	for _, e := range entries {
		if e.server == server {
			return true
		}
	}
	return false
}

// ReadRankTable parses the file at path.
func ReadRankTable(path string) (*RankTable, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("collective: %w", err)
	}
	return ParseRankTable(data)
}

// Size is the number of ranks.
func (rt *RankTable) Size() int { return len(rt.ranks) }

// Server is the server_id of rank's server.
func (rt *RankTable) Server(rank int) string { return rt.Servers[rt.ranks[rank].server].ID }

// Addr is the address the quic transport listens on and is reached at for
// rank. The quic transport runs on the host's network, not on the NPUs'
// own NICs that device_ip names (HCCL's RoCE links, which host sockets do
// not reach), so the host's address comes first: host_ip, else server_id
// when it is an address (as in 910 tables), with host_port, else
// basePort + device_id (a 910 table names no ports). Only a table that
// gives no host address at all is read as naming hosts in device_ip (its
// first address, with device_port, else basePort + device_id). basePort 0 means a port must be
// in the table.
func (rt *RankTable) Addr(rank, basePort int) (string, error) {
	e := rt.ranks[rank]
	srv := rt.Servers[e.server]
	ip, port := srv.HostIP, e.dev.HostPort
	if ip == "" && net.ParseIP(srv.ID) != nil {
		ip = srv.ID
	}
	if ip == "" {
		ip, port = e.dev.DeviceIP, e.dev.DevicePort
	}
	if port == 0 && basePort > 0 {
		port = basePort + e.dev.DeviceID
	}
	if ip == "" || port == 0 || port > 65535 {
		return "", fmt.Errorf("collective: rank table: rank %d has no address: the table gives neither host_ip nor an IP server_id nor device_ip, "+
			"or no port (host_port, device_port) and Config.RankTablePort is 0, or the port passes 65535", rank)
	}
	return net.JoinHostPort(ip, strconv.Itoa(port)), nil
}

// JoinRankTable makes rank of the communicator the rank table at path
// describes (HcclCommInitClusterInfo). Ranks on one server_id share a node:
// with transport shm they must all be on one; hybrid uses shm inside a
// server and quic across; quic and hybrid listen on the rank's Addr. A
// table whose status is not yet "completed" is read again every second, as
// HCCL does, until it is or Config.ConnectTimeout (which bounds the whole
// join) passes.
func JoinRankTable(ctx context.Context, cfg Config, path string, rank int) (*Comm, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeoutCause(ctx, cfg.ConnectTimeout, ErrTimeout)
	defer cancel()
	data, rt, err := readCompletedRankTable(ctx, path, rank)
	if err != nil {
		return nil, err
	}
	if rank < 0 || rank >= rt.Size() {
		return nil, fmt.Errorf("collective: rank %d is not in the rank table (0..%d)", rank, rt.Size()-1)
	}
	var id [16]byte
	sum := sha256.Sum256(data)
	copy(id[:], sum[:16])
	size := rt.Size()
	hosts := make([]string, size)
	for r := range hosts {
		hosts[r] = rt.Server(r)
	}
	if cfg.Transport == "shm" && len(rt.Servers) > 1 {
		return nil, fmt.Errorf("collective: transport shm needs every rank on one server; the table has %d (use hybrid)", len(rt.Servers))
	}
	if cfg.Transport != "quic" && cfg.Transport != "hybrid" {
		return join(ctx, cfg, id, rank, size, hosts, nil)
	}
	addrs := make([]string, size)
	at := map[string]int{}
	for r := range addrs {
		if addrs[r], err = rt.Addr(r, cfg.RankTablePort); err != nil {
			return nil, err
		}
		if q, dup := at[addrs[r]]; dup { // one would find its port taken, later and less clearly
			return nil, fmt.Errorf("collective: rank table: ranks %d and %d both get the address %s (the same host with the same device_id or port)", q, r, addrs[r])
		}
		at[addrs[r]] = r
	}
	cfg.ListenAddr = addrs[rank]
	e, err := Listen(cfg)
	if err != nil {
		return nil, err
	}
	e.joined = true
	e.quic.mu.Lock()
	e.quic.commID, e.quic.rank, e.quic.addrs = id, rank, addrs
	e.quic.mu.Unlock()
	return join(ctx, cfg, id, rank, size, hosts, e.quic)
}

// rankTablePoll is how often a table that is not ready is read again
// (HCCL's LoadFile: every second); rankTableWaited, when set (tests), is
// told of each read that found it not ready, by rank.
var (
	rankTablePoll   = time.Second
	rankTableWaited func(rank int)
)

// readCompletedRankTable reads and parses the table at path for rank,
// again while its status is not "completed", until ctx ends.
func readCompletedRankTable(ctx context.Context, path string, rank int) ([]byte, *RankTable, error) {
	for {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, nil, fmt.Errorf("collective: %w", err)
		}
		rt, err := ParseRankTable(data)
		if !errors.Is(err, ErrRankTableNotReady) {
			return data, rt, err
		}
		if rankTableWaited != nil {
			rankTableWaited(rank)
		}
		select {
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("%w, and was not completed while joining: %w", err, context.Cause(ctx))
		case <-time.After(rankTablePoll):
		}
	}
}
