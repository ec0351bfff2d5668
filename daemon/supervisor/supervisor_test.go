package supervisor

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"bloom/api"
	"bloom/ckpt"
	"bloom/collective"
	"bloom/daemon/coord"
)

func members(names ...string) map[string]*coord.Member {
	m := map[string]*coord.Member{}
	for _, n := range names {
		m[n] = &coord.Member{Name: n, QUICAddr: n + ":7950"}
	}
	return m
}

// TestReplicaTargets: the ring of alive members with a transfer address,
// starting after this node.
func TestReplicaTargets(t *testing.T) {
	st := &coord.State{Members: members("a", "b", "c", "d", "e")}
	st.Members["d"].QUICAddr = "" // an older bloomd: no transfer service
	alive := map[string]bool{"a": true, "b": true, "c": true, "d": true}
	s := New(Env{Node: "b", Alive: func() map[string]bool { return alive }})
	var got []string
	for _, m := range s.replicaTargets(st) {
		got = append(got, m.Name)
	}
	if want := []string{"c", "a"}; !slices.Equal(got, want) {
		t.Fatalf("targets %v, want %v", got, want)
	}
}

// TestNewFetch: every other alive holder of each file, by its transfer
// address; nil when Raft does not know where the files live.
func TestNewFetch(t *testing.T) {
	st := &coord.State{Members: members("me", "dead", "up")}
	alive := map[string]bool{"me": true, "up": true}
	if f := newFetch(st, coord.Checkpoint{Step: 10}, "me", alive); f != nil {
		t.Fatalf("no files: fetch %+v, want nil", f)
	}
	k := coord.Checkpoint{Step: 10, Manifest: "m", Files: []coord.CheckpointFile{{Name: "s0", Nodes: []string{"me", "dead", "up"}}}}
	f := newFetch(st, k, "me", alive)
	if f == nil || f.Manifest != "m" || len(f.Files) != 1 || !slices.Equal(f.Files[0].From, []string{"up:7950"}) {
		t.Fatalf("fetch %+v", f)
	}
}

// TestWriteManifestChecksum: bytes that do not match their hash are not
// written.
func TestWriteManifestChecksum(t *testing.T) {
	dir := t.TempDir()
	err := writeManifest(api.ManifestOrder{Job: "j", Step: 1, Dir: dir, Manifest: []byte("{}"), SHA256: "00"})
	if err == nil {
		t.Fatal("a manifest with a wrong checksum was written")
	}
	if _, err := os.Stat(filepath.Join(dir, ckpt.ManifestName)); !os.IsNotExist(err) {
		t.Fatalf("manifest file: %v", err)
	}
}

// TestDone: with no worker here, a worker is over once its attempt is not
// the running one.
func TestDone(t *testing.T) {
	st := &coord.State{Jobs: map[string]*coord.Job{"j": {ID: "j", State: coord.JobRunning,
		Attempts: []coord.Attempt{{N: 1}}, Plan: &coord.Plan{}}}}
	s := New(Env{State: func() *coord.State { return st }})
	if s.Done(Key{Job: "j", Attempt: 1}) {
		t.Fatal("the running attempt's worker is done")
	}
	if !s.Done(Key{Job: "j", Attempt: 2}) || !s.Done(Key{Job: "other", Attempt: 1}) {
		t.Fatal("a worker of no running attempt is not done")
	}
}

// TestRankTable: an NPU job's rank table lists each node's ranks as its NPU
// indices with their device_ip, parses as HCCL's version 1.0 format, and is
// refused for plans HCCL could not use (interleaved servers, an NPU with no
// device_ip across servers, a device_ip twice, address families mixed
// across servers) or that are not all NPUs.
func TestRankTable(t *testing.T) {
	st := &coord.State{Members: map[string]*coord.Member{
		"n1": {Name: "n1", Devices: "npu:4-7", QUICAddr: "10.0.0.1:7947",
			DeviceIPs: "4=192.168.100.105,5=192.168.101.105,6=192.168.102.105,7=192.168.103.105"},
		"n2": {Name: "n2", Devices: "npu:0-3", QUICAddr: "10.0.0.2:7947", DeviceIPs: "2=192.168.102.102,3=192.168.103.102"},
		"c":  {Name: "c", Devices: "cpu:2"},
	}}
	deviceOf := func(devices string, pos int) (string, int, error) {
		kind, spec, _ := strings.Cut(devices, ":")
		if kind == "cpu" {
			return kind, pos, nil
		}
		lo, _ := strconv.Atoi(strings.Split(spec, "-")[0])
		return kind, lo + pos, nil
	}
	plan := &coord.Plan{TP: 2, PP: 2, DP: 1, Ranks: []coord.Rank{{Rank: 0, Node: "n1", Device: 0}, {Rank: 1, Node: "n1", Device: 1}, {Rank: 2, Node: "n2", Device: 2}, {Rank: 3, Node: "n2", Device: 3}}}
	b, err := rankTable(st, plan, deviceOf)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := collective.ParseRankTable(b)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if rt.Size() != 4 || rt.Server(1) != "n1" || rt.Server(2) != "n2" || rt.Servers[0].HostIP != "10.0.0.1" ||
		rt.Servers[0].Devices[1].DeviceID != 5 || rt.Servers[1].Devices[0].DeviceID != 2 ||
		rt.Servers[0].Devices[1].DeviceIP != "192.168.101.105" || rt.Servers[1].Devices[1].DeviceIP != "192.168.103.102" {
		t.Fatalf("rank table %+v\n%s", rt, b)
	}
	// HCCL refuses a device_ip twice in a table, and across servers
	// device_ips or host_ips of both families.
	for name, c := range map[string]struct{ n2IPs, n2QUIC, want string }{
		"same device_ip":   {"2=192.168.102.102,3=192.168.103.105", "10.0.0.2:7947", "n1's NPU 7 and n2's NPU 3 have the same device_ip"},
		"device_ip family": {"2=fd00::102:102,3=fd00::103:102", "10.0.0.2:7947", "device_ips across servers all IPv4 or all IPv6, and n1's NPU 7's is IPv4, n2's NPU 3's IPv6"},
		"host_ip family":   {"2=192.168.102.102,3=192.168.103.102", "[fd00::2]:7947", "host_ips across servers all IPv4 or all IPv6, and n1's is IPv4, n2's IPv6"},
	} {
		st.Members["n2"].DeviceIPs, st.Members["n2"].QUICAddr = c.n2IPs, c.n2QUIC
		plan.Ranks[1].Device = 3 // n1's NPU 7
		if _, err := rankTable(st, plan, deviceOf); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v", name, err)
		}
		plan.Ranks[1].Device = 1
	}
	st.Members["n2"].QUICAddr = "10.0.0.2:7947"
	// Across servers every NPU needs its address; on one server HCCL
	// does without (on every SoC), and the table leaves it out.
	st.Members["n2"].DeviceIPs = "3=192.168.103.102"
	if _, err := rankTable(st, plan, deviceOf); err == nil || !strings.Contains(err.Error(), "n2's NPU 2") {
		t.Errorf("an NPU without device_ip across servers: %v", err)
	}
	onePlan := &coord.Plan{TP: 2, PP: 1, DP: 1, Ranks: []coord.Rank{{Rank: 0, Node: "n2", Device: 2}, {Rank: 1, Node: "n2", Device: 3}}}
	b, err = rankTable(st, onePlan, deviceOf)
	if err == nil {
		rt, err = collective.ParseRankTable(b)
	}
	if err != nil || rt.Servers[0].Devices[0].DeviceIP != "" || rt.Servers[0].Devices[1].DeviceIP != "192.168.103.102" {
		t.Errorf("one server: %v\n%s", err, b)
	}
	plan.Ranks[1].Node, plan.Ranks[2].Node = "n2", "n1"
	if _, err := rankTable(st, plan, deviceOf); err == nil || !strings.Contains(err.Error(), "interleave") {
		t.Errorf("interleaved plan: %v", err)
	}
	cpuPlan := &coord.Plan{TP: 1, PP: 1, DP: 1, Ranks: []coord.Rank{{Rank: 0, Node: "c", Device: 0}}}
	if b, err := rankTable(st, cpuPlan, deviceOf); b != nil || err != nil {
		t.Errorf("a CPU job got a rank table: %s %v", b, err)
	}
}
