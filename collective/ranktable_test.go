package collective

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	if a, err := rt.Addr(3); err != nil || a != "192.168.1.9:16667" {
		t.Fatalf("addr of rank 3: %q %v", a, err)
	}
	bad := map[string]string{
		"not json":        `{`,
		"initializing":    strings.Replace(rankTable(2), "completed", "initializing", 1),
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
			rt.Addr(r)
		}
	})
}

// TestJoinRankTable: a two-server table gives the hierarchical allreduce
// (mem), a one-server table runs over shm.
func TestJoinRankTable(t *testing.T) {
	checkLeaks(t)
	for _, tc := range []struct {
		transport string
		servers   []int
	}{{"mem", []int{2, 2}}, {"mem", []int{3}}, {"shm", []int{3}}} {
		if raceEnabled && tc.transport == "shm" {
			continue // race_test.go
		}
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
