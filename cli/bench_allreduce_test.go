package cli

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"bloom/collective/collbench"
)

// TestMain lets the test binary stand in for bloomctl when the benchmark
// re-executes itself as a worker.
func TestMain(m *testing.M) {
	if os.Getenv("BLOOMCTL_TEST_AS_CTL") == "1" {
		if err := CtlApp().Run(os.Args); err != nil {
			fmt.Fprintln(os.Stderr, "bloomctl:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestParseSizes(t *testing.T) {
	got, err := parseSizes("1K, 64K,1M,16MiB,3,2G")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[1024 65536 1048576 16777216 3 2147483648]" {
		t.Errorf("parseSizes: %v", got)
	}
	for _, bad := range []string{"", "x", "1Q", "-1K"} {
		if _, err := parseSizes(bad); err == nil {
			t.Errorf("parseSizes(%q) accepted", bad)
		}
	}
}

func TestBenchAllreduceFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--ranks", "1"}, {"--transport", "tcp"}, {"--collective", "alltoall"}, {"--dtype", "fp8"}, {"--op", "avg"},
	} {
		if _, err := run(t, append([]string{"bench", "allreduce"}, args...)...); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

// TestBenchAllreduce runs the command end to end: bloomctl worker
// processes (the hidden allreduce-worker, with the flags passed on), rows
// as JSON (#wrong must be 0) and as nccl-tests' table. The harness's own
// cases, every collective over shm and quic, are collective/collbench's.
func TestBenchAllreduce(t *testing.T) {
	t.Setenv("BLOOMCTL_TEST_AS_CTL", "1")
	args := []string{"--ranks", "2", "--transport", "shm", "--sizes", "4K", "--collective", "reducescatter", "--dtype", "bf16", "--op", "max", "--no-baselines"}
	out, err := run(t, append([]string{"-o", "json", "bench", "allreduce", "--min-time", "0.01"}, args...)...)
	if err != nil {
		t.Fatalf("%v: %v\n%s", args, err, out)
	}
	sections := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var row collbench.Row
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			t.Fatalf("%v: %q: %v", args, sc.Text(), err)
		}
		if row.Wrong != 0 || row.TimeUS <= 0 || row.BusBW <= 0 {
			t.Errorf("%v: bad row %+v", args, row)
		}
		sections[row.Collective]++
	}
	if len(sections) == 0 {
		t.Errorf("%v: no rows in %q", args, out)
	}
	// The table format has nccl-tests' columns.
	out, err = run(t, "bench", "allreduce", "--ranks", "2", "--sizes", "1K", "--min-time", "0.01", "--no-baselines")
	if err != nil || !strings.Contains(out, "algbw") || !strings.Contains(out, "#wrong") {
		t.Errorf("table output: %v\n%s", err, out)
	}
}
