package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"bloom/api"
	"bloom/ckpt"
	"bloom/daemon/identity"
	"bloom/daemon/jobspec"
	"bloom/npu"
	"bloom/npu/cpu"
	"bloom/trainer"
	"bloom/trainer/bloom"
	"bloom/trainer/eval"
	"bloom/trainer/serve"
	"bloom/trainer/tokenizer"
)

// TestInferenceJobs: a generate job split TP2 × PP2 over two nodes answers
// with the tokens one process generates from the same model, and an
// evaluate job (BoolQ, TP2 × PP2, --no-pack-weights) with its per-question
// answers; both answers are kept with the job.
func TestInferenceJobs(t *testing.T) {
	if testing.Short() {
		t.Skip("eight worker processes")
	}
	full, tok, model := testModel(t)

	c := startJobCluster(t, 2)
	cl := client(t, c.nodes[0], testSecret)
	s := jobspec.Default()
	s.Kind, s.ModelPreset, s.Load = jobspec.KindGenerate, "bloom-tiny", model
	s.TensorParallel, s.PipelineParallel, s.MicroBatch, s.SeqLength = 2, 2, 2, 64
	s.Prompts, s.MaxNewTokens = []string{"The river, ", "Once upon a time", "abc"}, 8
	j, err := submitSpec(t, cl, "gen", s)
	if err != nil {
		t.Fatal(err)
	}
	j = waitJob(t, cl, j.ID, 90*time.Second, "generate success", state(api.JobSucceeded))
	var got api.GenerateResult
	if err := json.Unmarshal(j.Result, &got); err != nil || len(got.Outputs) != 3 {
		t.Fatalf("result %s: %v", j.Result, err)
	}
	t.Logf("generated: %+v", got.Outputs)
	for i, p := range s.Prompts {
		var lps []float64
		pick := func(row int, logits []float32) int32 {
			t := bloom.Greedy(row, logits)
			lps = append(lps, bloom.LogProb(logits, t))
			return t
		}
		want, err := full.Generate([][]int32{tok.Encode(p).IDs}, 3, bloom.GenerateOptions{MaxNew: 8, EOS: 2, Pick: pick})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.Outputs[i].Tokens, want[0]) || got.Outputs[i].Text != tok.Decode(want[0], true) {
			t.Errorf("prompt %q: the job generated %v, one process %v", p, got.Outputs[i].Tokens, want[0])
		}
		// Log-probabilities within float32 rounding: TP sums the logits'
		// partial products in another order (~1e-6 of a logit of ~10).
		if len(got.Outputs[i].Logprobs) != len(want[0]) {
			t.Fatalf("prompt %q: %d log-probabilities for %d tokens", p, len(got.Outputs[i].Logprobs), len(want[0]))
		}
		for k, lp := range got.Outputs[i].Logprobs {
			if d := float64(lp) - lps[k]; d*d > 1e-8 {
				t.Errorf("prompt %q token %d: log-probability %v, one process %v", p, k, lp, lps[k])
			}
		}
	}

	var lines []string
	for i := range 6 {
		lines = append(lines, fmt.Sprintf(`{"passage": "The %s is %d.", "question": "is it %d", "answer": %v}`,
			[]string{"river", "stone", "cloud"}[i%3], i, i+i%2, i%2 == 0))
	}
	boolq := filepath.Join(t.TempDir(), "boolq.jsonl")
	if err := os.WriteFile(boolq, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e := s // its ranks keep the weights once (the generate job's packed them)
	e.Kind, e.Prompts, e.MaxNewTokens, e.Task, e.TaskDataPath, e.NoPackWeights = jobspec.KindEvaluate, nil, 0, "boolq", boolq, true
	j, err = submitSpec(t, cl, "eval", e)
	if err != nil {
		t.Fatal(err)
	}
	j = waitJob(t, cl, j.ID, 90*time.Second, "evaluate success", state(api.JobSucceeded))
	var res api.EvaluateResult
	if err := json.Unmarshal(j.Result, &res); err != nil || res.Questions != 6 {
		t.Fatalf("result %s: %v", j.Result, err)
	}
	qs, err := eval.LoadBoolQ(boolq)
	if err != nil {
		t.Fatal(err)
	}
	want, err := eval.Run(eval.Config{Model: full, Tok: tok, Pad: 3, SeqLength: 64, Batch: 2}, qs)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("BoolQ: %v, %d of %d", res.Answers, res.Correct, res.Questions)
	if !slices.Contains(res.Answers, "T") || !slices.Contains(res.Answers, "F") {
		t.Errorf("BoolQ answers %v: the test needs a model that answers both", res.Answers)
	}
	if !slices.Equal(res.Answers, want.Answers) || res.Correct != want.Correct {
		t.Errorf("BoolQ answers %v (%d correct), one process %v (%d)", res.Answers, res.Correct, want.Answers, want.Correct)
	}
}

// completer posts an OpenAI completions body to a serve job through a
// node's API, with the user token, and returns the status and body.
func completer(t *testing.T) func(node *Daemon, job, body string) (int, []byte) {
	tlsConf, err := identity.TokenClientTLS(testSecret.Token())
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConf}, Timeout: 30 * time.Second}
	t.Cleanup(hc.CloseIdleConnections)
	return func(node *Daemon, job, body string) (int, []byte) {
		req, _ := http.NewRequest("POST", "https://"+node.APIAddr()+"/v1/serve/"+job+"/v1/completions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testSecret.Token())
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, b
	}
}

// TestServeJobHalfCache: a serve job with --kv-cache-dtype fp16, TP2 on one
// node, answers what one process serving with an fp16 cache answers: the
// same text, each token's log-probability within float32 rounding of it and
// further than that from a float32 cache's (so the job's cache is fp16).
func TestServeJobHalfCache(t *testing.T) {
	if testing.Short() {
		t.Skip("serving worker processes")
	}
	full, tok, model := testModel(t)
	alone := func(kv npu.DType) serve.Result {
		d, err := trainer.LocalBatcher(full, trainer.BatchShape{Rows: 8, Positions: 64, KV: kv})
		if err != nil {
			t.Fatal(err)
		}
		e := &serve.Engine{Decoder: d, Tok: tok, Pad: 3, EOS: 2}
		ectx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go e.Run(ectx)
		r, err := e.Complete(ectx, serve.Request{Prompt: tok.Encode("Once upon a time").IDs, MaxTokens: 8})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	want, f32 := alone(npu.F16), alone(npu.F32)
	c := startJobCluster(t, 1)
	cl := client(t, c.nodes[0], testSecret)
	s := jobspec.Default()
	s.Kind, s.ModelPreset, s.Load, s.SeqLength, s.KVCacheDType = jobspec.KindServe, "bloom-tiny", model, 64, "fp16"
	s.TensorParallel = 2
	j, err := submitSpec(t, cl, "srv16", s)
	if err != nil {
		t.Fatal(err)
	}
	complete := completer(t)
	var code int
	var body []byte
	waitFor(t, 60*time.Second, "the job serves", func() bool {
		code, body = complete(c.nodes[0], j.ID, `{"model":"model","prompt":"Once upon a time","max_tokens":8,"temperature":0,"logprobs":0}`)
		return code == http.StatusOK
	})
	var res struct {
		Choices []struct {
			Text     string
			Logprobs struct {
				TokenLogprobs []float64 `json:"token_logprobs"`
			}
		}
	}
	if json.Unmarshal(body, &res) != nil || len(res.Choices) != 1 || res.Choices[0].Text != want.Text ||
		len(res.Choices[0].Logprobs.TokenLogprobs) != len(want.Tokens) {
		t.Fatalf("the fp16-cache job: %d %s; one process with an fp16 cache says %q", code, body, want.Text)
	}
	apart := 0.0 // how far fp16's log-probabilities are from float32's
	for i, lp := range res.Choices[0].Logprobs.TokenLogprobs {
		if math.Abs(lp-want.Tokens[i].Logprob) > 1e-4 {
			t.Errorf("token %d: log-probability %v, one process with an fp16 cache %v", i, lp, want.Tokens[i].Logprob)
		}
		if i < len(f32.Tokens) {
			apart = max(apart, math.Abs(want.Tokens[i].Logprob-f32.Tokens[i].Logprob))
		}
	}
	if apart < 1e-4 {
		t.Errorf("an fp16 cache's log-probabilities are within %v of a float32 cache's: the test cannot tell them apart", apart)
	}
	if _, err := cl.Cancel(ctx(t), j.ID); err != nil {
		t.Fatal(err)
	}
}

// testModel saves a random bloom-tiny with large weights (logits far apart,
// so another summation order cannot flip a greedy pick) and the byte-level
// tokenizer as a Hugging Face directory.
func testModel(t *testing.T) (*bloom.Model, *tokenizer.Tokenizer, string) {
	t.Helper()
	preset, err := bloom.Preset("bloom-tiny")
	if err != nil {
		t.Fatal(err)
	}
	full, err := bloom.New(cpu.New(1), preset)
	if err != nil {
		t.Fatal(err)
	}
	full.InitRandom(5, 0.3) // large weights: logits far apart, so TP's other sum order cannot flip a greedy pick
	model := filepath.Join(t.TempDir(), "model")
	if err := trainer.SaveHF(full, ckpt.DefaultBloomConfig(), model, ckpt.F32, 0); err != nil {
		t.Fatal(err)
	}
	if err := tokenizer.ByteLevel().WriteFile(filepath.Join(model, "tokenizer.json")); err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.Load(filepath.Join(model, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}

	return full, tok, model
}

// TestServeJob: a serve job split TP2 × PP2 over two nodes answers
// OpenAI's completions through any bloomd, with the user token, as the
// model answers alone; a job that does not serve says so; a rank killed
// gives 503s, never a hang, until the job serves again.
func TestServeJob(t *testing.T) {
	if testing.Short() {
		t.Skip("a serving worker process")
	}
	full, tok, model := testModel(t)
	c := startJobCluster(t, 3)
	cl := client(t, c.nodes[0], testSecret)
	s := jobspec.Default()
	s.Kind, s.ModelPreset, s.Load, s.SeqLength, s.MaxRestarts = jobspec.KindServe, "bloom-tiny", model, 64, 2
	s.TensorParallel, s.PipelineParallel = 2, 2
	j, err := submitSpec(t, cl, "srv", s)
	if err != nil {
		t.Fatal(err)
	}
	complete := completer(t)
	want := tok.Decode(mustGenerate(t, full, tok, "Once upon a time", 8), true)
	for _, node := range c.nodes { // the serving node and the other one
		var code int
		var body []byte
		waitFor(t, 60*time.Second, "the job serves", func() bool {
			code, body = complete(node, j.ID, `{"model":"model","prompt":"Once upon a time","max_tokens":8,"temperature":0}`)
			return code == http.StatusOK
		})
		var res struct{ Choices []struct{ Text string } }
		if json.Unmarshal(body, &res) != nil || len(res.Choices) != 1 || res.Choices[0].Text != want {
			t.Errorf("through %s: %d %s; the model alone says %q", node.cfg.Name, code, body, want)
		}
	}
	if code, body := complete(c.nodes[2], "nojob", `{}`); code != http.StatusNotFound {
		t.Errorf("an unknown job: %d %s", code, body)
	}
	// A following rank (the last stage's) dies: requests get 503 (never a
	// hang) until the job's next attempt serves again.
	j, err = cl.Job(ctx(t), j.ID)
	if err != nil {
		t.Fatal(err)
	}
	c.worker(j, 3).Signal(syscall.SIGKILL)
	saw503 := false
	waitFor(t, 60*time.Second, "serving again after the worker died", func() bool {
		code, _ := complete(c.nodes[1], j.ID, `{"model":"model","prompt":"Once upon a time","max_tokens":8,"temperature":0}`)
		saw503 = saw503 || code == http.StatusServiceUnavailable
		return code == http.StatusOK
	})
	if j, err = cl.Job(ctx(t), j.ID); err != nil || len(j.Attempts) < 2 || !saw503 {
		t.Errorf("after the kill: attempts %d, a 503 seen %v, %v", len(j.Attempts), saw503, err)
	}
	// A node of a following rank drains (SIGTERM, a rollout): rank 0 hears
	// its vote, finishes, every rank stops as planned, and the job serves
	// again on the nodes left.
	victim := c.index(c.byName(j.Plan.Ranks[3].Node))
	if j.Plan.Ranks[0].Node == j.Plan.Ranks[3].Node {
		t.Fatalf("ranks 0 and 3 on one node: %+v", j.Plan.Ranks)
	}
	attempts := len(j.Attempts)
	dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.nodes[victim].Drain(dctx); err != nil {
		t.Fatal(err)
	}
	front := c.nodes[(victim+1)%3]
	waitFor(t, 60*time.Second, "serving again after the drain", func() bool {
		code, _ := complete(front, j.ID, `{"model":"model","prompt":"Once upon a time","max_tokens":8,"temperature":0}`)
		return code == http.StatusOK
	})
	if j, err = cl.Job(ctx(t), j.ID); err != nil || len(j.Attempts) != attempts+1 || !j.Attempts[attempts-1].Planned {
		t.Fatalf("after the drain: %+v %v", j.Attempts, err)
	}
	for _, r := range j.Plan.Ranks {
		if r.Node == c.nodes[victim].Name() {
			t.Errorf("a rank still on the drained node: %+v", j.Plan.Ranks)
		}
	}
	if _, err := cl.Cancel(ctx(t), j.ID); err != nil {
		t.Fatal(err)
	}
	waitJob(t, cl, j.ID, 30*time.Second, "cancelled", func(j *api.JobInfo) bool { return api.JobTerminal(j.State) })
}

// mustGenerate is the model's greedy continuation of prompt alone.
func mustGenerate(t *testing.T, m *bloom.Model, tok *tokenizer.Tokenizer, prompt string, n int) []int32 {
	t.Helper()
	out, err := m.Generate([][]int32{tok.Encode(prompt).IDs}, 3, bloom.GenerateOptions{MaxNew: n, EOS: 2, Pick: bloom.Greedy})
	if err != nil {
		t.Fatal(err)
	}
	return out[0]
}
