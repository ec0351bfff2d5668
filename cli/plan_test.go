package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The seed's layouts as bloomctl plan takes them (shared/reference/bloom.md
// §1.1, §1.2); trainer/memplan's TestSeed7B and TestSeed176B derive the
// numbers by hand.
var (
	seed7BFlags = []string{"--model-preset", "bloom-7b1", "--tensor-model-parallel-size", "8",
		"--micro-batch-size", "4", "--global-batch-size", "512", "--seq-length", "2048", "--fp16"}
	seed176BFlags = []string{"--model-preset", "bloom", "--tensor-model-parallel-size", "8",
		"--pipeline-model-parallel-size", "12", "--partition-layers", "6,6,6,6,6,6,6,6,6,6,6,4",
		"--micro-batch-size", "2", "--global-batch-size", "2048", "--seq-length", "2048", "--bf16", "--checkpoint-activations"}
)

// TestPlan7BTable: one stage of 884.3M parameters a rank, 3.29 GiB of
// weights (884,286,464·4 B), 39.47 GiB of activations, 52.65 in all; a
// node of 8 such ranks, 421.20 GiB.
func TestPlan7BTable(t *testing.T) {
	out, err := run(t, append([]string{"plan"}, seed7BFlags...)...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{
		"stage  layers  params  weights  grads  optimizer  activations  total GiB",
		"0      30  884.3M     3.29   3.29       6.59        39.47      52.65",
		"0    0-7       0     421.20",
		"bloom-7b1, TP 8 × PP 1 × DP 1 = 8 ranks on 1 node of 8 devices, fp16: the largest rank (stage 0) needs 52.65 GiB",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
}

// TestPlan176BJSON: twelve stages, twelve nodes of eight ranks; stage 0
// (2,299,885,056 parameters a rank, 22,122,856,448 bytes of activations)
// is the largest; --device-memory 64GiB holds every stage, 48GiB all but
// stage 0 (54.87 GiB; stage 1 needs 44.24).
func TestPlan176BJSON(t *testing.T) {
	out, err := run(t, append([]string{"plan", "-o", "json", "--device-memory", "64GiB"}, seed176BFlags...)...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var p planOutput
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	st := p.Stages[0]
	if len(p.Stages) != 12 || st.Params != 2299885056 || st.InFlight != 12 || st.Rank.Activations != 22122856448 ||
		st.Rank.Total != 16*2299885056+22122856448 || p.Stages[11].Layers != 4 || p.Stages[11].Rank.Total != 31128502272 {
		t.Errorf("plan %+v", p.Plan)
	}
	if len(p.Nodes) != 12 || p.Nodes[0].Total != 8*st.Rank.Total || p.Nodes[11].FirstRank != 88 || len(p.TooBig) != 0 ||
		p.DeviceMemory != 64<<30 {
		t.Errorf("nodes %+v, over device memory %v", p.Nodes, p.TooBig)
	}
	out, err = run(t, append([]string{"plan", "--device-memory", "48G"}, seed176BFlags...)...)
	if err == nil || !strings.Contains(err.Error(), "the ranks of stage 0 need more than --device-memory (48.00 GiB)") ||
		!hasLine(out, "0       6   2.30B", "54.87", "NO") || !hasLine(out, "1       6   1.85B", "44.24", "yes") {
		t.Errorf("48 GiB: %v\n%s", err, out)
	}
}

// TestPlanJobFile: a job file gives the same plan as the flags, and flags
// beside it override it.
func TestPlanJobFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "job.yaml")
	yaml := "model-preset: bloom-7b1\ntensor-model-parallel-size: 8\nmicro-batch-size: 2\nglobal-batch-size: 512\n" +
		"seq-length: 2048\nfp16: true\ntrain-iters: 10\n"
	if err := os.WriteFile(f, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	fromFile, err := run(t, "plan", "--micro-batch-size", "4", f)
	if err != nil {
		t.Fatal(err)
	}
	fromFlags, err := run(t, append([]string{"plan"}, seed7BFlags...)...)
	if err != nil || fromFile != fromFlags {
		t.Errorf("%v: the file's plan\n%s\nthe flags'\n%s", err, fromFile, fromFlags)
	}
	if _, err := run(t, "plan", "--model-preset", "bloom-7b1", "--tensor-model-parallel-size", "3"); err == nil ||
		!strings.Contains(err.Error(), "use a TP that divides 32") {
		t.Errorf("TP 3: %v", err)
	}
}

// TestPlanDeviceKind: Bloom-7B1 generating on TP8 in fp16 keeps, on CPU
// devices, its blocks' linears and the tied head a second time, packed in
// fp16 (30 layers · 12·4096²/8 + 250880·4096/8 values a rank, 2 bytes
// each: 1,766,850,560 bytes); on NPU devices once; --device-kind gpu is
// refused.
func TestPlanDeviceKind(t *testing.T) {
	f := filepath.Join(t.TempDir(), "gen.yaml")
	yaml := "kind: generate\nmodel-preset: bloom-7b1\ntensor-model-parallel-size: 8\nload: /m\nprompt: [hello]\nfp16: true\n" +
		"micro-batch-size: 1\nseq-length: 2048\n"
	if err := os.WriteFile(f, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	weights := map[string]int64{}
	for _, kind := range []string{"cpu", "npu"} {
		out, err := run(t, "plan", "-o", "json", "--device-kind", kind, f)
		var p planOutput
		if err != nil || json.Unmarshal([]byte(out), &p) != nil || len(p.Stages) != 1 {
			t.Fatalf("--device-kind %s: %v\n%s", kind, err, out)
		}
		weights[kind] = p.Stages[0].Rank.Weights
	}
	if weights["npu"] != 884286464*4 || weights["cpu"]-weights["npu"] != 2*(30*12*4096*4096/8+250880*4096/8) {
		t.Errorf("weights a rank by device kind %v: want npu %d, cpu 1,766,850,560 more", weights, 884286464*4)
	}
	if _, err := run(t, "plan", "--device-kind", "gpu", f); err == nil || !strings.Contains(err.Error(), `unknown device kind "gpu"`) {
		t.Errorf("--device-kind gpu: %v", err)
	}
}

// hasLine reports whether a line of out holds each of parts, in order.
func hasLine(out string, parts ...string) bool {
	for _, line := range strings.Split(out, "\n") {
		rest, ok := line, true
		for _, p := range parts {
			i := strings.Index(rest, p)
			if i < 0 {
				ok = false
				break
			}
			rest = rest[i+len(p):]
		}
		if ok {
			return true
		}
	}
	return false
}
