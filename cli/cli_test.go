package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	ucli "github.com/urfave/cli/v2"

	"bloom/ckpt"
	"bloom/internal/cpuid"
	"bloom/npu/cpu"
	"bloom/trainer"
	"bloom/trainer/bloom"
	"bloom/trainer/tokenizer"
)

// golden is a tiny Hugging Face model with PyTorch reference outputs.
const golden = "../trainer/testdata/golden/h4"

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	app := CtlApp()
	var out bytes.Buffer
	app.Writer, app.ErrWriter = &out, &out
	app.ExitErrHandler = func(*ucli.Context, error) {} // return usage errors, not os.Exit
	err := app.Run(Intersperse(app, SeedArgs(append([]string{"bloomctl"}, args...))))
	return out.String(), err
}

// TestUsageErrors: a mistyped flag is one line naming the nearest one (not
// the whole help), with exit status 2; so is one after a subcommand.
func TestUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"jobs", "--ouptut", "json"}, "bloomctl jobs: unknown flag --ouptut (did you mean --output?)"},
		{[]string{"submit", "pretrain", "--micro-batch", "2"}, "bloomctl submit pretrain: unknown flag --micro-batch (did you mean --micro-batch-size?)"},
		{[]string{"--zzzzzz"}, "bloomctl: unknown flag --zzzzzz (bloomctl --help lists them)"},
		{[]string{"jbo"}, `bloomctl: unknown command "jbo" (did you mean "job"?)`},
		{[]string{"bench", "gem"}, `bloomctl bench: unknown command "gem" (did you mean "gemm"?)`},
		{[]string{"jobs", "extra", "--ouptut", "json"}, "bloomctl jobs: unknown flag --ouptut (did you mean --output?)"},
		// A bad or missing value names the flag as typed and what it wants.
		{[]string{"--threads", "abc", "version"}, `bloomctl: --threads: "abc" is not an integer (bloomctl --help)`},
		{[]string{"bench", "gemm", "-m", "x"}, `bloomctl bench gemm: -m: "x" is not an integer (bloomctl bench gemm --help)`},
		{[]string{"rollout", "--node-timeout", "5"}, `bloomctl rollout: --node-timeout: "5" is not a duration such as 30s, 5m or 1h30m (bloomctl rollout --help)`},
		{[]string{"job", "x", "--watch=maybe"}, `bloomctl job: --watch: "maybe" is not true or false (bloomctl job --help)`},
		{[]string{"jobs", "--addr"}, "bloomctl jobs: --addr needs a value (bloomctl jobs --help)"},
		// A required flag left out: one line, not the help and urfave's `Required flag "out" not set`.
		{[]string{"tokenizer", "train", "corpus.txt"}, "bloomctl tokenizer train: --out is required (bloomctl tokenizer train --help)"},
		{[]string{"preprocess", "--input", "x"}, "bloomctl preprocess: --tokenizer-name-or-path, --output-prefix are required (bloomctl preprocess --help)"},
		// A command that takes no arguments refuses them rather than ignore them.
		{[]string{"jobs", "extra"}, `bloomctl jobs: unexpected arguments ["extra"]: it takes none, every setting is a --flag (quote a value with spaces; bloomctl jobs --help)`},
		{[]string{"generate", "--model", "m", "--prompt", "hello", "world"}, `bloomctl generate: unexpected arguments ["world"]: it takes none, every setting is a --flag (quote a value with spaces; bloomctl generate --help)`},
	} {
		out, err := run(t, c.args...)
		var ec ucli.ExitCoder
		if !errors.As(err, &ec) || ec.ExitCode() != 2 || err.Error() != c.want || out != "" {
			t.Errorf("%v: %q %v, printed %q; want %q", c.args, err, err, out, c.want)
		}
	}
}

// TestMaxCPUISA: with BLOOM_MAX_CPU_ISA set to a value cpuid does not know
// (CapErr at start), every command refuses to run, exit status 2, rather
// than run kernels the user did not ask for.
func TestMaxCPUISA(t *testing.T) {
	saved := cpuid.CapErr
	t.Cleanup(func() { cpuid.CapErr = saved })
	_, cpuid.CapErr = cpuid.Cap(cpuid.X86, "sse4")
	for _, args := range [][]string{{"version"}, {"bench", "gemm", "--m", "8", "--n", "8", "--k", "8"}} {
		_, err := run(t, args...)
		var ec ucli.ExitCoder
		if !errors.As(err, &ec) || ec.ExitCode() != 2 || !strings.Contains(err.Error(), `BLOOM_MAX_CPU_ISA="sse4"`) {
			t.Errorf("%v: %v", args, err)
		}
	}
}

// TestIntersperse: flags after a command's arguments are read as if given
// before them; "--" still ends the flags; a flag's value that looks like
// an argument stays with it.
func TestIntersperse(t *testing.T) {
	app := CtlApp()
	for _, c := range []struct{ in, want string }{
		{"bloomctl submit job.yaml -o json", "bloomctl submit -o json job.yaml"},
		{"bloomctl -o json job J1 --addr h:1", "bloomctl -o json job --addr h:1 J1"},
		{"bloomctl logs J1 -f --rank 2", "bloomctl logs -f --rank 2 J1"},
		{"bloomctl submit pretrain --train-iters 5 x", "bloomctl submit pretrain --train-iters 5 x"},
		{"bloomctl cancel -- -J1 -o", "bloomctl cancel -- -J1 -o"},
		{"bloomctl bench gemm --dtype bf16", "bloomctl bench gemm --dtype bf16"},
	} {
		if got := strings.Join(Intersperse(app, strings.Fields(c.in)), " "); got != c.want {
			t.Errorf("%s\n got %s\nwant %s", c.in, got, c.want)
		}
	}
	// Through the parser: the output format given last is used.
	out, err := run(t, "plan", "--model-preset", "bloom-tiny", "--train-iters", "10", "--micro-batch-size", "1", "--global-batch-size", "1")
	if err != nil || !strings.Contains(out, "GiB") {
		t.Fatalf("plan: %v %s", err, out)
	}
}

func TestScore(t *testing.T) {
	out, err := run(t, "score", "--model", golden, "--tokens", "5, 17,42,7")
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Tokens   []int32    `json:"tokens"`
		Logprobs []*float64 `json:"logprobs"`
		Loss     float64    `json:"loss"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v: %q", err, out)
	}
	if fmt.Sprint(r.Tokens) != "[5 17 42 7]" || len(r.Logprobs) != 4 || r.Logprobs[0] != nil {
		t.Fatalf("unexpected shape: %s", out)
	}
	sum := 0.0
	for _, lp := range r.Logprobs[1:] {
		if lp == nil || *lp > 0 {
			t.Fatalf("bad logprob in %s", out)
		}
		sum -= *lp
	}
	if math.Abs(sum/3-r.Loss) > 1e-9 {
		t.Errorf("loss %g is not the mean of -logprobs[1:] (%g)", r.Loss, sum/3)
	}
}

func TestGenerateGreedyMatchesGolden(t *testing.T) {
	f, err := ckpt.OpenSafetensors(filepath.Join(golden, "golden.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ids, shape, _ := f.Int64("greedy.input_ids")
	want, wshape, _ := f.Int64("greedy.tokens")
	prompt := make([]string, shape[1]) // row 0 is not padded
	for i := range prompt {
		prompt[i] = fmt.Sprint(ids[i])
	}
	out, err := run(t, "-o", "json", "generate", "--model", golden, "--prompt-tokens", strings.Join(prompt, ","),
		"--max-new-tokens", fmt.Sprint(wshape[1]), "--greedy")
	if err != nil {
		t.Fatal(err)
	}
	var r struct{ Tokens []int64 }
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v: %q", err, out)
	}
	if fmt.Sprint(r.Tokens) != fmt.Sprint(want[:wshape[1]]) {
		t.Errorf("generated %v, PyTorch greedy %v", r.Tokens, want[:wshape[1]])
	}
	// Sampling is repeatable for a seed.
	args := []string{"-o", "json", "generate", "--model", golden, "--prompt-tokens", "5,6", "--max-new-tokens", "8",
		"--temperature", "0.9", "--top-k", "20", "--top-p", "0.95", "--seed", "3"}
	a, err := run(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := run(t, args...); a != b {
		t.Errorf("same seed, different samples: %s vs %s", a, b)
	}
	// The weights laid out once (the default) or by every product: the
	// same samples, also with fp16 products.
	for _, half := range [][]string{nil, {"--fp16"}} {
		packed, err := run(t, append(args, half...)...)
		if err != nil {
			t.Fatal(err)
		}
		if unpacked, err := run(t, append(args, append(half, "--no-pack-weights")...)...); err != nil || unpacked != packed {
			t.Errorf("%v: --no-pack-weights gives %s (%v), packed %s", half, unpacked, err, packed)
		}
	}
}

func TestTrainLocalSavesAModelThatLoads(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "model")
	out, err := run(t, "-o", "json", "train", "--local", "--preset", "bloom-tiny", "--steps", "3", "--seq-length", "16",
		"--micro-batch-size", "2", "--global-batch-size", "4", "--save", dir, "--save-dtype", "BF16")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("want one JSON line per step, got %q", out)
	}
	var s struct {
		Step int
		Loss float64
	}
	if err := json.Unmarshal([]byte(lines[2]), &s); err != nil || s.Step != 3 || !(s.Loss > 0) {
		t.Fatalf("last line %q: %v", lines[2], err)
	}
	if _, err := run(t, "score", "--model", dir, "--tokens", "70,80,90"); err != nil {
		t.Errorf("the saved model does not score: %v", err)
	}
	// It carries the byte-level tokenizer of the text it trained on: text
	// prompts reach it without hand-encoding, and convert passes it on.
	out, err = run(t, "-o", "json", "generate", "--model", dir, "--tokenizer", filepath.Join(dir, "tokenizer.json"),
		"--prompt", "Hello", "--max-new-tokens", "3", "--greedy")
	if err != nil || !strings.Contains(out, `"tokens"`) {
		t.Errorf("text generation with the saved tokenizer: %v\n%s", err, out)
	}
	conv := filepath.Join(t.TempDir(), "hf")
	if _, err := run(t, "convert", "--model", dir, "--out", conv); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(filepath.Join(dir, "tokenizer.json"))
	b, err := os.ReadFile(filepath.Join(conv, "tokenizer.json"))
	if err != nil || !bytes.Equal(a, b) {
		t.Errorf("convert did not carry the tokenizer: %v", err)
	}
}

// TestTrainLocalLoRA: LoRA fine-tuning of a saved model trains the adapters
// and saves them merged, as a plain Hugging Face model that scores.
func TestTrainLocalLoRA(t *testing.T) {
	base, tuned := filepath.Join(t.TempDir(), "base"), filepath.Join(t.TempDir(), "tuned")
	if _, err := run(t, "train", "--local", "--preset", "bloom-tiny", "--steps", "2", "--seq-length", "16", "--save", base); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, "train", "--local", "--model", base, "--steps", "3", "--seq-length", "16", "--lr", "1e-2",
		"--lora-target-modules", "query_key_value,dense_4h_to_h", "--lora-r", "4", "--save", tuned)
	if err != nil || !strings.Contains(out, "LoRA [query_key_value dense_4h_to_h] r 4") {
		t.Fatalf("%v: %s", err, out)
	}
	cfg, err := ckpt.ReadBloomConfig(filepath.Join(tuned, "config.json"))
	if err != nil || cfg.NLayer != 2 {
		t.Fatalf("%+v %v", cfg, err)
	}
	// On instruction data (preprocess --format alpaca; records of ~300 byte
	// tokens), the loss on the responses only.
	out, err = run(t, "-o", "json", "train", "--local", "--model", base, "--steps", "2", "--seq-length", "320",
		"--micro-batch-size", "2", "--global-batch-size", "2", "--lora-target-modules", "dense",
		"--instruction-data", "../trainer/data/preprocess/testdata/alpaca_json")
	if err != nil || strings.Count(out, "\n") != 2 {
		t.Errorf("instruction data: %v: %s", err, out)
	}
	a, _ := run(t, "score", "--model", base, "--tokens", "70,80,90,100")
	b, err := run(t, "score", "--model", tuned, "--tokens", "70,80,90,100")
	if err != nil || a == b {
		t.Errorf("the tuned model scores as the base does (or not at all: %v): %s", err, b)
	}
}

func TestBadInputSaysWhatToDo(t *testing.T) {
	truncated := filepath.Join(t.TempDir(), "m")
	if err := os.MkdirAll(truncated, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"config.json", "model.safetensors"} {
		b, err := os.ReadFile(filepath.Join(golden, f))
		if err != nil {
			t.Fatal(err)
		}
		if f == "model.safetensors" {
			b = b[:len(b)/2]
		}
		if err := os.WriteFile(filepath.Join(truncated, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"score", "--model", golden, "--tokens", "5,96"}, "outside the vocabulary"},
		{[]string{"score", "--model", golden, "--tokens", "5,x"}, "not a token id"},
		{[]string{"score", "--model", golden, "--tokens", "5"}, "at least two"},
		{[]string{"score", "--tokens", "5,6"}, "--model DIR is required"},
		{[]string{"serve"}, "--model DIR is required"},
		{[]string{"score", "--model", truncated, "--tokens", "5,6"}, "model.safetensors"},
		{[]string{"generate", "--model", golden, "--prompt-tokens", "5", "--temperature", "0"}, "--temperature"},
		{[]string{"train", "--preset", "bloom-tiny"}, "--local"},
		{[]string{"train", "--local", "--preset", "nope"}, "unknown preset"},
		{[]string{"train", "--local", "--preset", "bloom-tiny", "--global-batch-size", "3", "--micro-batch-size", "2"}, "multiple"},
		{[]string{"-o", "yaml", "generate", "--model", golden, "--prompt-tokens", "5"}, "--output"},
		{[]string{"train", "--local", "--preset", "bloom-tiny", "--lora-target-modules", "lm_head"}, "BLOOM's are query_key_value"},
		{[]string{"train", "--local", "--preset", "bloom-tiny", "--lora-target-modules", "dense", "--lora-r", "0"}, "positive rank"},
		{[]string{"score", "--model", os.TempDir(), "--tokens", "5,6"}, "neither a Hugging Face model directory"},
		{[]string{"convert", "--model", golden}, "--out DIR is required"},
		{[]string{"convert", "--model", golden, "--out", t.TempDir(), "--dtype", "F64"}, "--dtype"},
		{[]string{"convert", "--model", golden, "--out", t.TempDir(), "--max-shard-size", "lots"}, "--max-shard-size"},
	} {
		_, err := run(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: got %v, want an error mentioning %q", c.args, err, c.want)
		}
	}
}

// TestConvert: convert writes a Hugging Face directory in the dtype asked
// for, in shards with an index past --max-shard-size, that scores as the
// original does within the dtype's rounding. (Native checkpoints of every
// layout: trainer's TestLoadModelNative.)
func TestConvert(t *testing.T) {
	base, err := run(t, "score", "--model", golden, "--tokens", "5,17,42,7")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		dtype, shard string
		files        int
	}{{"BF16", "0", 1}, {"f32", "4K", 0}} {
		out := filepath.Join(t.TempDir(), "hf")
		if _, err := run(t, "-o", "json", "convert", "--model", golden, "--out", out, "--dtype", c.dtype, "--max-shard-size", c.shard); err != nil {
			t.Fatal(err)
		}
		shards, _ := filepath.Glob(filepath.Join(out, "*.safetensors"))
		_, indexErr := os.Stat(filepath.Join(out, "model.safetensors.index.json"))
		if c.files == 1 && (len(shards) != 1 || indexErr == nil) || c.files == 0 && (len(shards) < 2 || indexErr != nil) {
			t.Fatalf("%s, shards of %s: files %v, index: %v", c.dtype, c.shard, shards, indexErr)
		}
		f, err := ckpt.OpenSafetensors(shards[0])
		if err != nil {
			t.Fatal(err)
		}
		info, _ := f.Info(f.Names()[0])
		f.Close()
		if string(info.DType) != strings.ToUpper(c.dtype) {
			t.Errorf("%s: stored as %s", c.dtype, info.DType)
		}
		got, err := run(t, "score", "--model", out, "--tokens", "5,17,42,7")
		if err != nil {
			t.Fatal(err)
		}
		var a, b struct{ Loss float64 }
		json.Unmarshal([]byte(base), &a)
		json.Unmarshal([]byte(got), &b)
		tol := 0.0
		if c.dtype == "BF16" {
			tol = 0.05 * a.Loss
		}
		if math.Abs(a.Loss-b.Loss) > tol {
			t.Errorf("%s: loss %v, the original's %v", c.dtype, b.Loss, a.Loss)
		}
	}
}

// TestGlobalFlagsAnywhere: the global options work before the command and
// after it, where users type them (bloomctl jobs --output json); the one
// given nearest the command wins.
func TestGlobalFlagsAnywhere(t *testing.T) {
	gen := []string{"generate", "--model", golden, "--prompt-tokens", "5,6", "--max-new-tokens", "2", "--greedy"}
	for _, c := range []struct {
		args     []string
		wantJSON bool
	}{
		{gen, false},
		{append([]string{"--output", "json"}, gen...), true},
		{append(slices.Clone(gen), "--output", "json", "--threads", "1"), true},
		{append(slices.Clone(gen), "-o", "json"), true},
		{append(append([]string{"-o", "json"}, gen...), "-o", "table"), false},
		{append(append([]string{"-o", "table"}, gen...), "-o", "json"), true},
	} {
		out, err := run(t, c.args...)
		if err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		if got := strings.HasPrefix(out, "{"); got != c.wantJSON {
			t.Errorf("%v: printed %q, want JSON: %v", c.args, out, c.wantJSON)
		}
	}
	// The command line beats the environment, before the command or after.
	t.Setenv("BLOOM_OUTPUT", "json")
	for _, args := range [][]string{append([]string{"-o", "table"}, gen...), append(slices.Clone(gen), "--output", "table")} {
		if out, err := run(t, args...); err != nil || strings.HasPrefix(out, "{") {
			t.Errorf("BLOOM_OUTPUT=json %v: %q %v, want a table", args, out, err)
		}
	}
	if out, err := run(t, gen...); err != nil || !strings.HasPrefix(out, "{") {
		t.Errorf("BLOOM_OUTPUT=json %v: %q %v, want JSON", gen, out, err)
	}
	t.Setenv("BLOOM_ADDR", "127.0.0.1:2")
	_, err := run(t, "--addr", "127.0.0.1:1", "jobs", "--token", "bloomtok1."+strings.Repeat("A", 64))
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("BLOOM_ADDR=127.0.0.1:2 --addr 127.0.0.1:1 jobs: %v, want an error naming 127.0.0.1:1", err)
	}
	_, err = run(t, "jobs", "--addr", "127.0.0.1:1", "--token", "bloomtok1."+strings.Repeat("A", 64))
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("jobs --addr after the command: %v, want an error naming 127.0.0.1:1", err)
	}
}

// TestEvaluate: evaluate scores a model on BoolQ and MMLU files, per subject
// and in all, with the model directory's tokenizer, as a table or JSON; the
// scoring itself is trainer/eval's (TestRunMatchesTheModel).
func TestEvaluate(t *testing.T) {
	tokFile := "../trainer/tokenizer/testdata/bloom.json"
	tok, err := tokenizer.Load(tokFile)
	if err != nil {
		t.Fatal(err)
	}
	m, err := bloom.New(cpu.New(1), bloom.Config{Vocab: tok.VocabSize(), Hidden: 32, Heads: 4, Layers: 2, Eps: 1e-5})
	if err != nil {
		t.Fatal(err)
	}
	m.InitRandom(3, 0.5)
	dir := t.TempDir()
	model := filepath.Join(dir, "model")
	if err := trainer.SaveHF(m, ckpt.DefaultBloomConfig(), model, ckpt.F32, 0); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(tokFile)
	os.WriteFile(filepath.Join(model, "tokenizer.json"), b, 0o644)
	boolq := filepath.Join(dir, "boolq.jsonl")
	os.WriteFile(boolq, []byte(`{"passage":"The sky is blue.","question":"is the sky blue","answer":true}
{"passage":"Cats meow.","question":"do cats bark","answer":false}
{"passage":"Two is even.","question":"is two even","answer":true}
`), 0o644)
	mmlu := filepath.Join(dir, "mmlu")
	os.MkdirAll(mmlu, 0o755)
	os.WriteFile(filepath.Join(mmlu, "anatomy_test.csv"), []byte("Bones in the adult body?,206,12,1000,3,A\nLargest organ?,heart,skin,liver,lung,B\n"), 0o644)
	os.WriteFile(filepath.Join(mmlu, "virology_test.csv"), []byte("A virus is?,alive,a particle,a cell,a plant,B\n"), 0o644)

	// run gives standard output and error together: the progress lines go.
	results := func(out string) string {
		var keep []string
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if !strings.HasSuffix(l, "questions/s") {
				keep = append(keep, l)
			}
		}
		return strings.Join(keep, "\n")
	}
	out, err := run(t, "evaluate", "--model", model, "--task", "mmlu", "--task-data-path", mmlu, "--shots", "0", "--micro-batch-size", "2")
	if err != nil {
		t.Fatal(err)
	}
	out = results(out)
	lines := strings.Split(out, "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[1], "mmlu/anatomy ") || !strings.HasPrefix(lines[2], "mmlu/virology ") ||
		!strings.HasPrefix(lines[3], "mmlu ") || strings.Fields(lines[3])[1] != "3" {
		t.Errorf("table:\n%s", out)
	}
	out, err = run(t, "evaluate", "--model", model, "--task", "boolq", "--data", boolq, "-o", "json", "--seq-length", "12")
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Name               string
		Questions, Correct int
		Accuracy           float64
		Truncated          int
	}
	if err := json.Unmarshal([]byte(results(out)), &r); err != nil {
		t.Fatalf("%v: %q", err, out)
	}
	if r.Name != "boolq" || r.Questions != 3 || r.Accuracy != float64(r.Correct)/3 || r.Truncated != 3 {
		t.Errorf("json: %s", out)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"evaluate", "--model", model, "--task", "gsm8k", "--data", boolq}, "use boolq or mmlu"},
		{[]string{"evaluate", "--model", model, "--task", "boolq"}, "--task-data-path"},
		{[]string{"evaluate", "--model", golden, "--task", "boolq", "--data", boolq}, "--tokenizer FILE is required"},
		{[]string{"evaluate", "--model", golden, "--tokenizer", tokFile, "--task", "boolq", "--data", boolq}, "vocabulary of 96"},
		{[]string{"evaluate", "--model", model, "--task", "mmlu", "--data", mmlu}, "anatomy_dev.csv"},
	} {
		if _, err := run(t, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error with %q", c.args, err, c.want)
		}
	}
}

// TestTokenFile: --token-file reads the token from a file (so it is not
// on the command line, where ps shows it).
func TestTokenFile(t *testing.T) {
	_, err := run(t, "status", "--token-file", filepath.Join(t.TempDir(), "missing"), "--addr", "127.0.0.1:1")
	if err == nil || !strings.Contains(err.Error(), "--token-file") {
		t.Errorf("a missing token file: %v", err)
	}
	p := filepath.Join(t.TempDir(), "token")
	os.WriteFile(p, []byte("not-a-token\n"), 0o600)
	if _, err := run(t, "status", "--token-file", p, "--addr", "127.0.0.1:1"); err == nil || strings.Contains(err.Error(), "needs the cluster's") {
		t.Errorf("a token file: %v (want the token read, then its own error)", err)
	}
}

// TestInferenceHelp: each inference job's help offers the flags its kind
// reads (a serve job takes no --seed or --micro-batch-size, an evaluate job
// no --seed) and says where its answer goes; --watch's help reads as text.
func TestInferenceHelp(t *testing.T) {
	for _, tc := range []struct {
		kind       string
		has, lacks []string
	}{
		{"generate", []string{"--seed", "--micro-batch-size", "kept with the job"}, []string{"--max-batch"}},
		{"evaluate", []string{"--micro-batch-size", "kept with the job"}, []string{"--seed", "--max-batch"}},
		{"serve", []string{"--max-batch", "bloomctl cancel ID", "/v1/serve/JOB/"}, []string{"--seed", "--micro-batch-size", "kept with the job"}},
	} {
		out, err := run(t, "submit", tc.kind, "--help")
		if err != nil {
			t.Fatalf("submit %s --help: %v", tc.kind, err)
		}
		for _, s := range tc.has {
			if !strings.Contains(out, s) {
				t.Errorf("submit %s --help lacks %q", tc.kind, s)
			}
		}
		for _, s := range tc.lacks {
			if strings.Contains(out, s) {
				t.Errorf("submit %s --help has %q", tc.kind, s)
			}
		}
	}
	if out, _ := run(t, "submit", "--help"); !strings.Contains(out, "--watch ") || strings.Contains(out, "--watch bloomctl") {
		t.Errorf("submit --help's --watch line:\n%s", out)
	}
}
