package ckpt

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// saveNative writes a TP×PP checkpoint of step into root, as the ranks and
// the committer would, and returns its directory.
func saveNative(t *testing.T, root string, step, tp, pp int, commit bool) string {
	t.Helper()
	dir := filepath.Join(root, StepDirName(step))
	m := Manifest{Step: step, ConsumedSamples: int64(step * 8), LRSamples: int64(step * 8),
		Layout: NativeLayout{TP: tp, PP: pp, DP: 2, PartitionLayers: slices.Repeat([]int{2}, pp)},
		Model:  json.RawMessage(`{"n_layer":4}`)}
	for p := range pp {
		for r := range tp {
			data := []float32{float32(step), float32(r), float32(p)}
			size, sum, err := WriteShard(dir, ShardFileName(r, p), []Tensor{{Name: "x", Shape: []int{3}, Data: data}}, map[string]string{"step": "x"})
			if err != nil {
				t.Fatal(err)
			}
			m.Shards = append(m.Shards, ShardInfo{File: ShardFileName(r, p), Rank: p*2*tp + r, TPRank: r, PPRank: p,
				Bytes: size, SHA256: sum, RNG: []byte{byte(r), byte(p)}})
		}
	}
	slices.Reverse(m.Shards) // the committer sorts them
	if commit {
		if err := CommitNative(dir, m); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestNativeRoundTrip(t *testing.T) {
	root := t.TempDir()
	saveNative(t, root, 10, 2, 2, true)
	want := saveNative(t, root, 20, 2, 2, true)
	saveNative(t, root, 30, 2, 2, false) // interrupted: never committed
	if err := os.MkdirAll(filepath.Join(root, "iter_junk"), 0o755); err != nil {
		t.Fatal(err)
	}
	dir, m, err := LatestNative(root)
	if err != nil {
		t.Fatal(err)
	}
	var model struct {
		NLayer int `json:"n_layer"`
	}
	if err := json.Unmarshal(m.Model, &model); err != nil || dir != want || m.Step != 20 || m.ConsumedSamples != 160 || model.NLayer != 4 {
		t.Fatalf("latest = %s, step %d, consumed %d, model %s", dir, m.Step, m.ConsumedSamples, m.Model)
	}
	for i, s := range m.Shards {
		if i > 0 && s.Rank < m.Shards[i-1].Rank {
			t.Errorf("shards not sorted by rank: %v", m.Shards)
		}
	}
	n, err := OpenNative(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	f, info, err := n.Shard(1, 1)
	if err != nil {
		t.Fatal(err)
	}
	x, _, err := f.Float32("x")
	if err != nil || !slices.Equal(x, []float32{20, 1, 1}) || !slices.Equal(info.RNG, []byte{1, 1}) {
		t.Errorf("shard (1,1): %v %v %v", x, info.RNG, err)
	}
	if _, _, err := n.Shard(2, 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("shard past TP: %v", err)
	}
	if _, err := ReadManifest(filepath.Join(root, StepDirName(30))); !errors.Is(err, ErrNotFound) {
		t.Errorf("uncommitted directory: %v, want ErrNotFound", err)
	}
	if _, _, err := LatestNative(t.TempDir()); !errors.Is(err, ErrNotFound) {
		t.Errorf("empty root: %v, want ErrNotFound", err)
	}
}

// TestNativeCorruptShard: a shard whose bytes changed after the commit, or
// that is missing, is refused.
func TestNativeCorruptShard(t *testing.T) {
	dir := saveNative(t, t.TempDir(), 5, 1, 2, true)
	path := filepath.Join(dir, ShardFileName(0, 1))
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 1
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	// The damaged shard is refused when it is opened, by Verify, and never
	// handed out; the others still open: a rank reads only its own.
	check := func(what string, want error, text string) {
		t.Helper()
		n, err := OpenNative(dir)
		if err != nil {
			t.Fatalf("%s: open: %v", what, err)
		}
		defer n.Close()
		if _, _, err := n.Shard(0, 0); err != nil {
			t.Errorf("%s: the intact shard: %v", what, err)
		}
		for i := range 2 { // a failure is not cached as a success
			if f, _, err := n.Shard(0, 1); f != nil || !errors.Is(err, want) || !strings.Contains(err.Error(), text) {
				t.Errorf("%s: Shard, try %d: %v, want %v (%q)", what, i, err, want, text)
			}
		}
		if err := n.Verify(); !errors.Is(err, want) || !strings.Contains(err.Error(), text) {
			t.Errorf("%s: Verify: %v, want %v (%q)", what, err, want, text)
		}
	}
	check("flipped bit", ErrCorrupt, "SHA-256")
	if err := os.WriteFile(path, b[:len(b)-1], 0o644); err != nil {
		t.Fatal(err)
	}
	check("short shard", ErrCorrupt, "bytes")
	os.Remove(path)
	check("missing shard", ErrNotFound, "")
}

// TestNativeBadManifest: manifests that cannot describe a checkpoint are
// refused when committing and when reading.
func TestNativeBadManifest(t *testing.T) {
	good := Manifest{Step: 1, Layout: NativeLayout{TP: 1, PP: 1, DP: 1, PartitionLayers: []int{2}},
		Shards: []ShardInfo{{File: ShardFileName(0, 0), Bytes: 100, SHA256: strings.Repeat("ab", 32)}}}
	bad := map[string]func(m *Manifest){
		"missing shard":     func(m *Manifest) { m.Layout.TP = 2 },
		"partition length":  func(m *Manifest) { m.Layout.PartitionLayers = []int{1, 1} },
		"path in file name": func(m *Manifest) { m.Shards[0].File = "../x.safetensors" },
		"manifest as shard": func(m *Manifest) { m.Shards[0].File = ManifestName },
		"bad checksum":      func(m *Manifest) { m.Shards[0].SHA256 = "abc" },
		"shard outside":     func(m *Manifest) { m.Shards[0].PPRank = 1 },
		"negative step":     func(m *Manifest) { m.Step = -1 },
		"zero DP":           func(m *Manifest) { m.Layout.DP = 0 },
	}
	for name, f := range bad {
		m := good
		m.Layout.PartitionLayers = slices.Clone(good.Layout.PartitionLayers)
		m.Shards = slices.Clone(good.Shards)
		f(&m)
		if err := CommitNative(t.TempDir(), m); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: commit gave %v, want ErrInvalid", name, err)
		}
		m.Format, m.Version = NativeFormat, NativeVersion
		js, _ := json.Marshal(m)
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, ManifestName), js, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadManifest(dir); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: read gave %v, want ErrCorrupt", name, err)
		}
	}
	dir := t.TempDir()
	if err := CommitNative(dir, good); err != nil {
		t.Fatal(err)
	}
	js, _ := os.ReadFile(filepath.Join(dir, ManifestName))
	for _, s := range []string{string(js) + "{}", strings.Replace(string(js), `"version": 1`, `"version": 2`, 1), "[]", ""} {
		if err := os.WriteFile(filepath.Join(dir, ManifestName), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadManifest(dir); !errors.Is(err, ErrCorrupt) {
			t.Errorf("manifest %.40q: %v, want ErrCorrupt", s, err)
		}
	}
}

// FuzzReadManifest: no manifest bytes make the reader panic, and whatever
// it accepts passes its own checks.
func FuzzReadManifest(f *testing.F) {
	dir := f.TempDir()
	good := Manifest{Step: 1, Layout: NativeLayout{TP: 1, PP: 1, DP: 1, PartitionLayers: []int{2}},
		Shards: []ShardInfo{{File: ShardFileName(0, 0), Bytes: 100, SHA256: strings.Repeat("ab", 32)}}}
	if err := CommitNative(dir, good); err != nil {
		f.Fatal(err)
	}
	js, _ := os.ReadFile(filepath.Join(dir, ManifestName))
	f.Add(js)
	f.Add([]byte(`{"format":"bloom-native","version":1,"layout":{"tensor_model_parallel_size":1}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d := t.TempDir()
		if err := os.WriteFile(filepath.Join(d, ManifestName), b, 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := ReadManifest(d)
		if err == nil {
			if err := m.check(); err != nil {
				t.Fatalf("accepted a manifest that fails its checks: %v", err)
			}
		}
	})
}
