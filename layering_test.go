package bloom

import (
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// This is a statement of policy: which project packages each package may
// import directly (DESIGN.md §3). Do not edit it to make a build pass; change
// the design on purpose, here and in the design table together.
//
// Differences from the design table, on purpose (issue 13 split the daemon,
// cli and trainer/data into rooms that say what they are):
//   - the daemon's parts are packages of their own: daemon/jobspec (specs,
//     the settings table, job files), daemon/identity (the secret and what
//     derives from it), daemon/sched (the scheduler's decisions, pure),
//     daemon/xfer (checkpoint files between nodes) and daemon/worker (the
//     worker process, which alone reaches the trainer, the devices and the
//     collective) and daemon/supervisor (the node side of jobs: the worker
//     processes, reports to the leader, checkpoint replication; it speaks
//     daemon/worker's protocol and gets the rest of the node as function
//     values, never the daemon, Raft or gossip); daemon itself is the
//     composition root and imports only them, gossip, the API types and
//     ckpt;
//   - bloomd's command line is a package of its own, cli/bloomd, the only
//     one besides cmd/bloomd's main that imports the daemon, so that cli
//     (bloomctl) never does; cli also reaches the model packages
//     (trainer/bloom, trainer/data and its parts, trainer/tokenizer) and the
//     device registry (npu, npu/cpu) directly, because the offline tools
//     open devices and models;
//   - trainer/data's parts that stand on their own: trainer/tokenizer, which
//     reads no datasets; trainer/data/parquet; and trainer/data/preprocess,
//     which writes trainer/data's datasets from text and takes its
//     tokenizer through an interface of its own;
//   - npu/nputest is the conformance suite backends' tests import;
//     trainer/eval is the evaluate tool's core (BoolQ and MMLU scored as the
//     seed scores them); collective/collbench is the collective benchmark
//     harness behind `bloomctl bench allreduce` (collective stays free of
//     it, and it never reaches the daemon); internal/testutil is the test
//     plumbing (wait for a condition, goroutine leak checks) that only tests
//     import (testOnly); and scripts/soak imports no project package at all:
//     it drives the built bloomd and bloomctl and reads `bloomctl -o json`,
//     as a user would;
//   - trainer/memplan is the memory plan per rank (issue 18, checks before
//     compute): pure arithmetic over trainer/bloom's parameter layout, which
//     daemon/jobspec (Spec.MemoryPlan) and through it the CLI and the
//     daemon reach without linking the trainer's loop or a device;
//   - npu/acl/fakeacl builds the fake ACL libraries the npu/acl backend's
//     tests load (C sources compiled with the system compiler); it is pure
//     Go and imports nothing of ours;
//   - ckpt/deepspeed is the DeepSpeed/AscendSpeed pipeline layout (layer
//     files, client state, universal checkpoints; issue 21): how the seed's
//     tools cut and name BLOOM's tensors, over ckpt's .pt reader and
//     writer; ckpt itself stays free of layouts, and the CLI converts;
//   - internal/half is the one definition of the half-precision formats
//     (float16 and bfloat16, their round-to-nearest-even conversions and
//     vector kernels). It imports nothing of ours, and every layer that
//     holds or moves 16-bit floats may import it: the collective (FP16 and
//     BF16 reductions), ckpt (safetensors F16 and BF16), and the device
//     contract's backends (npu/cpu) and its conformance suite npu/nputest,
//     which checks every backend's rounding bit for bit against
//     internal/half's scalar conversions, so that a gradient reduced, a
//     checkpoint written and a tensor on a device all round alike (npu
//     itself, the contract, still imports nothing of ours); internal/half
//     and npu/cpu read the CPU's features from internal/cpuid, the one place
//     CPUID and XCR0 are read.
var allowed = map[string][]string{
	"bloom":                 {},
	"bloom/npu":             {},
	"bloom/npu/cpu":         {"npu", "internal/half", "internal/cpuid"},
	"bloom/npu/acl":         {"npu"},
	"bloom/npu/acl/fakeacl": {},
	"bloom/npu/nputest":     {"npu", "internal/half"},

	"bloom/collective":           {"internal/half"},
	"bloom/collective/collbench": {"collective", "internal/half"},
	"bloom/ckpt":                 {"internal/half"},
	"bloom/ckpt/deepspeed":       {"ckpt"},
	"bloom/membership":           {},
	"bloom/api":                  {},

	"bloom/trainer/bloom":           {"npu"},
	"bloom/trainer/tokenizer":       {},
	"bloom/trainer/data":            {},
	"bloom/trainer/data/parquet":    {},
	"bloom/trainer/data/preprocess": {"trainer/data", "trainer/data/parquet"},
	"bloom/trainer":                 {"npu", "trainer/bloom", "trainer/data", "trainer/tensorboard", "ckpt", "internal/half"},
	"bloom/trainer/eval":            {"trainer/bloom", "trainer/data", "trainer/tokenizer"},
	"bloom/trainer/serve":           {"trainer/bloom", "trainer/tokenizer"},
	"bloom/trainer/tensorboard":     {},
	"bloom/trainer/memplan":         {"trainer/bloom"},

	"bloom/daemon/coord":    {},
	"bloom/daemon/identity": {},
	"bloom/daemon/jobspec":  {"trainer", "trainer/bloom", "trainer/data", "trainer/memplan", "npu", "ckpt", "internal/suggest"},
	"bloom/daemon/xfer":     {"daemon/identity"},
	"bloom/daemon/sched":    {"daemon/coord", "daemon/jobspec", "ckpt", "api"},
	"bloom/daemon/worker": {"daemon/coord", "daemon/identity", "daemon/jobspec", "daemon/xfer", "api", "trainer",
		"trainer/bloom", "trainer/data", "trainer/eval", "trainer/serve", "trainer/tokenizer", "trainer/tensorboard", "npu", "npu/cpu", "npu/acl", "collective", "ckpt"},
	"bloom/daemon/supervisor": {"daemon/coord", "daemon/jobspec", "daemon/worker", "api", "ckpt"},
	"bloom/daemon": {"daemon/coord", "daemon/identity", "daemon/jobspec", "daemon/sched", "daemon/xfer",
		"daemon/supervisor", "membership", "api", "ckpt", "internal/ratelog"},

	"bloom/cli": {"api", "daemon/identity", "daemon/jobspec", "trainer", "trainer/bloom", "trainer/data",
		"trainer/data/preprocess", "trainer/tokenizer", "trainer/eval", "trainer/serve", "trainer/tensorboard", "trainer/memplan", "ckpt", "ckpt/deepspeed", "collective", "collective/collbench",
		"npu", "npu/cpu", "internal/cpuid", "internal/suggest"},
	"bloom/cli/bloomd":   {"cli", "daemon", "daemon/identity", "daemon/worker", "npu", "npu/acl"},
	"bloom/cmd/bloomd":   {"cli/bloomd"},
	"bloom/cmd/bloomctl": {"cli"},
	"bloom/scripts/soak": {},
	// scripts/gendocs writes docs/jobspec.md and docs/environment.md from
	// the command definitions and the settings table; nothing imports it.
	"bloom/scripts/gendocs": {"cli", "cli/bloomd", "daemon/jobspec"},
	// scripts/scalesim (issue 20) runs memberlist, Raft and the scheduler
	// at 1,000 nodes in one process: it reads membership's timings and
	// drives daemon/sched over daemon/coord state, and mirrors the daemon's
	// Raft settings rather than importing the daemon.
	"bloom/scripts/scalesim": {"membership", "daemon/coord", "daemon/jobspec", "daemon/sched", "api"},

	"bloom/internal/testutil": {},
	"bloom/internal/half":     {"internal/cpuid"},
	"bloom/internal/cpuid":    {},
	"bloom/internal/suggest":  {},
	"bloom/internal/ratelog":  {},
}

// forbidden lists packages, ours or not, that must never be in a package's
// transitive dependencies.
var forbidden = map[string][]string{
	"bloom/trainer": {"bloom/collective", "bloom/membership", "bloom/daemon", "github.com/hashicorp/raft",
		"github.com/hashicorp/memberlist", "github.com/quic-go/quic-go"},
	"bloom/trainer/bloom": {"bloom/trainer", "bloom/collective", "bloom/ckpt"},
	"bloom/collective":    {"bloom/trainer", "bloom/npu"},
	"bloom/npu":           {"bloom/"},
	"bloom/membership":    {"bloom/daemon/coord", "bloom/collective"},
	"bloom/api":           {"bloom/daemon"},
	"bloom/daemon/worker": {"bloom/daemon", "github.com/hashicorp/raft", "github.com/hashicorp/memberlist"},
	// The supervisor gets the node as function values: never the daemon,
	// Raft or gossip.
	"bloom/daemon/supervisor": {"bloom/daemon", "bloom/membership", "github.com/hashicorp/raft",
		"github.com/hashicorp/memberlist"},
	// bloomctl is the user's tool: it links no Raft, raft-boltdb or
	// memberlist, hence not the daemon (daemon/identity and daemon/jobspec
	// are pure and allowed). "bloom/daemon" is matched exactly.
	"bloom/cmd/bloomctl": {"bloom/daemon", "github.com/hashicorp/raft", "github.com/hashicorp/raft-boltdb/",
		"github.com/hashicorp/memberlist", "go.etcd.io/bbolt"},
	// The scheduler decides; the daemon does the I/O. (It imports api for
	// the report types, so net/http is in its deps; it never calls it.)
	"bloom/daemon/sched": {"bloom/daemon", "bloom/membership", "bloom/collective", "github.com/hashicorp/raft",
		"github.com/hashicorp/memberlist", "github.com/quic-go/quic-go", "os/exec"},
}

// testOnly lists packages only _test.go files may import.
var testOnly = []string{"bloom/internal/testutil"}

type goPackage struct {
	ImportPath                string
	Imports                   []string
	Deps                      []string
	CgoFiles                  []string
	TestImports, XTestImports []string
}

func listPackages(t *testing.T, env ...string) []goPackage {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps=false", "-json", "./...")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []goPackage
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p goPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func TestLayering(t *testing.T) {
	for _, p := range listPackages(t) {
		rules, ok := allowed[p.ImportPath]
		if !ok {
			t.Errorf("%s is not in the layering table: add it to allowed (and to DESIGN.md §3)", p.ImportPath)
			continue
		}
		for _, imp := range p.Imports {
			name, ours := strings.CutPrefix(imp, "bloom/")
			if ours && !slices.Contains(rules, name) {
				t.Errorf("%s imports %s, which the layering does not allow (may import: %v)", p.ImportPath, imp, rules)
			}
			if slices.Contains(testOnly, imp) {
				t.Errorf("%s imports %s outside its tests: only _test.go files may", p.ImportPath, imp)
			}
		}
		for _, bad := range forbidden[p.ImportPath] {
			for _, dep := range p.Deps {
				if dep == bad || strings.HasSuffix(bad, "/") && strings.HasPrefix(dep, bad) {
					t.Errorf("%s depends on %s, which it must never do", p.ImportPath, dep)
				}
			}
		}
		if len(p.CgoFiles) > 0 && p.ImportPath != "bloom/npu/acl" {
			t.Errorf("%s uses cgo (%v); only npu/acl may", p.ImportPath, p.CgoFiles)
		}
	}
}

// TestPureGo builds every package but npu/acl with cgo off.
func TestPureGo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the tree")
	}
	var paths []string
	for _, p := range listPackages(t, "CGO_ENABLED=0") {
		if p.ImportPath != "bloom/npu/acl" {
			paths = append(paths, p.ImportPath)
		}
	}
	cmd := exec.Command("go", append([]string{"build", "-o", os.DevNull}, paths...)...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build: %v\n%s", err, out)
	}
}
