package collective

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"bloom/internal/testutil"
)

// rankTable writes a version 1.0 table: servers[i] devices on server i.
func rankTable(servers ...int) string {
	var list []string
	rank := 0
	for s, n := range servers {
		var devs []string
		for d := range n {
			devs = append(devs, fmt.Sprintf(`{"device_id": "%d", "device_ip": "192.168.%d.%d", "device_port": "16667", "rank_id": "%d"}`, d, s, d+8, rank))
			rank++
		}
		list = append(list, fmt.Sprintf(`{"server_id": "node_%d", "host_ip": "172.16.0.%d", "device": [%s]}`, s, 110+s, strings.Join(devs, ", ")))
	}
	return fmt.Sprintf(`{"status": "completed", "version": "1.0", "server_count": "%d", "server_list": [%s]}`, len(servers), strings.Join(list, ", "))
}

func TestParseRankTable(t *testing.T) {
	rt, err := ParseRankTable([]byte(rankTable(2, 2)))
	if err != nil {
		t.Fatal(err)
	}
	if rt.Size() != 4 || rt.Server(1) != "node_0" || rt.Server(2) != "node_1" {
		t.Fatalf("size %d, servers %s %s", rt.Size(), rt.Server(1), rt.Server(2))
	}
	if a, err := rt.Addr(3, 60100); err != nil || a != "172.16.0.111:60101" {
		t.Fatalf("addr of rank 3: %q %v", a, err)
	}
	bad := map[string]string{
		"not json":        `{`,
		"no status":       strings.Replace(rankTable(2), `"status": "completed", `, "", 1),
		"no servers":      `{"status": "completed", "version": "1.0", "server_count": "0", "server_list": []}`,
		"host_ip a name":  strings.Replace(rankTable(2), "172.16.0.110", "node-a", 1),
		"device_ip":       strings.Replace(rankTable(2), "192.168.0.9", "192.168.0", 1),
		"device_ip twice": strings.Replace(rankTable(2, 2), "192.168.1.9", "192.168.0.9", 1),
		"device_ips":      strings.Replace(rankTable(2), `"192.168.0.9"`, `"192.168.0.9,192.168.0.10"`, 1),
		"empty ip":        strings.Replace(rankTable(2), `"192.168.0.9"`, `"192.168.0.9,,192.168.0.10"`, 1),
		"device_port 0":   strings.Replace(rankTable(2), `"device_port": "16667"`, `"device_port": "0"`, 1),
		"host_port big":   strings.Replace(rankTable(2), `"device_port": "16667"`, `"host_port": "65536"`, 1),
		"ip families":     strings.NewReplacer(`"192.168.1.8"`, `"fd00::1:8"`, `"192.168.1.9"`, `"fd00::1:9"`).Replace(rankTable(2, 2)),
		"host families":   strings.Replace(rankTable(2, 2), "172.16.0.111", "fd00::111", 1),
		"number":          strings.Replace(rankTable(2), `"rank_id": "1"`, `"rank_id": 1`, 1),
		"version":         strings.Replace(rankTable(2), `"1.0"`, `"0.9"`, 1),
		"server count":    strings.Replace(rankTable(2, 2), `"server_count": "2"`, `"server_count": "3"`, 1),
		"duplicate rank":  strings.Replace(rankTable(2, 2), `"rank_id": "3"`, `"rank_id": "1"`, 1),
		"missing rank":    strings.Replace(rankTable(2, 2), `"rank_id": "3"`, `"rank_id": "7"`, 1),
		"non-numeric":     strings.Replace(rankTable(2), `"rank_id": "1"`, `"rank_id": "one"`, 1),
		"duplicate serve": strings.Replace(rankTable(1, 1), "node_1", "node_0", 1),
		"interleaved": strings.NewReplacer(`"rank_id": "1"`, `"rank_id": "2"`, `"rank_id": "2"`, `"rank_id": "1"`).
			Replace(rankTable(2, 2)),
	}
	for name, table := range bad {
		if _, err := ParseRankTable([]byte(table)); err == nil {
			t.Errorf("%s: accepted", name)
		} else if errors.Is(err, ErrRankTableNotReady) {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, status := range []string{"initializing", ""} {
		table := strings.Replace(rankTable(2), `"completed"`, strconv.Quote(status), 1)
		if _, err := ParseRankTable([]byte(table)); !errors.Is(err, ErrRankTableNotReady) {
			t.Errorf("status %q: %v", status, err)
		}
	}
	// What HCCL's parser takes besides: no server_count (it counts the
	// servers), version 1.2 (A3 super pods; super_pod_list is not read),
	// several NIC addresses in one device_ip (a trailing comma allowed),
	// one server's device_ip in both families, IPv6 everywhere.
	good := map[string]string{
		"no server_count": strings.Replace(rankTable(2, 2), `"server_count": "2", `, "", 1),
		"1.2":             strings.Replace(rankTable(2), `"version": "1.0"`, `"version": "1.2", "super_pod_list": [{"super_pod_id": "0", "server_list": [{"server_id": "node_0"}]}]`, 1),
		"ip lists": strings.NewReplacer(`"192.168.0.8"`, `"192.168.0.8,192.168.10.8,"`, `"192.168.0.9"`, `"192.168.0.9,192.168.10.9"`).
			Replace(rankTable(2)),
		"one server, two families": strings.Replace(rankTable(2), `"192.168.0.9"`, `"fd00::9"`, 1),
		"IPv6": strings.NewReplacer(`"192.168.0.8"`, `"fd00::8"`, `"192.168.1.8"`, `"fd00::1:8"`, "172.16.0.110", "fd00::110", "172.16.0.111", "fd00::111").
			Replace(rankTable(1, 1)),
	}
	for name, table := range good {
		rt, err := ParseRankTable([]byte(table))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if _, err := rt.Addr(0, 60100); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	rt, _ = ParseRankTable([]byte(good["ip lists"]))
	if d := rt.Servers[0].Devices[0]; d.DeviceIP != "192.168.0.8" || len(d.DeviceIPs) != 2 || d.DeviceIPs[1] != "192.168.10.8" {
		t.Errorf("device_ip list: %+v", d)
	}
	if rt, _ = ParseRankTable([]byte(good["no server_count"])); rt == nil || rt.ServerCount != 2 {
		t.Errorf("no server_count: %+v", rt)
	}
}

// TestRankTableAddr: the quic transport's address for a rank is the
// host's (host_ip, else an IP server_id) with host_port, else the base port
// plus device_id; device_ip only when the table names no host at all.
func TestRankTableAddr(t *testing.T) {
	table := func(server, device string) string {
		return fmt.Sprintf(`{"status": "completed", "version": "1.0", "server_count": "1", "server_list": [{%s, "device": [
			{"device_id": "0", "rank_id": "0", "device_ip": "192.168.100.101"},
			{"device_id": "3", "rank_id": "1", %s}]}]}`, server, device)
	}
	cases := []struct {
		name, server, device string
		base                 int
		want                 string // "" = an error
	}{
		// Atlas 910 template 1: server_id is the host's address, no ports.
		{"910", `"server_id": "10.0.0.10"`, `"device_ip": "192.168.100.104"`, 60100, "10.0.0.10:60103"},
		{"910 without a base port", `"server_id": "10.0.0.10"`, `"device_ip": "192.168.100.104"`, 0, ""},
		{"host_ip and host_port", `"server_id": "node_0", "host_ip": "172.16.0.110"`, `"device_ip": "192.168.1.9", "device_port": "16667", "host_port": "16670"`, 60100, "172.16.0.110:16670"},
		{"host_ip, device_port only", `"server_id": "node_0", "host_ip": "172.16.0.110"`, `"device_ip": "192.168.1.9", "device_port": "16667"`, 60100, "172.16.0.110:60103"},
		{"no host address", `"server_id": "node_0"`, `"device_ip": "127.0.0.2", "device_port": "16667"`, 60100, "127.0.0.2:16667"},
		{"no host address, no port", `"server_id": "node_0"`, `"device_ip": "127.0.0.2"`, 60100, "127.0.0.2:60103"},
		{"IPv6 host", `"server_id": "fd00::10"`, `"device_ip": "192.168.100.104"`, 60100, "[fd00::10]:60103"},
		{"no address", `"server_id": "node_0"`, `"host_port": "16670"`, 60100, ""},
		{"port past 65535", `"server_id": "10.0.0.10"`, `"device_ip": "192.168.100.104"`, 65534, ""},
	}
	for _, c := range cases {
		rt, err := ParseRankTable([]byte(table(c.server, c.device)))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got, err := rt.Addr(1, c.base)
		if c.want == "" {
			if err == nil || !strings.Contains(err.Error(), "has no address") {
				t.Errorf("%s: %q, %v; want an error", c.name, got, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s: %q, %v; want %s", c.name, got, err, c.want)
		}
	}
}

func FuzzParseRankTable(f *testing.F) {
	f.Add([]byte(rankTable(2, 2)))
	f.Add([]byte(rankTable(3)))
	f.Fuzz(func(t *testing.T, data []byte) {
		rt, err := ParseRankTable(data)
		if err != nil {
			return
		}
		for r := range rt.Size() {
			rt.Server(r)
			rt.Addr(r, 60100)
		}
	})
}

// TestJoinRankTable: a two-server table gives the hierarchical allreduce
// (mem), a one-server table runs over shm.
func TestJoinRankTable(t *testing.T) {
	testutil.CheckLeaks(t, 10*time.Second)
	for _, tc := range []struct {
		transport string
		servers   []int
	}{{"mem", []int{2, 2}}, {"mem", []int{3}}, {"shm", []int{3}}} {
		path := filepath.Join(t.TempDir(), "rank_table.json")
		if err := os.WriteFile(path, []byte(rankTable(tc.servers...)), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := testConfig(t, tc.transport)
		n := 0
		for _, s := range tc.servers {
			n += s
		}
		comms := make([]*Comm, n)
		errs := make([]error, n)
		done := make(chan int, n)
		for r := range n {
			go func() {
				comms[r], errs[r] = JoinRankTable(context.Background(), cfg, path, r)
				done <- r
			}()
		}
		for range n {
			<-done
		}
		allOK(t, "join rank table", errs)
		t.Cleanup(func() { closeAll(comms) })
		if want := len(tc.servers) > 1; comms[0].Hierarchical() != want {
			t.Errorf("%v: hierarchical %v, want %v", tc.servers, comms[0].Hierarchical(), want)
		}
		checkAllReduce(t, comms, Float32, Sum, 1001)
		checkAllReduce(t, comms, BFloat16, Sum, 333)
	}
}

// quicRankTable binds one UDP socket per rank on loopback and writes a
// version 1.0 table with their ports: servers[i] devices on server i.
// Even servers give host_ip 127.0.0.1 and their devices host_port; odd
// ones no host address, their devices device_ip (one 127.0.1.x each) and
// device_port (RankTable.Addr reads both).
func quicRankTable(t *testing.T, servers ...int) (table string, socks []*net.UDPConn) {
	t.Helper()
	var list []string
	for s, n := range servers {
		var devs []string
		for d := range n {
			ip := net.IPv4(127, 0, 0, 1)
			if s%2 == 1 { // device_ip is unique in a table (HCCL's rule too): one loopback address each
				ip = net.IPv4(127, 0, 1, byte(1+len(socks)))
			}
			udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip})
			if err != nil {
				t.Fatal(err)
			}
			port := udp.LocalAddr().(*net.UDPAddr).Port
			addr := fmt.Sprintf(`"device_ip": "%s", "device_port": "%d"`, ip, port)
			if s%2 == 0 {
				addr = fmt.Sprintf(`"device_ip": "192.168.%d.%d", "host_port": "%d"`, 100+s, 101+d, port)
			}
			devs = append(devs, fmt.Sprintf(`{"device_id": "%d", %s, "rank_id": "%d"}`, d, addr, len(socks)))
			socks = append(socks, udp)
		}
		host := ""
		if s%2 == 0 {
			host = `"host_ip": "127.0.0.1", `
		}
		list = append(list, fmt.Sprintf(`{"server_id": "node_%d", %s"device": [%s]}`, s, host, strings.Join(devs, ", ")))
	}
	table = fmt.Sprintf(`{"status": "completed", "version": "1.0", "server_count": "%d", "server_list": [%s]}`, len(servers), strings.Join(list, ", "))
	return table, socks
}

// TestJoinRankTableQUIC: ranks join from a rank table over quic on
// loopback, each listening on the address its entry names, then AllReduce:
// two servers of two give the two-level allreduce, three of one the flat
// ring across servers. The sockets are bound before the table is written
// and handed to the ranks (Config.listenConn), so no port can be lost.
func TestJoinRankTableQUIC(t *testing.T) {
	testutil.CheckLeaks(t, 10*time.Second)
	for _, servers := range [][]int{{2, 2}, {1, 1, 1}} {
		table, socks := quicRankTable(t, servers...)
		path := filepath.Join(t.TempDir(), "rank_table.json")
		if err := os.WriteFile(path, []byte(table), 0o600); err != nil {
			t.Fatal(err)
		}
		n := len(socks)
		comms := make([]*Comm, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for r := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cfg := testConfig(t, "quic")
				cfg.ChunkBytes = 4096
				cfg.listenConn = socks[r]
				comms[r], errs[r] = JoinRankTable(context.Background(), cfg, path, r)
			}()
		}
		wg.Wait()
		allOK(t, "join rank table over quic", errs)
		t.Cleanup(func() { closeAll(comms) })
		for r, c := range comms {
			if c.Rank() != r || c.Size() != n || c.Hierarchical() != (len(servers) > 1 && servers[0] > 1) {
				t.Fatalf("%v: rank %d: Rank %d Size %d Hierarchical %v", servers, r, c.Rank(), c.Size(), c.Hierarchical())
			}
			e := c.tr.(*quicEndpoint)
			for p, s := range socks {
				if e.addrs[p] != s.LocalAddr().String() {
					t.Fatalf("%v: rank %d reaches rank %d at %s, its socket is %s", servers, r, p, e.addrs[p], s.LocalAddr())
				}
			}
		}
		checkAllReduce(t, comms, Float32, Sum, 100003)
		checkAllReduce(t, comms, BFloat16, Sum, 333)
		checkAllReduce(t, comms, Int32, Max, 1001)
	}
}

// TestJoinRankTableSameAddress: two ranks that would listen on one
// address (one host, the same device_id, no port in the table) are refused
// when joining, naming both.
func TestJoinRankTableSameAddress(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rank_table.json")
	table := `{"status": "completed", "version": "1.0", "server_list": [{"server_id": "127.0.0.1", "device": [
		{"device_id": "0", "rank_id": "0"}, {"device_id": "0", "rank_id": "1"}]}]}`
	if err := os.WriteFile(path, []byte(table), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := JoinRankTable(context.Background(), testConfig(t, "quic"), path, 0)
	if err == nil || !strings.Contains(err.Error(), "ranks 0 and 1 both get the address 127.0.0.1:60100") {
		t.Fatalf("two ranks on one address: %v", err)
	}
}

// TestJoinRankTableNoAddress: over quic every rank needs an address: with
// no port in the table and no RankTablePort, none.
func TestJoinRankTableNoAddress(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rank_table.json")
	table := strings.ReplaceAll(rankTable(2), `"device_port": "16667", `, "")
	if err := os.WriteFile(path, []byte(table), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, "quic")
	cfg.RankTablePort = 0
	_, err := JoinRankTable(context.Background(), cfg, path, 0)
	if err == nil || !strings.Contains(err.Error(), "has no address") {
		t.Fatalf("join from a table without ports: %v", err)
	}
}

// TestJoinRankTableWaits: a table written "initializing" and completed
// later (as a cluster scheduler does) is read again until it is complete,
// as HCCL does; one that stays incomplete fails at ConnectTimeout.
func TestJoinRankTableWaits(t *testing.T) {
	testutil.CheckLeaks(t, 10*time.Second)
	defer func(p time.Duration) { rankTablePoll = p }(rankTablePoll)
	rankTablePoll = 10 * time.Millisecond
	var waited [2]atomic.Int64
	rankTableWaited = func(rank int) { waited[rank].Add(1) }
	defer func() { rankTableWaited = nil }()
	dir := t.TempDir()
	path := filepath.Join(dir, "rank_table.json")
	write := func(table string) {
		tmp := filepath.Join(dir, "tmp.json")
		if err := os.WriteFile(tmp, []byte(table), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	initializing := strings.Replace(rankTable(2), `"completed"`, `"initializing"`, 1)
	write(initializing)
	cfg := testConfig(t, "mem")
	comms := make([]*Comm, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for r := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			comms[r], errs[r] = JoinRankTable(context.Background(), cfg, path, r)
		}()
	}
	// Both ranks have read the table incomplete, twice each, before it
	// completes.
	testutil.WaitFor(t, 10*time.Second, "each rank reading the incomplete table twice", func() bool { return waited[0].Load() >= 2 && waited[1].Load() >= 2 })
	write(rankTable(2))
	wg.Wait()
	allOK(t, "join a table completed late", errs)
	closeAll(comms)

	write(initializing)
	cfg.ConnectTimeout = 200 * time.Millisecond
	_, err := JoinRankTable(context.Background(), cfg, path, 0)
	if !errors.Is(err, ErrRankTableNotReady) || !errors.Is(err, ErrTimeout) {
		t.Fatalf("a table never completed: %v", err)
	}
}
