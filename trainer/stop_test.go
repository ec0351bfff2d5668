package trainer

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"

	"bloom/ckpt"
)

// TestStopVote: one rank asks to stop (as its daemon does on SIGTERM) while
// the job runs; every rank stops after the same step, that step's
// checkpoint is committed, Run returns ErrStopped everywhere, and resuming
// from the checkpoint ends bit for bit where the uninterrupted run ends.
// The asking rank is the last of the world, so the vote has to cross every
// group (tensor, pipeline and data parallel) to reach rank 0.
func TestStopVote(t *testing.T) {
	for _, c := range []RankConfig{tinyJob(), layout(tinyJob(), 2, 2, 2, nil)} {
		t.Run(layoutName(c), func(t *testing.T) {
			c.SaveInterval = 5
			whole := c
			whole.Save = t.TempDir()
			want := runAndGather(t, whole)

			stopped := c
			stopped.Save = t.TempDir()
			w := newWorld(stopped)
			var ask atomic.Bool
			asker := stopped.World() - 1
			for r := range w.envs {
				w.envs[r].Stop = func() bool { return r == asker && ask.Load() }
			}
			w.onReport = func(r int, s StepStats) {
				if r == asker && s.Step == 7 {
					ask.Store(true) // voted during step 8
				}
			}
			res, _ := runJob(context.Background(), stopped, tinySource(t, stopped), nil, w)
			for r, errR := range res.errs {
				if !errors.Is(errR, ErrStopped) {
					t.Fatalf("rank %d: %v, want ErrStopped", r, errR)
				}
			}
			for r, st := range res.stats {
				if last := st[len(st)-1]; last.Step != 8 || !last.Stop {
					t.Fatalf("rank %d stopped after step %d (stop %v), want 8", r, last.Step, last.Stop)
				}
			}
			latest, _, err := ckpt.LatestNative(stopped.Save)
			if err != nil || filepath.Base(latest) != ckpt.StepDirName(8) {
				t.Fatalf("latest committed checkpoint %s (%v), want step 8", latest, err)
			}

			resumed := c
			resumed.Save, resumed.Load = stopped.Save, stopped.Save
			got := runAndGather(t, resumed)
			if got.stats[0].Step != 9 {
				t.Fatalf("resumed at step %d, want 9", got.stats[0].Step)
			}
			sameState(t, "stopped and resumed", got, want)
		})
	}
}
