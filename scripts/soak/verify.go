package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// manifest is what the soak reads of a checkpoint's manifest.json.
type manifest struct {
	Step   int64   `json:"step"`
	Shards []shard `json:"shards"`
}

type shard struct {
	File   string `json:"file"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// ckptReport is what checkCheckpoints found.
type ckptReport struct {
	Committed int
	// Uncommitted are directories under the save directory that no
	// committed checkpoint names: saves a failure cut short. They are
	// fine as long as no attempt loaded one.
	Uncommitted []string
	Problems    []string
}

func (r *ckptReport) problem(format string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

// checkCheckpoints checks every committed checkpoint of a job: it lies in
// save, its manifest.json hashes to the SHA-256 Raft committed and names
// its step, and every shard it lists exists with the listed size and
// SHA-256. Every attempt that resumed did so from a committed one.
func checkCheckpoints(cks []checkpoint, save string, attempts []attempt) ckptReport {
	var r ckptReport
	dirs := map[string]bool{}
	for _, ck := range cks {
		dirs[filepath.Clean(ck.Dir)] = true
		if filepath.Dir(filepath.Clean(ck.Dir)) != filepath.Clean(save) {
			r.problem("step %d: committed in %s, not in %s", ck.Step, ck.Dir, save)
		}
		if err := checkCheckpoint(ck); err != nil {
			r.problem("step %d: %v", ck.Step, err)
			continue
		}
		r.Committed++
	}
	for _, a := range attempts {
		ok := slices.ContainsFunc(cks, func(ck checkpoint) bool { return ck.Step == a.FromStep && ck.Dir == a.FromDir })
		if a.FromStep > 0 && !ok {
			r.problem("attempt %d resumed from step %d (%q), which is no committed checkpoint", a.N, a.FromStep, a.FromDir)
		}
	}
	entries, err := os.ReadDir(save)
	if err != nil {
		r.problem("%v", err)
	}
	for _, e := range entries {
		if !dirs[filepath.Join(filepath.Clean(save), e.Name())] {
			r.Uncommitted = append(r.Uncommitted, e.Name())
		}
	}
	return r
}

func checkCheckpoint(ck checkpoint) error {
	path := filepath.Join(ck.Dir, "manifest.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("committed without a manifest: %w", err)
	}
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != ck.Manifest {
		return fmt.Errorf("%s has SHA-256 %.12s, Raft committed %.12s", path, hex.EncodeToString(sum[:]), ck.Manifest)
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if m.Step != ck.Step || len(m.Shards) == 0 {
		return fmt.Errorf("%s names step %d and %d shards", path, m.Step, len(m.Shards))
	}
	for _, s := range m.Shards {
		size, sum, err := hashFile(filepath.Join(ck.Dir, s.File))
		if err != nil {
			return err
		}
		if size != s.Bytes || sum != s.SHA256 {
			return fmt.Errorf("shard %s: %d bytes, SHA-256 %.12s; the manifest says %d, %.12s", s.File, size, sum, s.Bytes, s.SHA256)
		}
	}
	return nil
}

func hashFile(path string) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return 0, "", fmt.Errorf("%s: %w", path, err)
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// finalShards reads the last committed checkpoint's manifest.
func finalShards(cks []checkpoint) (*manifest, error) {
	if len(cks) == 0 {
		return nil, fmt.Errorf("soak: no committed checkpoint")
	}
	b, err := os.ReadFile(filepath.Join(cks[len(cks)-1].Dir, "manifest.json"))
	if err != nil {
		return nil, fmt.Errorf("soak: %w", err)
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("soak: manifest of step %d: %w", cks[len(cks)-1].Step, err)
	}
	return &m, nil
}

// sameWeights compares the final shards of two runs by SHA-256; the error
// is nil when they are bit-identical, and what names them says which.
func sameWeights(ref, got []checkpoint) (what string, err error) {
	want, err1 := finalShards(ref)
	have, err2 := finalShards(got)
	if err1 != nil || err2 != nil {
		return "", fmt.Errorf("reference: %v; soak: %v", err1, err2)
	}
	if want.Step != have.Step || len(want.Shards) != len(have.Shards) {
		return "", fmt.Errorf("final checkpoint: step %d with %d shards, the reference's step %d with %d",
			have.Step, len(have.Shards), want.Step, len(want.Shards))
	}
	var sums []string
	for i, w := range want.Shards {
		if h := have.Shards[i]; h.File != w.File || h.SHA256 != w.SHA256 {
			return "", fmt.Errorf("shard %s: SHA-256 %.12s, the reference's %s %.12s", h.File, h.SHA256, w.File, w.SHA256)
		}
		sums = append(sums, fmt.Sprintf("%s %.12s", w.File, w.SHA256))
	}
	return fmt.Sprintf("step %d: %s", have.Step, strings.Join(sums, ", ")), nil
}
