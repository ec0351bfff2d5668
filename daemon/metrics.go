package daemon

import (
	"fmt"
	"io"
	"math"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"bloom/api"
	"bloom/membership"
)

// applyBuckets are the upper bounds (seconds) of the apply-latency histogram.
var applyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10}

// metrics holds what /metrics reports beyond what raft and gossip say live.
type metrics struct {
	leaderChanges atomic.Uint64

	mu     sync.Mutex
	counts []uint64 // per bucket, not cumulative
	sum    float64
	n      uint64
}

func newMetrics() *metrics { return &metrics{counts: make([]uint64, len(applyBuckets))} }

func (m *metrics) observeApply(d time.Duration) {
	s := d.Seconds()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sum += s
	m.n++
	for i, b := range applyBuckets {
		if s <= b {
			m.counts[i]++
			return
		}
	}
}

// writeMetrics writes the Prometheus text exposition format (version
// 0.0.4) by hand: HELP and TYPE lines, then samples.
func (d *Daemon) writeMetrics(w io.Writer) {
	byState := map[membership.State]int{}
	for _, m := range d.ml.Members() {
		byState[m.State]++
	}
	family(w, "bloom_build_info", "gauge", "1, labelled with this bloomd's version (git describe at build time) and Go version.")
	fmt.Fprintf(w, "bloom_build_info{version=\"%s\",goversion=\"%s\"} 1\n", promLabel(d.cfg.Version), promLabel(runtime.Version()))
	family(w, "bloom_members", "gauge", "Members of the gossip pool by state, as this node sees them.")
	for _, st := range []membership.State{membership.StateAlive, membership.StateSuspect, membership.StateDead, membership.StateLeft} {
		fmt.Fprintf(w, "bloom_members{state=\"%s\"} %d\n", promLabel(string(st)), byState[st])
	}
	if devs := d.Devices(); len(devs) > 0 {
		family(w, "bloom_device_healthy", "gauge", "1 when the device opened and held a value at its last probe.")
		for _, dv := range devs {
			fmt.Fprintf(w, "bloom_device_healthy{device=\"%s\"} %d\n", promLabel(dv.Device), b2u(dv.Healthy))
		}
		family(w, "bloom_device_memory_bytes", "gauge", "Device memory at the last probe (NPUs), total and free.")
		for _, dv := range devs {
			if dv.MemTotal > 0 {
				fmt.Fprintf(w, "bloom_device_memory_bytes{device=\"%s\",kind=\"total\"} %d\n", promLabel(dv.Device), dv.MemTotal)
				fmt.Fprintf(w, "bloom_device_memory_bytes{device=\"%s\",kind=\"free\"} %d\n", promLabel(dv.Device), dv.MemFree)
			}
		}
	}
	r := d.raft
	family(w, "bloom_raft_leader_changes_total", "counter", "Leader changes this node has observed.")
	fmt.Fprintf(w, "bloom_raft_leader_changes_total %d\n", d.metrics.leaderChanges.Load())
	gauges := []struct {
		name, help string
		v          uint64
	}{
		{"bloom_raft_commit_index", "Index of the last committed Raft log entry.", r.CommitIndex()},
		{"bloom_raft_applied_index", "Index of the last Raft log entry applied to the state machine.", r.AppliedIndex()},
		{"bloom_raft_last_index", "Index of the last Raft log entry stored here.", r.LastIndex()},
		{"bloom_raft_term", "Current Raft term.", r.CurrentTerm()},
		{"bloom_raft_is_leader", "1 when this node is the Raft leader (the coordinator).", b2u(r.State() == raft.Leader)},
	}
	for _, g := range gauges {
		family(w, g.name, "gauge", g.help)
		fmt.Fprintf(w, "%s %d\n", g.name, g.v)
	}
	d.metrics.writeHistogram(w)
	d.writeJobMetrics(w)
}

// writeJobMetrics writes every job's state (Raft's, on every node) and,
// where this node is the coordinator, the running attempt's latest step:
// the figures of its progress line and the seed's throughput table.
func (d *Daemon) writeJobMetrics(w io.Writer) {
	st := d.State()
	ids := make([]string, 0, len(st.Jobs))
	for id := range st.Jobs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	family(w, "bloom_job_info", "gauge", "1 for every job, labelled with its name and state.")
	var live []api.JobInfo
	for _, id := range ids {
		ji := d.jobInfo(st.Jobs[id], st.Members)
		fmt.Fprintf(w, "bloom_job_info{job=\"%s\",name=\"%s\",state=\"%s\"} 1\n", promLabel(ji.ID), promLabel(ji.Name), promLabel(ji.State))
		if ji.Progress != nil {
			live = append(live, ji)
		}
	}
	family(w, "bloom_job_attempts", "gauge", "Attempts the job has started.")
	for _, id := range ids {
		fmt.Fprintf(w, "bloom_job_attempts{job=\"%s\"} %d\n", promLabel(id), len(st.Jobs[id].Attempts))
	}
	gauges := []struct {
		name, typ, help string
		v               func(p *api.JobProgress) float64
	}{
		{"bloom_job_step", "gauge", "The latest step of the running attempt (coordinator only).", func(p *api.JobProgress) float64 { return float64(p.Step) }},
		{"bloom_job_steps", "gauge", "Steps in the run.", func(p *api.JobProgress) float64 { return float64(p.Steps) }},
		{"bloom_job_loss", "gauge", "The latest step's lm loss.", func(p *api.JobProgress) float64 { return p.Loss }},
		{"bloom_job_learning_rate", "gauge", "The latest step's learning rate.", func(p *api.JobProgress) float64 { return p.LR }},
		{"bloom_job_grad_norm", "gauge", "The latest step's gradient norm before clipping.", func(p *api.JobProgress) float64 { return p.GradNorm }},
		{"bloom_job_tokens_per_second", "gauge", "Tokens per second over the job, the latest step.", func(p *api.JobProgress) float64 { return p.TokensPerSec }},
		{"bloom_job_samples_per_second", "gauge", "Samples per second over the job, the latest step.", func(p *api.JobProgress) float64 { return p.SamplesPerSec }},
		{"bloom_job_seconds_per_step", "gauge", "Seconds the latest step took.", func(p *api.JobProgress) float64 { return p.SecondsPerStep }},
		{"bloom_job_tflops_per_device", "gauge", "TFLOPs per device by AscendSpeed's formula, the latest step.", func(p *api.JobProgress) float64 { return p.TFLOPs }},
		{"bloom_job_mfu", "gauge", "Model FLOPs utilization against the device's peak (0: unknown).", func(p *api.JobProgress) float64 { return p.MFU }},
		{"bloom_job_loss_scale", "gauge", "The --fp16 loss scale of the latest step (0: none).", func(p *api.JobProgress) float64 { return p.LossScale }},
		{"bloom_job_skipped_steps", "gauge", "--fp16 steps skipped for overflowing gradients in the attempt.", func(p *api.JobProgress) float64 { return float64(p.SkippedSteps) }},
		{"bloom_job_consumed_samples", "gauge", "Samples consumed so far.", func(p *api.JobProgress) float64 { return float64(p.Consumed) }},
	}
	for _, g := range gauges {
		family(w, g.name, g.typ, g.help)
		for _, ji := range live {
			fmt.Fprintf(w, "%s{job=\"%s\"} %s\n", g.name, promLabel(ji.ID), formatFloat(g.v(ji.Progress)))
		}
	}
}

func (m *metrics) writeHistogram(w io.Writer) {
	const name = "bloom_raft_apply_duration_seconds"
	family(w, name, "histogram", "Time from proposing a command on the leader to its being applied.")
	m.mu.Lock()
	defer m.mu.Unlock()
	var cum uint64
	for i, b := range applyBuckets {
		cum += m.counts[i]
		fmt.Fprintf(w, "%s_bucket{le=\"%s\"} %d\n", name, formatFloat(b), cum)
	}
	fmt.Fprintf(w, "%s_bucket{le=\"+Inf\"} %d\n", name, m.n)
	fmt.Fprintf(w, "%s_sum %s\n%s_count %d\n", name, formatFloat(m.sum), name, m.n)
}

func family(w io.Writer, name, typ, help string) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

func formatFloat(f float64) string {
	if math.IsInf(f, 1) {
		return "+Inf"
	}
	return fmt.Sprintf("%g", f)
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// promLabel is s as a Prometheus label value between its quotes: the text
// format escapes only backslash, double quote and newline (Go's %q also
// escaped tabs and non-ASCII, which Prometheus' parser refuses), and the
// value must be UTF-8.
func promLabel(s string) string {
	return labelEscaper.Replace(strings.ToValidUTF8(s, "\uFFFD"))
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
