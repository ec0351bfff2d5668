package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"math/rand"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// config is the soak's command line.
type config struct {
	Nodes, Steps, SaveInterval, Failures int
	Seed                                 int64
	Out                                  string
	Actions                              []string
	Downtime, Timeout                    time.Duration
	GoMaxProcs                           int
}

func parseFlags() config {
	var c config
	var actionList string
	flag.IntVar(&c.Nodes, "nodes", 12, "bloomd processes, one CPU device each; the job is data parallel over all of them")
	// 12 nodes on 2 cores train 2.5–4 steps/s (busy–quiet machine): the
	// reference takes 4–7 min, the soak as long plus 10–25 s a failure.
	flag.IntVar(&c.Steps, "steps", 1000, "training steps of the job (the reference runs them too)")
	flag.IntVar(&c.SaveInterval, "save-interval", 20, "steps between checkpoints")
	flag.IntVar(&c.Failures, "failures", 0, "faults to inject (0: one per 100 steps, at least one of each action)")
	flag.Int64Var(&c.Seed, "seed", 1, "seed of the fault plan, its targets and timing, and of the job")
	flag.StringVar(&c.Out, "out", "", "directory for logs, data dirs and checkpoints (default: a new temporary one, kept)")
	flag.StringVar(&actionList, "actions", strings.Join(actionKinds(), ","), "the kinds of fault to draw from")
	flag.DurationVar(&c.Downtime, "downtime", 12*time.Second, "a crashed node stays down, a cut node cut, up to this long after detection")
	flag.DurationVar(&c.Timeout, "timeout", 40*time.Minute, "give up on a job after this long")
	flag.IntVar(&c.GoMaxProcs, "gomaxprocs", 1, "GOMAXPROCS of each bloomd and its workers (0: Go's default)")
	flag.Parse()
	c.Actions = strings.Split(actionList, ",")
	if c.Failures == 0 {
		c.Failures = max(len(c.Actions), c.Steps/100)
	}
	return c
}

func main() {
	cfg := parseFlags()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code, err := run(ctx, cfg) // cleans up on every path, Ctrl-C included
	stop()
	if err != nil {
		log.Print(err)
	}
	os.Exit(code)
}

// run sets up the network and the cluster, soaks, prints the report and
// tears everything down; it returns the exit code.
func run(ctx context.Context, cfg config) (int, error) {
	if cfg.Nodes < 2 || cfg.Steps < 6*cfg.SaveInterval || cfg.SaveInterval < 1 {
		return 2, fmt.Errorf("soak: want -nodes ≥ 2 and -steps ≥ 6×-save-interval (%d)", 6*cfg.SaveInterval)
	}
	if err := setOut(&cfg); err != nil {
		return 2, err
	}
	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "%s soak: %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
	}
	logf("logs, data dirs and checkpoints in %s", cfg.Out)
	bin, err := binaries(ctx, filepath.Join(cfg.Out, "bin"))
	if err != nil {
		return 2, err
	}
	rng := rand.New(rand.NewSource(cfg.Seed))
	ch := &chaos{rng: rng, Downtime: cfg.Downtime, DetectWithin: time.Minute, ResumeWithin: 3 * time.Minute}
	specs, skipped := network(ch, &cfg, logf)
	if ch.ns != nil {
		defer ch.ns.Close() // after the cluster's processes are gone
	}
	plan, err := faultPlan(rng, cfg.Actions, cfg.Failures)
	if err != nil {
		return 2, err
	}
	ch.c = &Cluster{Bin: bin, Dir: cfg.Out, Devices: "cpu:1", Logf: logf}
	if cfg.GoMaxProcs > 0 {
		ch.c.Env = []string{fmt.Sprintf("GOMAXPROCS=%d", cfg.GoMaxProcs)}
	}
	defer ch.c.Close()
	if err := ch.c.Start(ctx, specs); err != nil {
		return 1, err
	}
	r := runSoak(ctx, cfg, ch, plan)
	r.PartitionSkipped = skipped
	r.print(os.Stdout)
	if !r.ok() {
		return 1, nil
	}
	return 0, nil
}

// network places the nodes: in a namespace setup that allows a partition
// when the plan has one and this process may, else on 127.0.0.x without
// partitions (skipped says why).
func network(ch *chaos, cfg *config, logf func(string, ...any)) (specs []NodeSpec, skipped string) {
	i := slices.Index(cfg.Actions, "partition")
	if i < 0 {
		return Loopback(cfg.Nodes), ""
	}
	ns, err := newNetns(cfg.Nodes)
	if err != nil {
		cfg.Actions = append(cfg.Actions[:i], cfg.Actions[i+1:]...)
		logf("no partition: %v; the nodes run on 127.0.0.x", err)
		return Loopback(cfg.Nodes), err.Error()
	}
	ch.ns = ns
	logf("network namespace %s holds %s (%s on veth %s); n1..n%d bind %s..%s on veth %s", ns.name, ns.node,
		ns.hosts[cfg.Nodes-1], ns.nsIf, cfg.Nodes-1, ns.hosts[0], ns.hosts[cfg.Nodes-2], ns.rootIf)
	return ns.Specs(), ""
}

func setOut(cfg *config) error {
	if cfg.Out == "" {
		d, err := os.MkdirTemp("", "bloom-soak-")
		if err != nil {
			return fmt.Errorf("soak: %w", err)
		}
		cfg.Out = d
	}
	abs, err := filepath.Abs(cfg.Out)
	if err != nil {
		return fmt.Errorf("soak: %w", err)
	}
	cfg.Out = abs
	return os.MkdirAll(abs, 0o755)
}
