package main

import (
	"flag"
	"fmt"
	"log"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"bloom/membership"
)

type options struct {
	gossip        gossipOptions
	raftTrials    int
	raftNonvoters int
	raftBigTrials int
	members, jobs int
	coordReps     int
	only          string
	md            string
}

func main() {
	log.SetFlags(0)
	var o options
	flag.IntVar(&o.gossip.N, "n", 1000, "gossip members (and coordinator members unless -members)")
	flag.IntVar(&o.gossip.JoinPar, "join-par", 0, "joins in flight at once (0: every node joins node 0 at once)")
	flag.DurationVar(&o.gossip.Settle, "settle", 30*time.Second, "wait after formation before measuring idle bandwidth")
	flag.DurationVar(&o.gossip.Window, "window", 30*time.Second, "idle bandwidth window (0: skip)")
	flag.DurationVar(&o.gossip.FormTimeout, "form-timeout", 3*time.Minute, "give up forming after this")
	flag.DurationVar(&o.gossip.DetTimeout, "detect-timeout", 3*time.Minute, "give up waiting for the dead node's declaration after this")
	flag.IntVar(&o.raftTrials, "raft-trials", 10, "Raft clusters of 5 voters: each elects, loses its leader and elects again")
	flag.IntVar(&o.raftNonvoters, "raft-nonvoters", -1, "non-voters in the large Raft trials (-1: n-5, as bloomd adds every node; 0: skip)")
	flag.IntVar(&o.raftBigTrials, "raft-big-trials", 3, "Raft trials with the non-voters")
	flag.IntVar(&o.members, "members", 0, "coordinator members (0: n)")
	flag.IntVar(&o.jobs, "jobs", 100, "coordinator jobs")
	flag.IntVar(&o.coordReps, "coord-reps", 5, "first passes timed (median)")
	flag.StringVar(&o.only, "only", "gossip,raft,coord", "phases to run")
	flag.StringVar(&o.md, "md", "", "also write the markdown section to this file")
	flag.Parse()
	if o.members == 0 {
		o.members = o.gossip.N
	}
	if o.raftNonvoters < 0 {
		o.raftNonvoters = max(o.gossip.N-bloomdVoters, 0)
	}
	o.gossip.Progress = func(format string, args ...any) { log.Printf("  "+format, args...) }
	if err := run(o); err != nil {
		log.Fatal(err)
	}
}

func run(o options) error {
	var rep report
	rep.env = fmt.Sprintf("%s/%s, %d CPUs (GOMAXPROCS %d), %s, %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0), cpuModel(), runtime.Version())
	phases := strings.Split(o.only, ",")
	if slices.Contains(phases, "gossip") {
		log.Printf("gossip: %d members", o.gossip.N)
		g, err := runGossip(o.gossip)
		if err != nil {
			// Reported, not fatal: on too few CPUs the members starve,
			// and the other phases still have something to say.
			log.Printf("gossip: %v", err)
			g.Failed = err.Error()
		}
		rep.gossip = &g
	}
	if slices.Contains(phases, "raft") {
		for i := range o.raftTrials {
			tr, err := runRaftTrial(bloomdVoters, 0, time.Minute)
			if err != nil {
				return err
			}
			log.Printf("raft: 5 voters, trial %d: elected %v, failover %v", i+1, tr.Elect.Round(time.Millisecond), tr.Failover.Round(time.Millisecond))
			rep.raft = append(rep.raft, tr)
		}
		for i := range o.raftBigTrials * min(o.raftNonvoters, 1) {
			tr, err := runRaftTrial(bloomdVoters, o.raftNonvoters, 2*time.Minute)
			if err != nil {
				return err
			}
			log.Printf("raft: 5 voters + %d non-voters, trial %d: elected %v, failover %v, all know %v", o.raftNonvoters, i+1,
				tr.Elect.Round(time.Millisecond), tr.Failover.Round(time.Millisecond), tr.Known.Round(time.Millisecond))
			rep.raftBig = append(rep.raftBig, tr)
		}
		rep.nonvoters = o.raftNonvoters
	}
	if slices.Contains(phases, "coord") {
		log.Printf("coordinator: %d members, %d jobs", o.members, o.jobs)
		c, err := runCoord(o.members, o.jobs, o.coordReps)
		if err != nil {
			return err
		}
		rep.coord = &c
	}
	md := rep.markdown()
	fmt.Print(md)
	if o.md != "" {
		return os.WriteFile(o.md, []byte(md), 0o644)
	}
	return nil
}

// cpuModel is the CPU's name from /proc/cpuinfo, or "".
func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "cpu unknown"
}

// serfSeconds is the time for a fraction f of n nodes to hear a message in
// Serf's convergence model (reference/scale.md §5.1): informed(x) =
// 1/(1+(n+1)e^(−c·n·x)) after x gossip rounds, c·n = fanout/2 without
// loss or failures.
func serfSeconds(n int, f float64, interval time.Duration, fanout int) float64 {
	x := math.Log(float64(n+1)*f/(1-f)) / (float64(fanout) / 2)
	return x * interval.Seconds()
}

// suspicionBounds are memberlist's suspicion timeouts at n nodes with
// bloomd's configuration (util.go suspicionTimeout): min, max.
func suspicionBounds(n int) (time.Duration, time.Duration) {
	c := membership.DefaultConfig()
	min := time.Duration(float64(c.SuspicionMult) * math.Max(1, math.Log10(float64(n))) * float64(c.ProbeInterval))
	return min, time.Duration(c.SuspicionMaxTimeoutMult) * min
}
