package daemon

import (
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"bloom/api"
	"bloom/daemon/identity"
)

// TestForgedReports: the user token cannot reach the endpoints nodes talk
// through (it froze a job with one forged report before); a certificate
// may report only for its own node; a node's report for an attempt that
// is not the current one, or for an invented job, leaves the job training
// and creates no state.
func TestForgedReports(t *testing.T) {
	if testing.Short() {
		t.Skip("a worker process")
	}
	c := startJobCluster(t, 1)
	d := c.nodes[0]
	cl := client(t, d, testSecret)
	j, err := submitSpec(t, cl, "victim", tinySpec(100000))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Cancel(ctx(t), j.ID) })
	waitJob(t, cl, j.ID, 60*time.Second, "a few steps", func(j *api.JobInfo) bool { return j.Progress != nil && j.Progress.Step >= 2 })
	forged := api.NodeReport{Node: d.Name(), Ranks: []api.RankReport{{Job: j.ID, Attempt: 99, Rank: 0, Exited: true, Error: "forged"},
		{Job: "invented", Attempt: 1, Rank: 0}}}
	tlsConf, err := identity.TokenClientTLS(testSecret.Token())
	if err != nil {
		t.Fatal(err)
	}
	tc, _ := api.NewClient(d.APIAddr(), tlsConf, testSecret.Token())
	defer tc.Close()
	var se *api.StatusError
	if _, err := tc.Report(ctx(t), forged); !errors.As(err, &se) || se.Code != http.StatusForbidden {
		t.Errorf("a report with the user token: %v, want 403", err)
	}
	if _, err := tc.Rendezvous(ctx(t), j.ID, 1, "x"); !errors.As(err, &se) || se.Code != http.StatusForbidden {
		t.Errorf("a rendezvous read with the user token: %v, want 403", err)
	}
	// bloomctl's certificate (CN bloomctl) reporting for the node.
	if _, err := cl.Report(ctx(t), forged); !errors.As(err, &se) || se.Code != http.StatusForbidden {
		t.Errorf("a report for %s from another certificate: %v, want 403", d.Name(), err)
	}
	// The node's own certificate: accepted, but what is not its to report is dropped.
	id, err := identity.New(testSecret, d.Name())
	if err != nil {
		t.Fatal(err)
	}
	nodeCl, _ := api.NewClient(d.APIAddr(), id.ClientTLS(identity.ALPNHTTP), "")
	defer nodeCl.Close()
	if _, err := nodeCl.Report(ctx(t), forged); err != nil {
		t.Fatalf("the node's own report: %v", err)
	}
	before, _ := cl.Job(ctx(t), j.ID)
	waitJob(t, cl, j.ID, 30*time.Second, "training on", func(x *api.JobInfo) bool {
		return x.State == api.JobRunning && x.Progress != nil && x.Progress.Step > before.Progress.Step+3 && x.Progress.Attempt == 1
	})
	d.jobs.mu.Lock()
	_, leaked := d.jobs.sched.Live("invented")
	d.jobs.mu.Unlock()
	if leaked {
		t.Error("a report for an invented job left state on the leader")
	}
}

// TestSaveOwned: a --save directory belongs to one live job: a second
// submit on it is refused naming the owner (before, both "succeeded" and
// the directory held only the second's shards); once the owner ended, the
// directory is free again.
func TestSaveOwned(t *testing.T) {
	c := startJobCluster(t, 1)
	cl := client(t, c.nodes[0], testSecret)
	s := tinySpec(100000)
	s.Save = filepath.Join(t.TempDir(), "run")
	a, err := submitSpec(t, cl, "first", s)
	if err != nil {
		t.Fatal(err)
	}
	s.Save += "/" // the same directory, spelled otherwise
	_, err = submitSpec(t, cl, "second", s)
	var se *api.StatusError
	if !errors.As(err, &se) || se.Code != http.StatusConflict || !strings.Contains(err.Error(), a.ID) {
		t.Fatalf("a second job on the same --save: %v, want 409 naming %s", err, a.ID)
	}
	if _, err := cl.Cancel(ctx(t), a.ID); err != nil {
		t.Fatal(err)
	}
	waitJob(t, cl, a.ID, 30*time.Second, "cancelled", func(j *api.JobInfo) bool { return api.JobTerminal(j.State) })
	b, err := submitSpec(t, cl, "second", s)
	if err != nil {
		t.Fatalf("the directory after its owner ended: %v", err)
	}
	cl.Cancel(ctx(t), b.ID)
}

// TestBodyTooLarge: a 9 MB submit gets 413 with an error body (it got a
// reset connection before).
func TestBodyTooLarge(t *testing.T) {
	c := startJobCluster(t, 1)
	tlsConf, err := identity.TokenClientTLS(testSecret.Token())
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConf}, Timeout: 30 * time.Second}
	defer hc.CloseIdleConnections()
	body := `{"name":"big","spec":{"data_path":"` + strings.Repeat("x", 9<<20) + `"}}`
	req, _ := http.NewRequest("POST", "https://"+c.nodes[0].APIAddr()+api.PathJobs, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testSecret.Token())
	res, err := hc.Do(req)
	if err != nil {
		t.Fatalf("a 9 MB body: %v (want a 413 answer)", err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), "too large") {
		t.Errorf("a 9 MB body: %d %s", res.StatusCode, b)
	}
}

// TestChecksBeforeWork: a job whose ranks cannot fit in any node's memory
// (BLOOM-176B, preset "bloom", on TP2×PP2: hundreds of GiB per rank) is refused at submit
// with the plan's numbers, where it used to be accepted and grow until
// cancelled; a job whose --save cannot be written fails before its first
// step as the job's own fault (not retried), where it used to fail only
// when it first saved.
func TestChecksBeforeWork(t *testing.T) {
	checkGoroutines(t)
	c := startDaemons(t, 1, func(cfg *Config) { cfg.Devices = "cpu:4" }, false)
	d := c.nodes[0]
	cl := client(t, d, testSecret)
	waitFor(t, 10*time.Second, "the node's memory in gossip", func() bool { return d.ml.Meta().MemPerDevice > 0 })

	s := tinySpec(10)
	s.ModelPreset, s.TensorParallel, s.PipelineParallel, s.MicroBatch, s.GlobalBatch = "bloom", 2, 2, 1, 1
	_, err := submitSpec(t, cl, "too-big", s)
	var se *api.StatusError
	if !errors.As(err, &se) || se.Code != http.StatusBadRequest || !strings.Contains(err.Error(), "out of memory before it starts") ||
		!strings.Contains(err.Error(), "GiB") || !strings.Contains(err.Error(), "bloomctl plan") {
		t.Fatalf("bloom (176B) on four CPU devices: %v", err)
	}
	t.Logf("refused: %v", err)

	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s = tinySpec(1000)
	s.Save, s.MaxRestarts = filepath.Join(file, "ckpt"), 3
	j, err := submitSpec(t, cl, "unwritable-save", s)
	if err != nil {
		t.Fatal(err)
	}
	j = waitJob(t, cl, j.ID, 30*time.Second, "failure", state(api.JobFailed))
	if len(j.Attempts) != 1 || !strings.Contains(j.Attempts[0].Cause, "the job's input is wrong") ||
		!strings.Contains(j.Attempts[0].Cause, "cannot hold checkpoints") || j.Attempts[0].LastStep != 0 {
		t.Fatalf("attempts %+v", j.Attempts)
	}
}

// TestJobRoots: with --job-roots, a job naming a path outside them is
// refused at submit (400, which flag and why); a node whose own roots do
// not hold a path the submitting node allowed refuses to start the rank,
// and the job fails as its input's fault, naming that node.
func TestJobRoots(t *testing.T) {
	checkGoroutines(t)
	roots := map[string]string{"n1": t.TempDir(), "n2": t.TempDir()}
	c := startDaemons(t, 2, func(cfg *Config) {
		cfg.Devices = "cpu:1"
		cfg.Jobs.Roots = []string{roots[cfg.Name]}
	}, false)
	l := c.waitLeader(10 * time.Second)
	cl := client(t, l, testSecret)
	s := tinySpec(20)
	s.DataParallel, s.MicroBatch, s.GlobalBatch = 2, 1, 2
	s.Save = "/etc/bloom-run"
	_, err := submitSpec(t, cl, "outside", s)
	var se *api.StatusError
	if !errors.As(err, &se) || se.Code != http.StatusBadRequest || !strings.Contains(err.Error(), "--save /etc/bloom-run is outside this node's --job-roots") {
		t.Fatalf("--save /etc: %v", err)
	}
	s.Save = filepath.Join(roots[l.Name()], "run")
	j, err := submitSpec(t, cl, "other-node-refuses", s)
	if err != nil {
		t.Fatal(err)
	}
	j = waitJob(t, cl, j.ID, 30*time.Second, "failure", state(api.JobFailed))
	other := "n1"
	if l.Name() == "n1" {
		other = "n2"
	}
	cause := j.Attempts[0].Cause
	if len(j.Attempts) != 1 || !strings.Contains(cause, "the job's input is wrong") || !strings.Contains(cause, "node "+other+": ") ||
		!strings.Contains(cause, "outside this node's --job-roots") {
		t.Fatalf("attempts %+v", j.Attempts)
	}
}
