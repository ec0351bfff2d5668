package ckpt

import (
	"fmt"
	"os"
	"slices"
	"strings"
)

// Retention is which committed checkpoints a run keeps, as operators
// expect from Megatron-style runs: the newest KeepLast, and besides those
// every step that is a multiple of KeepEvery (milestones). Zero values keep
// everything: a run deletes nothing unless asked.
type Retention struct {
	KeepLast  int // the newest N checkpoints (0: no limit)
	KeepEvery int // also every step divisible by K (0: none)
}

// Enabled reports whether the policy deletes anything at all.
func (r Retention) Enabled() bool { return r.KeepLast > 0 }

// Drop returns the steps of committed (ascending or not) that r lets go,
// in ascending order. It never drops the newest step, nor any step in
// protect (the one a running attempt resumed from and reads).
func (r Retention) Drop(committed []int64, protect ...int64) []int64 {
	if !r.Enabled() || len(committed) == 0 {
		return nil
	}
	steps := slices.Clone(committed)
	slices.Sort(steps)
	steps = slices.Compact(steps)
	var drop []int64
	keepFrom := max(len(steps)-r.KeepLast, 0)
	for _, s := range steps[:keepFrom] {
		if r.KeepEvery > 0 && s%int64(r.KeepEvery) == 0 || slices.Contains(protect, s) {
			continue
		}
		drop = append(drop, s)
	}
	return drop
}

// StepDirs lists the steps that have a step directory (iter_NNNNNNN) under
// root, committed or not, in ascending order. A missing root holds none.
func StepDirs(root string) ([]int, error) {
	ents, err := os.ReadDir(root)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, ioErr(root, err, "read checkpoint root")
	}
	var steps []int
	for _, e := range ents {
		var n int
		if !e.IsDir() || !strings.HasPrefix(e.Name(), "iter_") {
			continue
		}
		if _, err := fmt.Sscanf(e.Name(), "iter_%d", &n); err == nil && StepDirName(n) == e.Name() {
			steps = append(steps, n)
		}
	}
	slices.Sort(steps)
	return steps, nil
}
