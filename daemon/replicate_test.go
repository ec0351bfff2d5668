package daemon

import (
	"os"
	"testing"
	"time"

	"bloom/api"
	"bloom/ckpt"
)

// TestLostDiskResume: checkpoints live only in each node's data dir (no
// shared --save). Every shard is copied to a second node before its
// checkpoint is committed, and Raft records where each file lives. The node
// that wrote the shards is then killed and its data dir deleted (a lost
// disk); the job moves to the spare node, which pulls the shard and the
// manifest from the copy, and the run ends bit for bit where the
// uninterrupted run does.
func TestLostDiskResume(t *testing.T) {
	checkGoroutines(t)
	c := startChaosCluster(t, 3)
	l := c.waitLeader(10 * time.Second)
	s := tinySpec(40)
	s.DataParallel, s.MicroBatch, s.GlobalBatch, s.SaveInterval, s.LogInterval, s.MaxRestarts = 2, 1, 2, 10, 1, 2
	cl := client(t, l, testSecret)
	ref := runRef(t, cl, "disk-ref", s)
	for _, k := range ref.Checkpoints {
		if len(k.Files) != 1 || len(k.Files[0].Nodes) != 2 || k.Files[0].Nodes[0] == k.Files[0].Nodes[1] {
			t.Fatalf("checkpoint %d lives on %+v, want the writer and one copy", k.Step, k.Files)
		}
	}
	want, err := ckpt.ReadManifest(c.ckptDir(ref, ref.Checkpoints[len(ref.Checkpoints)-1]))
	if err != nil {
		t.Fatal(err)
	}

	j, err := submitSpec(t, cl, "disk", s)
	if err != nil {
		t.Fatal(err)
	}
	j = waitJob(t, cl, j.ID, 60*time.Second, "a committed checkpoint", func(j *api.JobInfo) bool { return len(j.Checkpoints) > 0 })
	writer := c.index(c.byName(j.Checkpoints[0].Files[0].Nodes[0]))
	var other *Daemon
	for i, n := range c.nodes {
		if i != writer {
			other = n
		}
	}
	cl = client(t, other, testSecret)
	dir := c.cfgs[writer].DataDir
	c.nodes[writer].Kill()
	c.nodes[writer] = nil
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	j = waitJob(t, cl, j.ID, 90*time.Second, "success without the writer's disk", state(api.JobSucceeded))
	a := j.Attempts[len(j.Attempts)-1]
	t.Logf("writer %s lost with its disk; attempt %d resumed from step %d on %v", c.cfgs[writer].Name, a.N, a.FromStep, planNodeNames(j.Plan))
	if a.FromStep == 0 {
		t.Fatalf("attempts %+v", j.Attempts)
	}
	got, err := ckpt.ReadManifest(c.ckptDir(j, j.Checkpoints[len(j.Checkpoints)-1]))
	if err != nil {
		t.Fatal(err)
	}
	if got.Step != want.Step || got.Shards[0].SHA256 != want.Shards[0].SHA256 {
		t.Fatalf("final shard %.12s at step %d, uninterrupted %.12s at %d", got.Shards[0].SHA256, got.Step, want.Shards[0].SHA256, want.Step)
	}
}

func planNodeNames(p *api.Plan) []string {
	var out []string
	for _, r := range p.Ranks {
		out = append(out, r.Node)
	}
	return out
}
