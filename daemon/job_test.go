package daemon

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"bloom/api"
	"bloom/ckpt"
	"bloom/daemon/jobspec"
	"bloom/daemon/supervisor"
	"bloom/trainer/tensorboard"
)

// startJobCluster starts n daemons (two CPU devices each) whose workers are
// this test binary.
func startJobCluster(t *testing.T, n int) *cluster {
	t.Helper()
	return startDaemons(t, n, nil, false)
}

// startDaemons starts n daemons that run jobs, each config edited by edit
// (when not nil); with keepPorts the ports the kernel chose are recorded
// so c.restart binds them again. It waits until every member registered.
func startDaemons(t *testing.T, n int, edit func(*Config), keepPorts bool) *cluster {
	t.Helper()
	c := &cluster{t: t, dir: t.TempDir()}
	t.Cleanup(c.stopAll)
	for i := 1; i <= n; i++ {
		cfg := nodeConfig(t, c.dir, i, n, testSecret)
		cfg.Jobs = workerTestConfig(t)
		if edit != nil {
			edit(&cfg)
		}
		if i > 1 {
			cfg.Peers = []string{c.nodes[0].GossipAddr()}
		}
		d, err := Start(cfg)
		if err != nil {
			t.Fatalf("start n%d: %v", i, err)
		}
		if keepPorts {
			cfg.Bind, cfg.API = d.GossipAddr(), d.APIAddr()
		}
		c.cfgs, c.nodes = append(c.cfgs, cfg), append(c.nodes, d)
	}
	l := c.waitLeader(30 * time.Second)
	waitFor(t, 30*time.Second, "every member registered", func() bool { return len(l.State().Members) == n })
	return c
}

// ckptDir is where checkpoint k of job j lives on the node that wrote its
// first file, resolved as that node resolves (job, step): the API shows the
// answering node's directory, which holds the files only when that node
// holds a copy or --save is shared.
func (c *cluster) ckptDir(j *api.JobInfo, k api.Checkpoint) string {
	c.t.Helper()
	if len(k.Files) == 0 || len(k.Files[0].Nodes) == 0 {
		return k.Dir
	}
	for _, cfg := range c.cfgs {
		if cfg.Name == k.Files[0].Nodes[0] {
			root, _ := jobPaths{dataDir: cfg.DataDir}.ckptRoot(j.ID, j.Spec)
			return stepIn(root, k.Step)
		}
	}
	c.t.Fatalf("checkpoint %d: no node %s", k.Step, k.Files[0].Nodes[0])
	return ""
}

func (c *cluster) byName(name string) *Daemon {
	for _, d := range c.nodes {
		if d != nil && d.Name() == name {
			return d
		}
	}
	c.t.Fatalf("no node %s", name)
	return nil
}

func tinySpec(iters int64) jobspec.Spec {
	s := jobspec.Default()
	s.ModelPreset, s.TrainIters = "bloom-tiny", iters
	s.MicroBatch, s.GlobalBatch, s.SeqLength, s.LR, s.LRWarmupSamples = 2, 4, 32, 5e-3, 16
	s.DataParallel = 1
	return s
}

func submitSpec(t *testing.T, cl *api.Client, name string, s jobspec.Spec) (*api.JobInfo, error) {
	t.Helper()
	raw, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return cl.Submit(ctx(t), api.SubmitJobRequest{Name: name, Spec: raw})
}

func waitJob(t *testing.T, cl *api.Client, id string, d time.Duration, what string, cond func(*api.JobInfo) bool) *api.JobInfo {
	t.Helper()
	var j *api.JobInfo
	waitFor(t, d, what, func() bool {
		var err error
		j, err = cl.Job(ctx(t), id)
		if err == nil && api.JobTerminal(j.State) && !cond(j) {
			b, _ := json.MarshalIndent(j, "", " ")
			t.Fatalf("job ended while waiting for %s:\n%s", what, b)
		}
		return err == nil && cond(j)
	})
	return j
}

func state(s string) func(*api.JobInfo) bool {
	return func(j *api.JobInfo) bool { return j.State == s }
}

// worker finds the process of a rank of the job's current attempt.
func (c *cluster) worker(j *api.JobInfo, rank int) *supervisor.Worker {
	c.t.Helper()
	d := c.byName(j.Plan.Ranks[rank].Node)
	p := d.sup.Worker(supervisor.Key{Job: j.ID, Attempt: len(j.Attempts), Rank: rank})
	if p == nil || p.PID() == 0 {
		c.t.Fatalf("no worker for rank %d of %s on %s", rank, j.ID, d.Name())
	}
	return p
}

// TestJobsOnCluster: three daemons run (1,1,1) jobs in real worker
// processes: a job runs to success with checkpoints committed through
// Raft and logs readable from any node; impossible jobs are refused with
// what to change; cancel stops the worker; a worker SIGKILLed fails its
// attempt within seconds; with --max-restarts the job resumes from its
// last committed checkpoint.
func TestJobsOnCluster(t *testing.T) {
	checkGoroutines(t)
	c := startJobCluster(t, 3)
	cl := client(t, c.nodes[1], testSecret) // a follower or the leader: either answers

	t.Run("refused", func(t *testing.T) {
		for _, tc := range []struct {
			edit func(*jobspec.Spec)
			want string
		}{
			{func(s *jobspec.Spec) { s.TensorParallel = 4 }, "needs 4 free devices on one node"},
			{func(s *jobspec.Spec) { s.DataParallel = 7 }, "the cluster has 6 devices: lower --data-parallel-size to 6"},
			{func(s *jobspec.Spec) { s.TensorParallel = 3 }, "do not divide by --tensor-model-parallel-size 3"},
			{func(s *jobspec.Spec) { s.TrainIters = 0 }, "give --train-iters"},
		} {
			s := tinySpec(10)
			tc.edit(&s)
			_, err := submitSpec(t, cl, "bad", s)
			var se *api.StatusError
			if !errors.As(err, &se) || se.Code != 400 || !strings.Contains(se.Message, tc.want) {
				t.Errorf("%v, want 400 saying %q", err, tc.want)
			}
		}
	})

	t.Run("succeeds", func(t *testing.T) {
		s := tinySpec(30)
		s.SaveInterval, s.LogInterval = 10, 5
		start := time.Now()
		j, err := submitSpec(t, cl, "tiny", s)
		if err != nil {
			t.Fatal(err)
		}
		j = waitJob(t, cl, j.ID, 60*time.Second, "success", state(api.JobSucceeded))
		t.Logf("30 steps on one rank: submitted → succeeded in %v", time.Since(start).Round(time.Millisecond))
		if len(j.Attempts) != 1 || j.Plan == nil || len(j.Plan.Ranks) != 1 || j.Plan.Ranks[0].Device == "" {
			t.Fatalf("job %+v", j)
		}
		var steps []int64
		for _, k := range j.Checkpoints {
			steps = append(steps, k.Step)
			dir := c.ckptDir(j, k)
			m, err := ckpt.ReadManifest(dir)
			b, _ := os.ReadFile(filepath.Join(dir, ckpt.ManifestName))
			sum := sha256.Sum256(b)
			if err != nil || hex.EncodeToString(sum[:]) != k.Manifest || m.Step != int(k.Step) || len(m.Shards) != 1 {
				t.Errorf("checkpoint %d: manifest %+v %v (committed %s)", k.Step, m, err, k.Manifest)
			}
		}
		if fmt.Sprint(steps) != "[10 20 30]" {
			t.Errorf("committed checkpoints %v, want [10 20 30]", steps)
		}
		list, err := cl.Checkpoints(ctx(t), j.ID)
		if err != nil || len(list.Checkpoints) != 3 {
			t.Errorf("checkpoints %+v %v", list, err)
		}
		// The log, read through a node that did not run the rank.
		var other *Daemon
		for _, d := range c.nodes {
			if d.Name() != j.Plan.Ranks[0].Node {
				other = d
			}
		}
		ch, err := client(t, other, testSecret).Logs(ctx(t), j.ID, api.LogQuery{Rank: 0})
		if err != nil || !ch.Complete || !strings.Contains(string(ch.Data), "step 30/30") || ch.Next != int64(len(ch.Data)) || ch.Attempt != 1 {
			t.Errorf("logs via %s: %v complete=%v\n%s", other.Name(), err, ch != nil && ch.Complete, ch.Data)
		}
		list2, err := cl.JobList(ctx(t))
		if err != nil || len(list2) == 0 {
			t.Errorf("job list %v %v", list2, err)
		}
	})

	t.Run("cancel", func(t *testing.T) {
		j, err := submitSpec(t, cl, "long", tinySpec(1_000_000))
		if err != nil {
			t.Fatal(err)
		}
		j = waitJob(t, cl, j.ID, 30*time.Second, "progress", func(j *api.JobInfo) bool { return j.Progress != nil && j.Progress.Step > 0 })
		p := c.worker(j, 0)
		q := api.LogQuery{Rank: 0, Follow: true}
		ch, err := cl.Logs(ctx(t), j.ID, q)
		if err != nil || len(ch.Data) == 0 || ch.Complete {
			t.Fatalf("follow a running worker's log: %v %+v", err, ch)
		}
		if _, err := cl.Cancel(ctx(t), j.ID); err != nil {
			t.Fatal(err)
		}
		waitJob(t, cl, j.ID, 10*time.Second, "cancelled", state(api.JobCancelled))
		took := waitFor(t, 10*time.Second, "worker stopped", func() bool {
			select {
			case <-p.Exited():
				return true
			default:
				return false
			}
		})
		t.Logf("cancel: worker gone %v after the job was cancelled", took.Round(time.Millisecond))
		for q.Offset = ch.Next; !ch.Complete; q.Offset = ch.Next { // -f ends when the worker has
			if ch, err = cl.Logs(ctx(t), j.ID, q); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := cl.Cancel(ctx(t), j.ID); err == nil {
			t.Error("cancelling a cancelled job succeeded")
		}
	})

	t.Run("queue", func(t *testing.T) {
		big := tinySpec(1_000_000)
		big.DataParallel, big.MicroBatch, big.GlobalBatch = 6, 1, 6
		first, err := submitSpec(t, cl, "everything", big)
		if err != nil {
			t.Fatal(err)
		}
		waitJob(t, cl, first.ID, 30*time.Second, "running", state(api.JobRunning))
		second, err := submitSpec(t, cl, "next", tinySpec(1_000_000))
		if err != nil {
			t.Fatal(err)
		}
		second = waitJob(t, cl, second.ID, 10*time.Second, "told why it waits", func(j *api.JobInfo) bool {
			return j.State == api.JobPending && strings.Contains(j.Reason, "waiting for devices")
		})
		t.Logf("second job: %s", second.Reason)
		if _, err := cl.Cancel(ctx(t), first.ID); err != nil {
			t.Fatal(err)
		}
		waitJob(t, cl, second.ID, 30*time.Second, "the second job runs", state(api.JobRunning))
		if _, err := cl.Cancel(ctx(t), second.ID); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("worker killed", func(t *testing.T) {
		j, err := submitSpec(t, cl, "victim", tinySpec(1_000_000))
		if err != nil {
			t.Fatal(err)
		}
		j = waitJob(t, cl, j.ID, 30*time.Second, "progress", func(j *api.JobInfo) bool { return j.Progress != nil && j.Progress.Step > 0 })
		c.worker(j, 0).Signal(syscall.SIGKILL)
		start := time.Now()
		j = waitJob(t, cl, j.ID, 10*time.Second, "failed", state(api.JobFailed))
		t.Logf("SIGKILL of the worker → job failed in %v", time.Since(start).Round(time.Millisecond))
		if cause := j.Attempts[0].Cause; !strings.Contains(cause, "rank 0") || !strings.Contains(cause, "killed") {
			t.Errorf("cause %q", cause)
		}
	})

	t.Run("restart from checkpoint", func(t *testing.T) {
		s := tinySpec(200)
		s.SaveInterval, s.MaxRestarts = 20, 1
		j, err := submitSpec(t, cl, "phoenix", s)
		if err != nil {
			t.Fatal(err)
		}
		j = waitJob(t, cl, j.ID, 30*time.Second, "a checkpoint", func(j *api.JobInfo) bool { return len(j.Checkpoints) > 0 })
		if j.State == api.JobSucceeded {
			t.Skip("the run finished before it could be killed")
		}
		c.worker(j, 0).Signal(syscall.SIGKILL)
		j = waitJob(t, cl, j.ID, 60*time.Second, "success after a restart", state(api.JobSucceeded))
		if len(j.Attempts) != 2 || j.Attempts[1].FromStep == 0 || j.Attempts[1].FromStep%20 != 0 || !strings.Contains(j.Attempts[0].Cause, "killed") {
			t.Errorf("attempts %+v", j.Attempts)
		}
		// The attempt resumed from the checkpoint of its FromStep (not
		// always the first: another may commit before the SIGKILL lands).
		k := slices.IndexFunc(j.Checkpoints, func(k api.Checkpoint) bool { return k.Step == j.Attempts[1].FromStep })
		if k < 0 {
			t.Fatalf("no checkpoint of step %d among %+v", j.Attempts[1].FromStep, j.Checkpoints)
		}
		ch, err := cl.Logs(ctx(t), j.ID, api.LogQuery{Rank: 0, Attempt: 2})
		if err != nil || !strings.Contains(string(ch.Data), fmt.Sprintf("resumed from %s: step %d", c.ckptDir(j, j.Checkpoints[k]), j.Attempts[1].FromStep)) {
			t.Errorf("attempt 2 log: %v\n%s", err, ch.Data)
		}
	})
}

// TestParallelJob: a TP×PP×DP = 1×2×3 job over three nodes, two ranks
// each: every daemon starts its workers, the ranks join their DP, PP and
// embedding groups and their stage links through the daemons' rendezvous
// (root info carried between nodes), train with the parallel trainer, and
// the coordinator commits each native checkpoint once its two shards are
// durable. Then the same job again, with a worker SIGKILLed after the first
// checkpoint: the attempt fails on every rank, the job resumes from the
// committed checkpoint, and ends with the same weights, bit for bit.
func TestParallelJob(t *testing.T) {
	if testing.Short() {
		t.Skip("six worker processes training over QUIC and shared memory")
	}
	if _, err := os.Stat("/dev/shm"); err != nil {
		t.Skip("no /dev/shm")
	}
	checkGoroutines(t)
	c := startJobCluster(t, 3)
	cl := client(t, c.nodes[0], testSecret)
	s := tinySpec(24)
	s.PipelineParallel, s.DataParallel, s.MicroBatch, s.GlobalBatch, s.SaveInterval = 2, 0, 1, 6, 4
	s.Save = filepath.Join(t.TempDir(), "ref") // one directory for every node: a shared file system
	// In fp16, as the seed's Bloom-7B: fp16 gradients reduced in fp16 by the
	// collective over shared memory and QUIC, the loss scaler's state in the
	// checkpoints that the restart below resumes bit for bit.
	s.FP16 = true
	// The last rank writes TensorBoard event files with Megatron's tags.
	s.TensorBoardDir, s.LogTimersToTensorboard = filepath.Join(t.TempDir(), "tb"), true
	start := time.Now()
	ref, err := submitSpec(t, cl, "pp2dp3", s)
	if err != nil {
		t.Fatal(err)
	}
	tbDir := s.TensorBoardDir
	s.TensorBoardDir, s.LogTimersToTensorboard = "", false
	ref = waitJob(t, cl, ref.ID, 90*time.Second, "success", state(api.JobSucceeded))
	t.Logf("(TP,PP,DP) = (1,2,3) on 3 nodes, 24 steps: submitted → succeeded in %v", time.Since(start).Round(time.Millisecond))
	if got := layoutOf(ref.Plan); got != "n1 n1 n2 n2 n3 n3" || ref.Plan.DP != 3 {
		t.Errorf("plan %s DP %d", got, ref.Plan.DP)
	}
	var steps []int64
	for _, k := range ref.Checkpoints {
		steps = append(steps, k.Step)
		m, err := ckpt.ReadManifest(k.Dir)
		if err != nil || m.Step != int(k.Step) || len(m.Shards) != 2 || m.Layout.DP != 3 {
			t.Errorf("checkpoint %d: %+v %v", k.Step, m, err)
		}
	}
	if fmt.Sprint(steps) != "[4 8 12 16 20 24]" {
		t.Errorf("committed checkpoints %v", steps)
	}
	if ref.Progress == nil || ref.Progress.Step != 24 || !(ref.Progress.Loss > 0) || ref.Progress.LossScale != 4096 {
		t.Errorf("progress %+v", ref.Progress)
	}
	// The seed's throughput figures ride with the progress: TFLOPs per
	// device by AscendSpeed's formula, MFU against the measured peak.
	if tp := ref.Progress.Throughput; !(tp.SecondsPerStep > 0 && tp.SamplesPerSec > 0 && tp.TFLOPs > 0 && tp.MFU > 0 && tp.MFU < 1) {
		t.Errorf("throughput %+v", tp)
	}
	events, _ := filepath.Glob(filepath.Join(tbDir, "events.out.tfevents.*"))
	if len(events) != 1 {
		t.Fatalf("event files %v", events)
	}
	scalars, err := tensorboard.ReadScalars(events[0])
	if err != nil {
		t.Fatal(err)
	}
	byTag := map[string]int{}
	for _, sc := range scalars {
		byTag[sc.Tag]++
		if sc.Tag == tensorboard.TagLossScale && sc.Value != 4096 {
			t.Errorf("loss scale %v at step %d", sc.Value, sc.Step)
		}
	}
	for _, tag := range []string{tensorboard.TagLMLoss, tensorboard.TagLMLoss + tensorboard.VsSamples, tensorboard.TagLMLoss + tensorboard.VsTokens,
		tensorboard.TagLearningRate, tensorboard.TagGradNorm, tensorboard.TagLossScale, tensorboard.TagTFLOPs, tensorboard.TagSamplesPerSecond} {
		if byTag[tag] != 24 {
			t.Errorf("TensorBoard %q: %d points, want one per step (24)", tag, byTag[tag])
		}
	}
	// Every step is in the job's history, in Raft: every node holds it.
	for _, d := range c.nodes {
		waitFor(t, 10*time.Second, d.Name()+" holds the history", func() bool { return len(d.State().Jobs[ref.ID].History) == 24 })
	}
	h, err := cl.History(ctx(t), ref.ID)
	if err != nil || len(h.Points) != 24 || h.Points[23].Step != 24 || h.Points[0].Attempt != 1 || h.Points[23].Loss != ref.Progress.Loss ||
		h.Points[23].LossScale != 4096 || !(h.Points[23].TFLOPs > 0) || h.Points[23].BatchSize != 6 {
		t.Fatalf("history: %v %+v", err, h)
	}
	for i, p := range h.Points {
		if p.Step != int64(i+1) {
			t.Fatalf("history point %d is step %d", i, p.Step)
		}
	}
	// The coordinator's /metrics has the job's figures beside the cluster's.
	text, err := client(t, c.waitLeader(10*time.Second), testSecret).Metrics(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{fmt.Sprintf("bloom_job_step{job=%q} 24\n", ref.ID), fmt.Sprintf("bloom_job_loss_scale{job=%q} 4096\n", ref.ID),
		fmt.Sprintf("bloom_job_info{job=%q,name=\"pp2dp3\",state=\"succeeded\"} 1", ref.ID), "bloom_job_tflops_per_device{job=", "bloom_raft_term "} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q:\n%s", want, text)
		}
	}
	ch, err := cl.Logs(ctx(t), ref.ID, api.LogQuery{Rank: 5})
	if err != nil || !strings.Contains(string(ch.Data), "step 24/24") || !strings.Contains(string(ch.Data), "loss-scale 4096") {
		t.Errorf("rank 5 log: %v\n%s", err, ch.Data)
	}

	// LoRA fine-tuning of the result on instruction data (the seed's
	// tune_bloom_7b1.sh): the base is the run's native checkpoints; adapters
	// on qkv and dense; alpaca records of ~300 byte tokens, the loss on
	// their responses.
	alpaca, err := filepath.Abs("../trainer/data/preprocess/testdata/alpaca_json")
	if err != nil {
		t.Fatal(err)
	}
	ft := s
	ft.Load, ft.Save, ft.TrainIters, ft.SaveInterval = s.Save, filepath.Join(t.TempDir(), "lora"), 4, 0
	ft.LoRATargetModules, ft.LoRAR, ft.LoRAAlpha = []string{"query_key_value", "dense"}, 4, 8
	ft.DataPath, ft.InstructionDataset, ft.SeqLength = alpaca, true, 320
	lj, err := submitSpec(t, cl, "pp2dp3-lora", ft)
	if err != nil {
		t.Fatal(err)
	}
	lj = waitJob(t, cl, lj.ID, 60*time.Second, "LoRA success", state(api.JobSucceeded))
	lm, err := ckpt.ReadManifest(lj.Checkpoints[len(lj.Checkpoints)-1].Dir)
	var rec struct {
		R       int      `json:"lora_r"`
		Targets []string `json:"lora_target_modules"`
	}
	if err == nil {
		err = json.Unmarshal(lm.Model, &rec)
	}
	if err != nil || rec.R != 4 || fmt.Sprint(rec.Targets) != "[query_key_value dense]" || lm.Step != 4 {
		t.Errorf("LoRA checkpoint: %s step %d, %v", lm.Model, lm.Step, err)
	}
	if ch, err := cl.Logs(ctx(t), lj.ID, api.LogQuery{Rank: 0}); err != nil || !strings.Contains(string(ch.Data), "starting LoRA fine-tuning") {
		t.Errorf("LoRA rank 0 log: %v\n%s", err, ch.Data)
	}

	s.Save, s.MaxRestarts = filepath.Join(t.TempDir(), "again"), 1
	j, err := submitSpec(t, cl, "pp2dp3-killed", s)
	if err != nil {
		t.Fatal(err)
	}
	j = waitJob(t, cl, j.ID, 60*time.Second, "a checkpoint", func(j *api.JobInfo) bool { return len(j.Checkpoints) > 0 })
	if j.State == api.JobSucceeded || len(j.Checkpoints) == len(ref.Checkpoints) {
		t.Skip("the run finished before it could be killed")
	}
	c.worker(j, 3).Signal(syscall.SIGKILL)
	killed := time.Now()
	j = waitJob(t, cl, j.ID, 30*time.Second, "a second attempt", func(j *api.JobInfo) bool { return len(j.Attempts) == 2 })
	t.Logf("rank 3 SIGKILLed → attempt 2 started (from step %d) in %v", j.Attempts[1].FromStep, time.Since(killed).Round(time.Millisecond))
	j = waitJob(t, cl, j.ID, 90*time.Second, "success after the restart", state(api.JobSucceeded))
	if !strings.Contains(j.Attempts[0].Cause, "rank 3") || j.Attempts[1].FromStep == 0 {
		t.Errorf("attempts %+v", j.Attempts)
	}
	// The history holds both attempts: the second from its checkpoint on.
	var hist *api.JobHistory
	waitFor(t, 10*time.Second, "the second attempt's history", func() bool {
		hist, err = cl.History(ctx(t), j.ID)
		return err == nil && len(hist.Points) > 0 && hist.Points[len(hist.Points)-1].Step == 24
	})
	var second []int64
	for _, p := range hist.Points {
		if p.Attempt == 2 {
			second = append(second, p.Step)
		}
	}
	if len(second) == 0 || second[0] != j.Attempts[1].FromStep+1 || second[len(second)-1] != 24 || hist.Points[0].Attempt != 1 {
		t.Errorf("history of the restarted job: second attempt's steps %v (from the checkpoint of %d)", second, j.Attempts[1].FromStep)
	}
	want, err1 := ckpt.ReadManifest(ref.Checkpoints[len(ref.Checkpoints)-1].Dir)
	got, err2 := ckpt.ReadManifest(j.Checkpoints[len(j.Checkpoints)-1].Dir)
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	for i := range want.Shards {
		if got.Shards[i].SHA256 != want.Shards[i].SHA256 {
			t.Errorf("shard %s after a restart: %.12s, uninterrupted %.12s", want.Shards[i].File, got.Shards[i].SHA256, want.Shards[i].SHA256)
		}
	}
}

func layoutOf(p *api.Plan) string {
	var s []string
	for _, r := range p.Ranks {
		s = append(s, r.Node)
	}
	return strings.Join(s, " ")
}
