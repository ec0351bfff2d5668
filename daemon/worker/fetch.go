package worker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"bloom/ckpt"
	"bloom/daemon/identity"
	"bloom/daemon/xfer"
	"bloom/trainer"
)

// fetchCheckpoint makes a.LoadDir hold what rank cfg resumes from before
// the trainer opens it: the manifest, and each shard the rank reads
// (trainer.CheckpointShards) that this node lacks or holds corrupt, pulled
// from a node that has it. The other shards stay where they are: a
// replacement node of a 176B job fetches its stage, not the checkpoint.
func (w *worker) fetchCheckpoint(ctx context.Context, cfg trainer.RankConfig) error {
	a := &w.a
	f := a.Fetch
	if f == nil || a.LoadDir == "" {
		return nil
	}
	var x *xfer.Endpoint
	defer func() {
		if x != nil {
			x.Close()
		}
	}()
	client := func() (*xfer.Endpoint, error) {
		if x != nil {
			return x, nil
		}
		s, err := identity.ParseSecret(a.Secret)
		if err != nil {
			return nil, fmt.Errorf("worker: no cluster secret to fetch the checkpoint with: %w", err)
		}
		id, err := identity.New(s, fmt.Sprintf("%s-rank%d", a.Node, a.Rank))
		if err != nil {
			return nil, err
		}
		x, err = xfer.Listen(id, net.JoinHostPort(a.BindHost, "0"), func(string) (string, bool) { return "", false }, nil)
		return x, err
	}
	step := filepath.Base(a.LoadDir)
	var holders []string
	for _, file := range f.Files {
		holders = appendNew(holders, file.From...)
	}
	// The manifest is the commit mark: it goes in place after the shards,
	// as the committer wrote it, so that this directory never looks
	// committed while it lacks what this rank reads.
	manPath := filepath.Join(a.LoadDir, ckpt.ManifestName)
	pulled := ""
	js, err := os.ReadFile(manPath)
	if err != nil || sha256.Sum256(js) != mustSum(f.Manifest) {
		pulled = filepath.Join(a.LoadDir, fmt.Sprintf(".%s.rank%d", ckpt.ManifestName, a.Rank))
		defer os.Remove(pulled)
		if err := w.pull(ctx, client, holders, filepath.Join(step, ckpt.ManifestName), pulled, f.Manifest, -1); err != nil {
			return err
		}
		if js, err = os.ReadFile(pulled); err != nil {
			return err
		}
	}
	man, err := ckpt.ParseManifest(manPath, js)
	if err != nil {
		return err
	}
	need, err := trainer.CheckpointShards(man, cfg)
	if err != nil {
		return err
	}
	for _, file := range f.Files {
		if !slices.Contains(need, file.Name) {
			continue
		}
		path := filepath.Join(a.LoadDir, file.Name)
		if ok, _ := xfer.Holds(path, file.Bytes, mustSum(file.SHA256)); ok {
			continue
		}
		if err := w.pull(ctx, client, file.From, filepath.Join(step, file.Name), path, file.SHA256, file.Bytes); err != nil {
			return err
		}
	}
	if pulled != "" {
		return os.Rename(pulled, manPath)
	}
	return nil
}

// errUnusable: no node holds a copy of a checkpoint file that verifies
// (each answered that it lacks the file or offered bytes whose size or
// SHA-256 is wrong). Unreachable nodes do not count: they may come back.
var errUnusable = errors.New("no node holds a copy that verifies")

// pull fetches rel from the first of from that serves it.
func (w *worker) pull(ctx context.Context, client func() (*xfer.Endpoint, error), from []string, rel, dst, sha string, size int64) error {
	if len(from) == 0 {
		return fmt.Errorf("worker: checkpoint file %s is missing here and no other node holds it: %w", rel, errUnusable)
	}
	x, err := client()
	if err != nil {
		return err
	}
	var errs []error
	for _, addr := range from {
		start := time.Now()
		st, err := x.Pull(ctx, addr, w.a.Job, rel, dst, sha, size)
		if err == nil {
			w.logf("fetched %s from %s: %d bytes (%d on the wire) in %v", rel, addr, st.Bytes, st.Wire, time.Since(start).Round(time.Millisecond))
			return nil
		}
		errs = append(errs, err)
	}
	bad := true // every holder answered, and none has it whole
	for _, err := range errs {
		bad = bad && (errors.Is(err, xfer.ErrMismatch) || errors.Is(err, xfer.ErrMissing))
	}
	if bad {
		return fmt.Errorf("worker: checkpoint file %s: %w: %w", rel, errUnusable, errors.Join(errs...))
	}
	return fmt.Errorf("worker: fetch checkpoint file %s: %w", rel, errors.Join(errs...))
}

func appendNew(list []string, xs ...string) []string {
	for _, x := range xs {
		seen := false
		for _, y := range list {
			seen = seen || x == y
		}
		if !seen {
			list = append(list, x)
		}
	}
	return list
}

// mustSum decodes a hex SHA-256 (the coordinator checked it); a bad one
// gives a sum no file has.
func mustSum(h string) [32]byte {
	var s [32]byte
	if b, err := hex.DecodeString(h); err == nil && len(b) == sha256.Size {
		copy(s[:], b)
	}
	return s
}
