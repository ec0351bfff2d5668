package ckpt

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// The native sharded checkpoint format (DESIGN.md §9).
//
// A checkpoint root holds one directory per saved step, iter_0000020 for
// step 20. In it, every model-parallel rank (tensor-parallel rank t,
// pipeline stage p) writes one safetensors shard, mp_rank_TT_PPP.safetensors,
// holding its parameters and optimizer state under names the trainer
// chooses; each shard is written under a temporary name, fsynced and
// renamed, and its size and SHA-256 are reported. A checkpoint is committed
// when its manifest.json exists: the committer writes it (atomically, the
// same way) once every shard is durable, listing each shard's checksum and
// the training state (step, consumed samples, LR position, layout, RNG
// states). Readers take only committed checkpoints and verify each shard
// against the manifest before using it. A directory without a manifest is
// an interrupted save and is ignored; saving the same step again overwrites
// its shards.

// Native checkpoint constants.
const (
	NativeFormat  = "bloom-native"
	NativeVersion = 1
	ManifestName  = "manifest.json"
)

// Manifest describes a committed native checkpoint.
type Manifest struct {
	Format          string       `json:"format"`  // NativeFormat
	Version         int          `json:"version"` // NativeVersion
	Step            int          `json:"step"`    // optimizer steps done
	ConsumedSamples int64        `json:"consumed_samples"`
	LRSamples       int64        `json:"lr_position_samples"` // where the learning-rate schedule stands
	Layout          NativeLayout `json:"layout"`
	// Model and Trainer are the trainer's own records (the model's shape;
	// optimizer and schedule settings), kept as written.
	Model   json.RawMessage `json:"model,omitempty"`
	Trainer json.RawMessage `json:"trainer,omitempty"`
	Shards  []ShardInfo     `json:"shards"` // one per (TP rank, PP rank), sorted by rank
}

// NativeLayout is the parallel layout a checkpoint was written with.
type NativeLayout struct {
	TP              int   `json:"tensor_model_parallel_size"`
	PP              int   `json:"pipeline_model_parallel_size"`
	DP              int   `json:"data_parallel_size"`
	PartitionLayers []int `json:"partition_layers"` // blocks per pipeline stage
}

// ShardInfo is one shard of a native checkpoint.
type ShardInfo struct {
	File   string `json:"file"` // name inside the step directory
	Rank   int    `json:"rank"` // the global rank that wrote it
	TPRank int    `json:"tp_rank"`
	PPRank int    `json:"pp_rank"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`              // hex
	RNG    []byte `json:"rng_state,omitempty"` // the rank's random generator state
}

// StepDirName is the name of step's directory under a checkpoint root.
func StepDirName(step int) string { return fmt.Sprintf("iter_%07d", step) }

// ShardFileName is the name of the shard of tensor-parallel rank tp on
// pipeline stage pp.
func ShardFileName(tp, pp int) string { return fmt.Sprintf("mp_rank_%02d_%03d.safetensors", tp, pp) }

// WriteShard writes tensors (as F32) and meta to the safetensors file name in
// dir, creating dir if needed, atomically (temporary name, fsync, rename,
// fsync of the directory), and returns the file's size and hex SHA-256. It
// does not keep the slices.
func WriteShard(dir, name string, tensors []Tensor, meta map[string]string) (size int64, sum string, err error) {
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, "", ioErr(dir, err, "create checkpoint directory")
	}
	hdr, err := buildHeader(path, F32, tensors, nil, meta)
	if err != nil {
		return 0, "", err
	}
	h := sha256.New()
	cw := &countWriter{}
	err = WriteAtomic(path, func(w io.Writer) error {
		mw := io.MultiWriter(w, h, cw)
		if _, err := mw.Write(hdr); err != nil {
			return err
		}
		return writeData(mw, F32, tensors, nil)
	})
	if err != nil {
		return 0, "", err
	}
	return cw.n, hex.EncodeToString(h.Sum(nil)), nil
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(b []byte) (int, error) { c.n += int64(len(b)); return len(b), nil }

// CommitNative commits the checkpoint in dir by writing m as its manifest,
// atomically. Call it only when every shard m lists is durable. It checks
// that m is complete (one shard per model-parallel rank) but does not read
// the shards; readers verify them.
func CommitNative(dir string, m Manifest) error {
	path := filepath.Join(dir, ManifestName)
	m.Format, m.Version = NativeFormat, NativeVersion
	m.Shards = slices.Clone(m.Shards)
	slices.SortFunc(m.Shards, func(a, b ShardInfo) int { return a.Rank - b.Rank })
	if err := m.check(); err != nil {
		return wrapf(path, ErrInvalid, err, "cannot commit")
	}
	js, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return wrapf(path, ErrInvalid, err, "encode manifest")
	}
	return WriteAtomic(path, func(w io.Writer) error {
		_, err := w.Write(append(js, '\n'))
		return err
	})
}

// check reports what makes m unusable.
func (m *Manifest) check() error {
	l := m.Layout
	switch {
	case m.Format != NativeFormat || m.Version != NativeVersion:
		return fmt.Errorf("format %q version %d; this build reads %s version %d", m.Format, m.Version, NativeFormat, NativeVersion)
	case m.Step < 0 || m.ConsumedSamples < 0 || m.LRSamples < 0:
		return fmt.Errorf("negative step or sample count")
	case l.TP < 1 || l.PP < 1 || l.DP < 1 || l.TP > 1<<16 || l.PP > 1<<16:
		return fmt.Errorf("layout TP=%d PP=%d DP=%d", l.TP, l.PP, l.DP)
	case len(l.PartitionLayers) != l.PP:
		return fmt.Errorf("%d partition entries for %d pipeline stages", len(l.PartitionLayers), l.PP)
	case len(m.Shards) != l.TP*l.PP:
		return fmt.Errorf("%d shards for TP=%d × PP=%d", len(m.Shards), l.TP, l.PP)
	}
	for _, n := range l.PartitionLayers {
		if n < 0 {
			return fmt.Errorf("negative partition entry %d", n)
		}
	}
	seen := map[[2]int]bool{}
	for _, s := range m.Shards {
		k := [2]int{s.TPRank, s.PPRank}
		switch {
		case s.TPRank < 0 || s.TPRank >= l.TP || s.PPRank < 0 || s.PPRank >= l.PP:
			return fmt.Errorf("shard %q is for tp %d, pp %d, outside the layout", s.File, s.TPRank, s.PPRank)
		case seen[k]:
			return fmt.Errorf("two shards for tp %d, pp %d", s.TPRank, s.PPRank)
		case s.File == "" || s.File != filepath.Base(s.File) || s.File == "." || s.File == ".." || strings.ContainsAny(s.File, `/\`) || s.File == ManifestName:
			return fmt.Errorf("shard file %q is not a file name in the checkpoint directory", s.File)
		case s.Bytes < 8:
			return fmt.Errorf("shard %q has %d bytes", s.File, s.Bytes)
		}
		if b, err := hex.DecodeString(s.SHA256); err != nil || len(b) != sha256.Size {
			return fmt.Errorf("shard %q: %q is not a hex SHA-256", s.File, s.SHA256)
		}
		seen[k] = true
	}
	return nil
}

// ReadManifest reads and checks dir's manifest. A directory without one is
// not a committed checkpoint: the error wraps ErrNotFound.
func ReadManifest(dir string) (Manifest, error) {
	path := filepath.Join(dir, ManifestName)
	js, err := os.ReadFile(path)
	if err != nil {
		return Manifest{}, ioErr(path, err, "not a committed checkpoint")
	}
	return ParseManifest(path, js)
}

// ParseManifest decodes and checks the manifest js read from path.
func ParseManifest(path string, js []byte) (Manifest, error) {
	var m Manifest
	if err := strictUnmarshal(js, &m); err != nil {
		return Manifest{}, wrapf(path, ErrCorrupt, err, "bad manifest")
	}
	if err := m.check(); err != nil {
		return Manifest{}, wrapf(path, ErrCorrupt, err, "bad manifest")
	}
	return m, nil
}

// LatestNative returns the directory and manifest of the committed
// checkpoint with the highest step under root. It wraps ErrNotFound when
// root holds none; step directories without a manifest (interrupted saves)
// are skipped, and so are ones whose manifest cannot be read.
func LatestNative(root string) (string, Manifest, error) {
	if _, err := os.Stat(root); err != nil {
		return "", Manifest{}, ioErr(root, err, "read checkpoint root")
	}
	steps, err := StepDirs(root)
	if err != nil {
		return "", Manifest{}, err
	}
	slices.Reverse(steps) // newest first
	for _, s := range steps {
		dir := filepath.Join(root, StepDirName(s))
		if m, err := ReadManifest(dir); err == nil {
			return dir, m, nil
		}
	}
	return "", Manifest{}, errf(root, ErrNotFound, "no committed checkpoint (a step directory with %s)", ManifestName)
}

// Native is an open committed checkpoint. It reads, verifies and opens a
// shard when it is first asked for it: a rank that resumes reads the one or
// two shards its tensors live in, not the whole checkpoint (176B with its
// optimizer state is over 2 TB), and its node needs to hold only those.
type Native struct {
	Dir      string
	Manifest Manifest
	mu       sync.Mutex
	files    map[[2]int]*File
}

// OpenNative opens the committed checkpoint in dir: it reads the manifest.
// The shards are checked against it (size and SHA-256) as Shard opens them;
// Verify checks them all.
func OpenNative(dir string) (*Native, error) {
	m, err := ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	return &Native{Dir: dir, Manifest: m, files: map[[2]int]*File{}}, nil
}

// Verify checks every shard's size and SHA-256 against the manifest. A
// shard that does not match wraps ErrCorrupt; one that is missing,
// ErrNotFound.
func (n *Native) Verify() error {
	for _, s := range n.Manifest.Shards {
		if err := verifyFile(filepath.Join(n.Dir, s.File), s.Bytes, s.SHA256); err != nil {
			return err
		}
	}
	return nil
}

// verifyFile checks a file's size and SHA-256.
func verifyFile(path string, size int64, sum string) error {
	f, err := os.Open(path)
	if err != nil {
		return ioErr(path, err, "open shard")
	}
	defer f.Close()
	var h hash.Hash = sha256.New()
	got, err := io.Copy(h, f)
	if err != nil {
		return ioErr(path, err, "read shard")
	}
	if got != size {
		return errf(path, ErrCorrupt, "shard has %d bytes, the manifest says %d", got, size)
	}
	if s := hex.EncodeToString(h.Sum(nil)); s != sum {
		return errf(path, ErrCorrupt, "shard's SHA-256 is %s, the manifest says %s", s, sum)
	}
	return nil
}

// Shard returns the shard of tensor-parallel rank tp on pipeline stage pp
// and its manifest entry, verified against the manifest the first time it
// is asked for: a shard that does not match wraps ErrCorrupt, one the
// manifest does not list or the disk lacks, ErrNotFound. The file belongs
// to n; Close closes it. Safe for concurrent use.
func (n *Native) Shard(tp, pp int) (*File, ShardInfo, error) {
	i := slices.IndexFunc(n.Manifest.Shards, func(s ShardInfo) bool { return s.TPRank == tp && s.PPRank == pp })
	if i < 0 {
		return nil, ShardInfo{}, errf(n.Dir, ErrNotFound, "no shard for tp %d, pp %d", tp, pp)
	}
	s := n.Manifest.Shards[i]
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.files == nil {
		return nil, s, errf(n.Dir, ErrInvalid, "checkpoint closed")
	}
	if f := n.files[[2]int{tp, pp}]; f != nil {
		return f, s, nil
	}
	path := filepath.Join(n.Dir, s.File)
	if err := verifyFile(path, s.Bytes, s.SHA256); err != nil {
		return nil, s, err
	}
	f, err := OpenSafetensors(path)
	if err != nil {
		return nil, s, err
	}
	n.files[[2]int{tp, pp}] = f
	return f, s, nil
}

// Close closes every shard.
func (n *Native) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	var first error
	for _, f := range n.files {
		if err := f.Close(); err != nil && first == nil {
			first = err
		}
	}
	n.files = nil
	return first
}

// Missing lists the shard files the manifest names that dir lacks: a node
// of a cluster keeps only the shards of its own ranks (and copies).
func (n *Native) Missing() []string {
	var out []string
	for _, s := range n.Manifest.Shards {
		if _, err := os.Stat(filepath.Join(n.Dir, s.File)); err != nil {
			out = append(out, s.File)
		}
	}
	return out
}
