package daemon

import (
	"slices"
	"testing"
	"time"

	"bloom/api"
	"bloom/ckpt"
)

// TestRetention: a job saving every 10 steps for 60 with --keep-last 2
// --keep-every 30 ends with the checkpoints of steps 30, 50 and 60 in Raft,
// and on every node that held a shard or a copy only those step
// directories remain: the writer's and the replica's older ones are gone.
// Without the flags nothing is deleted (the reference run).
func TestRetention(t *testing.T) {
	checkGoroutines(t)
	c := startChaosCluster(t, 2)
	l := c.waitLeader(10 * time.Second)
	cl := client(t, l, testSecret)
	s := tinySpec(60)
	s.SaveInterval, s.LogInterval = 10, 5
	all := runRef(t, cl, "keep-all", s)
	if n := len(all.Checkpoints); n != 6 {
		t.Fatalf("without retention %d checkpoints, want 6", n)
	}

	s.KeepLast, s.KeepEvery = 2, 30
	j := runRef(t, cl, "keep-last", s)
	want := []int{30, 50, 60}
	waitFor(t, 30*time.Second, "the retired checkpoints leave the record", func() bool {
		j, _ = cl.Job(ctx(t), j.ID)
		return slices.Equal(steps(j.Checkpoints), want)
	})
	holders := map[string]bool{}
	for _, k := range j.Checkpoints {
		for _, f := range k.Files {
			for _, n := range f.Nodes {
				holders[n] = true
			}
		}
	}
	if len(holders) != 2 {
		t.Fatalf("checkpoints held on %v, want both nodes (the writer and a copy)", holders)
	}
	for _, cfg := range c.cfgs {
		root, _ := jobPaths{dataDir: cfg.DataDir}.ckptRoot(j.ID, j.Spec)
		waitFor(t, 30*time.Second, cfg.Name+" deleting its retired step directories", func() bool {
			got, err := ckpt.StepDirs(root)
			return err == nil && slices.Equal(got, want)
		})
		// The reference job's directories are untouched.
		root, _ = jobPaths{dataDir: cfg.DataDir}.ckptRoot(all.ID, all.Spec)
		if got, _ := ckpt.StepDirs(root); len(got) != 6 {
			t.Errorf("%s: the job without retention holds steps %v", cfg.Name, got)
		}
	}
}

func steps(ks []api.Checkpoint) []int {
	var out []int
	for _, k := range ks {
		out = append(out, int(k.Step))
	}
	return out
}
