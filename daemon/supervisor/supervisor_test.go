package supervisor

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"bloom/api"
	"bloom/ckpt"
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
