package daemon

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"bloom/api"
	"bloom/ckpt"
	"bloom/cli"
)

// bloomctl runs bloomctl in this process against node d with the API
// token, and returns its standard output and error apart.
func bloomctl(t *testing.T, d *Daemon, args ...string) (string, string, error) {
	t.Helper()
	app := cli.CtlApp()
	var out, errOut bytes.Buffer
	app.Writer, app.ErrWriter = &out, &errOut
	err := app.Run(append([]string{"bloomctl", "--addr", d.APIAddr(), "--token", testSecret.Token()}, args...))
	return out.String(), errOut.String(), err
}

// TestCheckpointFetch: a PP=2 job on three one-device nodes keeps its
// checkpoints in each node's data dir, so each stage's shard lives on the
// node that ran it and its copy. `bloomctl checkpoints fetch` gathers the
// last step from both writers over the API with the token, checking
// SHA-256; `convert` makes a Hugging Face model of it that scores, equal
// tensor for tensor to converting the same job's checkpoint from a shared
// --save directory. A directory missing a shard makes convert name it and
// the fetch command; the file endpoint serves nothing but the step's files.
// bloomctl logs -o json prints one object per line of a rank's log.
func TestCheckpointFetch(t *testing.T) {
	if testing.Short() {
		t.Skip("two PP=2 jobs on a three-node cluster")
	}
	checkGoroutines(t)
	c := startChaosCluster(t, 3)
	l := c.waitLeader(10 * time.Second)
	cl := client(t, l, testSecret)
	s := tinySpec(8)
	s.PipelineParallel, s.SaveInterval = 2, 4
	j, err := submitSpec(t, cl, "spread", s)
	if err != nil {
		t.Fatal(err)
	}
	j = waitJob(t, cl, j.ID, 90*time.Second, "success", state(api.JobSucceeded))
	last := j.Checkpoints[len(j.Checkpoints)-1]
	var writers []string
	for _, f := range last.Files {
		writers = append(writers, f.Nodes[0])
	}
	if len(last.Files) != 2 || writers[0] == writers[1] {
		t.Fatalf("step %d's shards %+v: want two, written on two nodes", last.Step, last.Files)
	}

	out := filepath.Join(t.TempDir(), "fetched")
	stdout, stderr, err := bloomctl(t, l, "-o", "json", "checkpoints", "fetch", j.ID, "--out", out)
	if err != nil {
		t.Fatalf("fetch: %v\n%s", err, stderr)
	}
	var sum struct {
		Step  int64
		Files []struct{ Name, From string }
	}
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil || sum.Step != last.Step || len(sum.Files) != 3 || sum.Files[2].Name != ckpt.ManifestName {
		t.Fatalf("fetch summary %q: %v", stdout, err)
	}
	for i, w := range writers {
		if sum.Files[i].From != w || !strings.Contains(stderr, last.Files[i].Name+": ") {
			t.Errorf("%s came from %q, want its writer %s; progress:\n%s", last.Files[i].Name, sum.Files[i].From, w, stderr)
		}
	}
	t.Logf("fetch of step %d, shards written by %v:\n%s", last.Step, writers, stderr)
	// Again: the files are there and match, nothing is downloaded.
	if _, stderr, err := bloomctl(t, l, "checkpoints", "fetch", j.ID, "--step", "8", "--out", out); err != nil || strings.Count(stderr, "already in") != 3 {
		t.Errorf("second fetch: %v\n%s", err, stderr)
	}

	// bloomctl logs -o json: one object per line of the log.
	logs, _, err := bloomctl(t, l, "-o", "json", "logs", j.ID, "--rank", "1")
	lines := strings.Split(strings.TrimSpace(logs), "\n")
	if err != nil || len(lines) < 8 {
		t.Fatalf("logs -o json: %v\n%s", err, logs)
	}
	steps := 0
	for _, ln := range lines {
		var o struct {
			Job     string
			Rank    int
			Attempt int
			Line    string
		}
		if err := json.Unmarshal([]byte(ln), &o); err != nil || o.Job != j.ID || o.Rank != 1 || o.Attempt != 1 || strings.Contains(o.Line, "\n") {
			t.Fatalf("logs -o json line %q: %v", ln, err)
		}
		if strings.Contains(o.Line, "step ") && strings.Contains(o.Line, "/8 |") {
			steps++
		}
	}
	if steps != 8 {
		t.Errorf("logs -o json: %d step lines of 8\n%s", steps, logs)
	}

	// The same job with one --save directory every node writes to.
	s.Save = filepath.Join(t.TempDir(), "shared")
	ref, err := submitSpec(t, cl, "shared", s)
	if err != nil {
		t.Fatal(err)
	}
	ref = waitJob(t, cl, ref.ID, 90*time.Second, "success", state(api.JobSucceeded))
	hf, refHF := filepath.Join(t.TempDir(), "hf"), filepath.Join(t.TempDir(), "ref-hf")
	for _, args := range [][]string{{"convert", "--model", out, "--out", hf}, {"convert", "--model", s.Save, "--out", refHF}, {"score", "--model", hf, "--tokens", "5,17,42,7"}} {
		if _, stderr, err := bloomctl(t, l, args...); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, stderr)
		}
	}
	sameTensors(t, hf, refHF)

	// A step directory with a shard missing: convert names it and the way
	// to get it.
	partial := filepath.Join(t.TempDir(), "partial")
	os.MkdirAll(partial, 0o755)
	for _, name := range []string{last.Files[0].Name, ckpt.ManifestName} {
		b, _ := os.ReadFile(filepath.Join(out, name))
		os.WriteFile(filepath.Join(partial, name), b, 0o644)
	}
	_, _, err = bloomctl(t, l, "convert", "--model", partial, "--out", filepath.Join(t.TempDir(), "no"))
	if err == nil || !strings.Contains(err.Error(), last.Files[1].Name) || !strings.Contains(err.Error(), "bloomctl checkpoints fetch") || !errors.Is(err, ckpt.ErrNotFound) {
		t.Errorf("convert of a partial directory: %v", err)
	}

	// The endpoint serves the step's own files only.
	for _, bad := range []struct {
		step int64
		name string
	}{{last.Step, "../../../../etc/passwd"}, {last.Step, "config.json"}, {last.Step, "."}, {999, ckpt.ManifestName}} {
		body, err := cl.CheckpointFile(ctx(t), j.ID, bad.step, bad.name)
		var se *api.StatusError
		if err == nil {
			io.Copy(io.Discard, body)
			body.Close()
		}
		if !errors.As(err, &se) || se.Code != 404 {
			t.Errorf("step %d file %q: %v, want 404", bad.step, bad.name, err)
		}
	}
}

// sameTensors fails t unless the Hugging Face models in dirs a and b hold
// the same tensors, bit for bit.
func sameTensors(t *testing.T, a, b string) {
	t.Helper()
	ha, err := ckpt.OpenHF(a)
	if err != nil {
		t.Fatal(err)
	}
	defer ha.Close()
	hb, err := ckpt.OpenHF(b)
	if err != nil {
		t.Fatal(err)
	}
	defer hb.Close()
	if !slices.Equal(ha.Names(), hb.Names()) {
		t.Fatalf("tensors %v and %v", ha.Names(), hb.Names())
	}
	for _, n := range ha.Names() {
		x, _, err1 := ha.Float32(n)
		y, _, err2 := hb.Float32(n)
		if err1 != nil || err2 != nil || !slices.Equal(x, y) {
			t.Fatalf("%s differs (%v %v)", n, err1, err2)
		}
	}
}
