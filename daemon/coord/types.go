package coord

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Member is a node registered with the cluster: what the planner needs to
// place ranks on it. Liveness is not here: gossip decides who is alive, Raft
// records who exists (DESIGN.md §4, "two clocks").
type Member struct {
	Name     string `json:"name"`
	RaftAddr string `json:"raft_addr"`
	APIAddr  string `json:"api_addr"`
	QUICAddr string `json:"quic_addr,omitempty"`
	// Devices is the node's device list as bloomd was given it: "cpu:4", "npu:0-7".
	Devices string `json:"devices,omitempty"`
	// DeviceIPs are the node's NPUs' own NIC addresses, HCCL's device_ip
	// (from /etc/hccn.conf): "0=192.168.100.101,1=192.168.101.101".
	DeviceIPs string `json:"device_ips,omitempty"`
	Version   string `json:"version,omitempty"`
	// Since is the Raft index of the command that first registered the member.
	Since uint64 `json:"since"`
}

// DeviceIP is NPU index's address in DeviceIPs, "" if the node gave none.
func (m *Member) DeviceIP(index int) string {
	want := strconv.Itoa(index) + "="
	for _, pair := range strings.Split(m.DeviceIPs, ",") {
		if ip, ok := strings.CutPrefix(pair, want); ok {
			return ip
		}
	}
	return ""
}

// Job is one submitted job and everything that happened to it.
type Job struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Spec is the job specification as submitted, opaque to the state machine.
	Spec        json.RawMessage `json:"spec,omitempty"`
	State       JobState        `json:"state"`
	Reason      string          `json:"reason,omitempty"`
	SubmittedAt int64           `json:"submitted_at"` // unix milliseconds, the leader's clock
	Plan        *Plan           `json:"plan,omitempty"`
	Attempts    []Attempt       `json:"attempts,omitempty"`
	// Checkpoints are the committed checkpoints, in increasing step order.
	Checkpoints []Checkpoint `json:"checkpoints,omitempty"`
	// Result is a generation or evaluation job's answer, once it succeeded.
	Result json.RawMessage `json:"result,omitempty"`
	// History is the job's steps, every attempt's, bounded (MaxHistory).
	History []HistoryPoint `json:"history,omitempty"`
}

// Plan places every rank of a job on a node and device, Megatron order:
// rank = pp·(DP·TP) + dp·TP + tp.
type Plan struct {
	TP    int    `json:"tp"`
	PP    int    `json:"pp"`
	DP    int    `json:"dp"`
	Ranks []Rank `json:"ranks"`
}

// Rank is one rank's place.
type Rank struct {
	Rank   int    `json:"rank"`
	Node   string `json:"node"`
	Device int    `json:"device"`
}

// Attempt is one run of a job from start (or a checkpoint) to its end.
type Attempt struct {
	N         int    `json:"n"` // 1, 2, ...
	Plan      Plan   `json:"plan"`
	StartedAt int64  `json:"started_at"`
	EndedAt   int64  `json:"ended_at,omitempty"`
	FromStep  int64  `json:"from_step"` // checkpoint step it resumed from, 0 for a fresh start
	Cause     string `json:"cause,omitempty"`
	StepsLost int64  `json:"steps_lost,omitempty"`
	// LastStep is the last step a rank reported before the attempt ended
	// (0 when unknown, or recorded by a version-1 command); StepsLost is
	// LastStep less the step of the checkpoint the next attempt resumes from.
	LastStep int64 `json:"last_step,omitempty"`
	// Planned: it stopped on request after a checkpoint, not by a failure.
	Planned bool `json:"planned,omitempty"`
}

// Failures counts the job's attempts that ended by a failure.
func (j *Job) Failures() int {
	n := 0
	for _, a := range j.Attempts {
		if a.EndedAt != 0 && !a.Planned {
			n++
		}
	}
	return n
}

// LastStep is the step of the job's last committed checkpoint, -1 when
// it has none.
func (j *Job) LastStep() int64 {
	if n := len(j.Checkpoints); n > 0 {
		return j.Checkpoints[n-1].Step
	}
	return -1
}

// Checkpoint is a checkpoint whose shards were all durable when it was
// committed; only committed checkpoints are ever loaded.
type Checkpoint struct {
	Step int64 `json:"step"`
	// Dir is the step directory's name under the job's checkpoint root
	// (ckpt's iter_0000050). A checkpoint is addressed by (job, step): each
	// node resolves its own root from the job's spec and reads nothing
	// else from Dir; records written before held the committing node's
	// absolute path, which is why the field stays non-empty.
	Dir         string `json:"dir"`
	Manifest    string `json:"manifest"` // hex SHA-256 of the manifest
	CommittedAt int64  `json:"committed_at"`
	// Files are the checkpoint's shard files and where verified copies of
	// them live (empty when recorded by an older bloomd).
	Files []CheckpointFile `json:"files,omitempty"`
}

// CheckpointFile is one file of a checkpoint's step directory and the
// nodes that hold a copy whose size and SHA-256 were checked.
type CheckpointFile struct {
	Name   string   `json:"name"`
	SHA256 string   `json:"sha256"`
	Bytes  int64    `json:"bytes"`
	Nodes  []string `json:"nodes"` // the writer first
}

func (f CheckpointFile) validate() error {
	if f.Name == "" || len(f.Name) > 255 || strings.ContainsAny(f.Name, "/\\") || f.Name == "." || f.Name == ".." {
		return errors.New("not a plain file name")
	}
	if len(f.SHA256) != 64 || f.Bytes < 0 || len(f.Nodes) > 64 {
		return errors.New("needs a hex SHA-256, a size ≥ 0 and at most 64 nodes")
	}
	for _, n := range f.Nodes {
		if !ValidName(n) {
			return fmt.Errorf("node %q is not a valid name", n)
		}
	}
	return nil
}

// Validate checks a plan's layout: sizes positive, one entry per rank, every
// rank 0..TP·PP·DP−1 exactly once, and the same device never used twice on a node.
func (p *Plan) Validate() error {
	if p.TP < 1 || p.PP < 1 || p.DP < 1 || p.TP > 1<<16 || p.PP > 1<<16 || p.DP > 1<<16 {
		return fmt.Errorf("%w: plan sizes TP=%d PP=%d DP=%d must all be in 1..65536", ErrBadCommand, p.TP, p.PP, p.DP)
	}
	n := p.TP * p.PP * p.DP
	if n > 1<<16 || len(p.Ranks) != n {
		return fmt.Errorf("%w: plan has %d ranks, TP·PP·DP = %d", ErrBadCommand, len(p.Ranks), n)
	}
	seen := make([]bool, n)
	type slot struct {
		node   string
		device int
	}
	used := make(map[slot]int, n)
	for _, r := range p.Ranks {
		if r.Rank < 0 || r.Rank >= n || seen[r.Rank] {
			return fmt.Errorf("%w: plan rank %d is out of range or repeated", ErrBadCommand, r.Rank)
		}
		seen[r.Rank] = true
		if r.Node == "" || r.Device < 0 {
			return fmt.Errorf("%w: plan rank %d has no node or a negative device", ErrBadCommand, r.Rank)
		}
		s := slot{r.Node, r.Device}
		if prev, ok := used[s]; ok {
			return fmt.Errorf("%w: ranks %d and %d both on %s device %d", ErrBadCommand, prev, r.Rank, r.Node, r.Device)
		}
		used[s] = r.Rank
	}
	return nil
}

func (p *Plan) clone() *Plan {
	if p == nil {
		return nil
	}
	q := *p
	q.Ranks = append([]Rank(nil), p.Ranks...)
	return &q
}

func (j *Job) clone() *Job {
	k := *j
	k.Spec = append(json.RawMessage(nil), j.Spec...)
	k.Plan = j.Plan.clone()
	k.Attempts = make([]Attempt, len(j.Attempts))
	for i, a := range j.Attempts {
		k.Attempts[i] = a
		k.Attempts[i].Plan = *a.Plan.clone()
	}
	k.Checkpoints = append([]Checkpoint(nil), j.Checkpoints...)
	for i, c := range k.Checkpoints {
		k.Checkpoints[i].Files = append([]CheckpointFile(nil), c.Files...)
		for f := range k.Checkpoints[i].Files {
			k.Checkpoints[i].Files[f].Nodes = append([]string(nil), c.Files[f].Nodes...)
		}
	}
	if len(j.Spec) == 0 {
		k.Spec = nil
	}
	if len(j.Attempts) == 0 {
		k.Attempts = nil
	}
	return &k
}
