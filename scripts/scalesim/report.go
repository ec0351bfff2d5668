package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"bloom/membership"
)

// report is every phase's result, written as one markdown section.
type report struct {
	env       string
	gossip    *gossipResult
	raft      []raftTrial
	raftBig   []raftTrial
	nonvoters int
	coord     *coordResult
}

func (r *report) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n## Scale simulation (scripts/scalesim)\n\nMachine: %s; load average at the end %s. All in one process.\n\n", r.env, loadAvg())
	fmt.Fprintf(&b, "| measure | value |\n|---|---|\n")
	if g := r.gossip; g != nil && g.Failed != "" {
		row(&b, fmt.Sprintf("gossip, %d members: stopped", g.N), g.Failed)
		row(&b, "nodes that saw all alive / joins retried / false dead declarations / WARN / ERR log lines",
			fmt.Sprintf("%d / %d / %d / %d / %d", g.FormedNodes, g.JoinRetries, g.FalseDead, g.Warn, g.Err))
		row(&b, "lateness of a 10 ms ticker in the process, p99 / max (CPU starvation; the probe timeout is 200 ms)", fmt.Sprintf("%v / %v", g.LateP99.Round(time.Millisecond), g.LateMax.Round(time.Millisecond)))
	} else if g != nil {
		r.gossipRows(&b, g)
	}
	if len(r.raft) > 0 {
		raftRows(&b, "5 voters", r.raft)
	}
	if len(r.raftBig) > 0 {
		raftRows(&b, fmt.Sprintf("5 voters + %d non-voters", r.nonvoters), r.raftBig)
	}
	if c := r.coord; c != nil {
		row(&b, fmt.Sprintf("coordinator: first pass of a leader (%d members, %d jobs; places what fits), median", c.Members, c.Jobs),
			fmt.Sprintf("%v (%d actions)", c.First.Round(time.Microsecond), c.FirstActions))
		row(&b, fmt.Sprintf("coordinator: later passes (%d running, %d pending)", c.Running, c.Pending),
			fmt.Sprintf("%v/op wall, %v/op CPU, %d B/op, %d allocs/op (%d runs)", time.Duration(c.Steady.NsPerOp()).Round(time.Microsecond),
				c.SteadyCPU.Round(time.Microsecond), c.Steady.AllocedBytesPerOp(), c.Steady.AllocsPerOp(), c.Steady.N))
	}
	if g := r.gossip; g != nil && g.Failed == "" {
		serfComparison(&b, g)
	}
	return b.String()
}

func row(b *strings.Builder, k, v string) { fmt.Fprintf(b, "| %s | %s |\n", k, v) }

func ms(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func (r *report) gossipRows(b *strings.Builder, g *gossipResult) {
	min, max := suspicionBounds(g.N)
	row(b, "gossip: members, transport", fmt.Sprintf("%d memberlist v0.6.0, in-memory (memNet), AES-256 + compression", g.N))
	row(b, "formation: every node sees all alive (all join node 0 at once, retrying every 500 ms as bloomd does)", fmt.Sprintf("%s (%d joins retried)", ms(g.Formation), g.JoinRetries))
	row(b, "bytes sent per node per second while forming", fmt.Sprintf("%.0f B/s (%.0f kbit/s)", g.FormBytes, g.FormBytes*8/1000))
	if g.SteadyBytes > 0 {
		row(b, "idle: bytes sent per node per second (packets and streams)", fmt.Sprintf("%.0f B/s (%.1f kbit/s), %.1f packets/s", g.SteadyBytes, g.SteadyBytes*8/1000, g.SteadyPackets))
		row(b, "idle: CPU of the whole simulation", fmt.Sprintf("%.2f cores (%.2f ms/s per node)", g.SteadyCPU, g.SteadyCPU*1000/float64(g.N)))
	}
	row(b, "crash → first suspicion (log line)", ms(g.FirstSuspect))
	row(b, fmt.Sprintf("crash → declared dead, first / p50 / p99 / p99.99 / all %d", len(g.Detect)),
		fmt.Sprintf("%s / %s / %s / %s / %s", ms(g.Detect[0]), ms(pct(g.Detect, .5)), ms(pct(g.Detect, .99)), ms(pct(g.Detect, .9999)), ms(g.Detect[len(g.Detect)-1])))
	row(b, "spread of the declaration (all − first)", ms(g.Detect[len(g.Detect)-1]-g.Detect[0]))
	row(b, fmt.Sprintf("suspicion timeout at n=%d (min with k confirmations / max)", g.N), fmt.Sprintf("%s / %s", ms(min), ms(max)))
	row(b, "bytes per node per second from the crash to the last declaration", fmt.Sprintf("%.0f B/s", g.DetectBytes))
	row(b, "lateness of a 10 ms ticker in the process, p99 / max (CPU starvation; the probe timeout is 200 ms)", fmt.Sprintf("%v / %v", g.LateP99.Round(time.Millisecond), g.LateMax.Round(time.Millisecond)))
	row(b, "false dead declarations / datagrams dropped (queue full) / WARN / ERR log lines", fmt.Sprintf("%d / %d / %d / %d", g.FalseDead, g.Dropped, g.Warn, g.Err))
}

func raftRows(b *strings.Builder, what string, ts []raftTrial) {
	pick := func(f func(raftTrial) time.Duration) string {
		ds := make([]time.Duration, len(ts))
		for i, t := range ts {
			ds[i] = f(t)
		}
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		return fmt.Sprintf("%s / %s", ms(ds[len(ds)/2]), ms(ds[len(ds)-1]))
	}
	row(b, fmt.Sprintf("raft, %s (InmemTransport, %d trials): first election, median / max", what, len(ts)), pick(func(t raftTrial) time.Duration { return t.Elect }))
	row(b, fmt.Sprintf("raft, %s: leader crash → new leader, median / max", what), pick(func(t raftTrial) time.Duration { return t.Failover }))
	row(b, fmt.Sprintf("raft, %s: leader crash → every server names it, median / max", what), pick(func(t raftTrial) time.Duration { return t.Known }))
	var cpu float64
	for _, t := range ts {
		cpu += t.CPU
	}
	row(b, fmt.Sprintf("raft, %s: CPU with a stable leader (whole cluster)", what), fmt.Sprintf("%.2f cores", cpu/float64(len(ts))))
}

// serfComparison sets the measured times beside Serf's model with Serf's
// defaults and with bloomd's gossip interval.
func serfComparison(b *strings.Builder, g *gossipResult) {
	c := membership.DefaultConfig()
	serf := serfSeconds(g.N, .9999, 200*time.Millisecond, 3)
	ours := serfSeconds(g.N, .9999, c.GossipInterval, c.GossipNodes)
	spread := g.Detect[len(g.Detect)-1] - g.Detect[0]
	min, max := suspicionBounds(g.N)
	fmt.Fprintf(b, "\nSerf's model (scale.md §5.1) is the spread of one message once it is gossiped: 99.99 %% of %d nodes in %.2f s with Serf's defaults (200 ms, fanout 3), %.2f s with bloomd's (%v, fanout %d); its bandwidth bound is 1400 B × fanout × 2 / interval = %.0f B/s for Serf, %.0f B/s for bloomd's interval.\n",
		g.N, serf, ours, c.GossipInterval, c.GossipNodes, 1400*3*2/0.2, 1400*float64(c.GossipNodes)*2/c.GossipInterval.Seconds())
	fmt.Fprintf(b, "Measured: the declaration of the dead node reached every survivor %.2f s after the first one (the model's %.2f s for one message); the last came %.2f s after the crash, where bloomd's configuration predicts probing (≈ 1 s) plus a suspicion timeout of %.1f–%.1f s at n=%d (SuspicionMult %d × log10 n × ProbeInterval %v, up to ×%d without confirmations) plus dissemination. Idle, each node sent %.0f B/s, against the model's %.0f B/s bound.\n",
		spread.Seconds(), ours, pct(g.Detect, 1).Seconds(), min.Seconds(), max.Seconds(), g.N, c.SuspicionMult, c.ProbeInterval, c.SuspicionMaxTimeoutMult,
		g.SteadyBytes, 1400*float64(c.GossipNodes)*2/c.GossipInterval.Seconds())
	if g.FalseDead > 0 {
		fmt.Fprintf(b, "\n**Warning:** %d live nodes were declared dead during the run: the process did not get the CPU its %d members need, and the times above measure the machine as much as memberlist.\n", g.FalseDead, g.N)
	}
}

// loadAvg is the 1-, 5- and 15-minute load average, or "unknown": the
// machine may be shared, and the times are wall-clock.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}
