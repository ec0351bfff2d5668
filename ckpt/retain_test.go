package ckpt

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestRetention(t *testing.T) {
	steps := []int64{100, 200, 300, 400, 500, 600}
	for _, c := range []struct {
		r       Retention
		protect []int64
		want    []int64
	}{
		{Retention{}, nil, nil},                                    // keeps everything by default
		{Retention{KeepEvery: 200}, nil, nil},                      // milestones alone delete nothing
		{Retention{KeepLast: 2}, nil, []int64{100, 200, 300, 400}}, // the newest two
		{Retention{KeepLast: 2, KeepEvery: 200}, nil, []int64{100, 300}},
		{Retention{KeepLast: 1}, []int64{300}, []int64{100, 200, 400, 500}}, // a running attempt's source stays
		{Retention{KeepLast: 10}, nil, nil},
	} {
		if got := c.r.Drop(steps, c.protect...); !slices.Equal(got, c.want) {
			t.Errorf("%+v protect %v: drop %v, want %v", c.r, c.protect, got, c.want)
		}
	}
	// The newest is never dropped, whatever the order given.
	if got := (Retention{KeepLast: 1}).Drop([]int64{600, 100, 600}); !slices.Equal(got, []int64{100}) {
		t.Errorf("drop %v, want [100]", got)
	}
}

func TestStepDirs(t *testing.T) {
	root := t.TempDir()
	for _, n := range []string{StepDirName(20), StepDirName(3), "iter_junk", "iter_12"} {
		if err := os.Mkdir(filepath.Join(root, n), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	got, err := StepDirs(root)
	if err != nil || !slices.Equal(got, []int{3, 20}) {
		t.Fatalf("StepDirs = %v, %v; want [3 20]", got, err)
	}
	if got, err := StepDirs(filepath.Join(root, "missing")); err != nil || got != nil {
		t.Fatalf("missing root: %v, %v", got, err)
	}
}
