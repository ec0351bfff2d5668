package collbench

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"testing"
	"time"

	"bloom/collective"
)

// workerEnv, when set, makes the test binary one rank of a run: the
// Config as JSON, the rank's flags as Run appends them.
const workerEnv = "COLLBENCH_TEST_WORKER"

func TestMain(m *testing.M) {
	if cfg := os.Getenv(workerEnv); cfg != "" {
		if err := testWorker(cfg, os.Args[1:]); err != nil {
			fmt.Fprintln(os.Stderr, "collbench worker:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func testWorker(cfgJSON string, args []string) error {
	var cfg Config
	if err := json.Unmarshal([]byte(cfgJSON), &cfg); err != nil {
		return err
	}
	var w Worker
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.IntVar(&w.Rank, "rank", 0, "")
	fs.StringVar(&w.RootInfo, "root-info", "", "")
	fs.StringVar(&w.CommID, "comm-id", "", "")
	fs.StringVar(&w.TLSDir, "tls-dir", "", "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return RunWorker(cfg, w, os.Stdout)
}

func TestValidate(t *testing.T) {
	good := Config{Ranks: 2, Transport: "shm", Collective: "allreduce", Rounds: 1}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []func(*Config){
		func(c *Config) { c.Ranks = 1 }, func(c *Config) { c.Transport = "tcp" }, func(c *Config) { c.Collective = "alltoall" },
		func(c *Config) { c.Rounds = 0 }, func(c *Config) { c.Algo = "butterfly" },
	} {
		c := good
		bad(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

// TestRun runs the real benchmark: worker processes over shm and quic,
// every collective, and checks the rows (#wrong must be 0).
func TestRun(t *testing.T) {
	base := Config{Baselines: true, MinTime: 10 * time.Millisecond, Rounds: 3, SmallBytes: -1,
		DType: collective.Float32, Op: collective.Sum, Collective: "allreduce"}
	cases := []func(*Config){
		func(c *Config) { c.Ranks, c.Transport, c.Sizes = 3, "shm", []int{1 << 10, 100 << 10} },
		func(c *Config) {
			c.Ranks, c.Transport, c.Sizes, c.Collective, c.Baselines = 2, "shm", []int{4 << 10}, "reducescatter", false
			c.DType, c.Op = collective.BFloat16, collective.Max
		},
		func(c *Config) {
			c.Ranks, c.Transport, c.Sizes, c.Collective, c.Baselines = 3, "shm", []int{6 << 10}, "allgather", false
		},
		func(c *Config) {
			c.Ranks, c.Transport, c.Sizes, c.Collective, c.Baselines = 2, "shm", []int{4 << 10}, "broadcast", false
			c.DType = collective.Int8
		},
		func(c *Config) { c.Ranks, c.Transport, c.Sizes, c.Collective = 2, "quic", []int{64 << 10}, "sendrecv" },
	}
	if testing.Short() {
		cases = cases[:1]
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, set := range cases {
		cfg := base
		set(&cfg)
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		cfgJSON, err := json.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Setenv(workerEnv, string(cfgJSON))
		sections := map[string]int{}
		err = Run(context.Background(), cfg, Launch{Exe: exe}, func(row Row) error {
			if row.Wrong != 0 || row.TimeUS <= 0 || row.BusBW <= 0 {
				t.Errorf("%+v: bad row %+v", cfg, row)
			}
			sections[row.Collective]++
			return nil
		})
		if err != nil {
			t.Fatalf("%+v: %v", cfg, err)
		}
		if len(sections) == 0 {
			t.Errorf("%+v: no rows", cfg)
		}
	}
}
