package worker

import (
	"bloom/api"
	"bloom/daemon/coord"
	"bloom/daemon/jobspec"
)

// The protocol between a daemon's supervisor and the workers it starts:
// the Assignment, as the first line of the worker's stdin, then Msg lines
// both ways (worker → daemon on the control pipe, file descriptor 3).

// Assignment is what a daemon tells a worker it starts, as the first
// line of the worker's stdin: which rank of which attempt to run, where.
type Assignment struct {
	Job     string     `json:"job"`
	Attempt int        `json:"attempt"`
	Rank    int        `json:"rank"`
	Plan    coord.Plan `json:"plan"`
	Node    string     `json:"node"`
	// Device is the backend and index: "cpu:0", "npu:3".
	Device  string       `json:"device"`
	Threads int          `json:"threads"`
	Spec    jobspec.Spec `json:"spec"`
	// FromStep is the committed checkpoint this attempt resumes from
	// (0: a fresh start), LoadDir its directory on this node.
	FromStep int64  `json:"from_step"`
	LoadDir  string `json:"load_dir,omitempty"`
	// SaveDir is the root of the job's checkpoints on this node.
	SaveDir string `json:"save_dir"`
	// BindHost is the node's address, where the collective listens.
	BindHost string `json:"bind_host,omitempty"`
	// Secret is the cluster secret, for the collective's TLS identity and
	// checkpoint fetches; only a worker that needs one of them gets it.
	Secret string `json:"secret,omitempty"`
	// Fetch, when resuming, lists where the checkpoint's files live.
	Fetch *Fetch `json:"fetch,omitempty"`
	// Probe, when set, asks the worker for no rank: it opens each of these
	// devices ("npu:3"), answers with one "devices" Msg and exits.
	Probe []string `json:"probe,omitempty"`
}

// Size is the job's rank count.
func (a *Assignment) Size() int { return len(a.Plan.Ranks) }

// Msg is one line of the worker↔daemon protocol. Worker → daemon,
// on the control pipe (fd 3): progress, saving (Step), shard, stopped
// (Step: it stopped early on request after saving that step), error,
// result (Value: an inference job's answer, JSON), serving (Key: the
// address a serve job's rank answers on), devices (Devices: a probe's
// answer), publish (Key, Value), lookup (ID, Key, Owner). Daemon → worker, on stdin
// after the assignment: lookup (ID, Value or Error), and checkpoint-stop
// (checkpoint at the next step boundary every rank agrees on, then exit).
type Msg struct {
	Type     string            `json:"type"`
	Progress *api.StepProgress `json:"progress,omitempty"`
	Step     int64             `json:"step,omitempty"`
	Shard    *api.Shard        `json:"shard,omitempty"`
	Key      string            `json:"key,omitempty"`
	Value    []byte            `json:"value,omitempty"`
	Owner    int               `json:"owner,omitempty"`
	ID       int               `json:"id,omitempty"`
	Error    string            `json:"error,omitempty"`
	Fatal    bool              `json:"fatal,omitempty"` // error: the job's own fault, not worth a restart
	// Secondary (error): the rank failed because another did (a peer
	// lost, the communicator aborted): not the attempt's first cause.
	Secondary bool `json:"secondary,omitempty"`
	// Unusable (error): the step of the checkpoint the rank resumes from,
	// when no node holds a copy of a file it needs that verifies.
	Unusable int64            `json:"unusable,omitempty"`
	Devices  []api.DeviceInfo `json:"devices,omitempty"`
}

// MaxLine bounds one protocol line (a root info or a shard report).
const MaxLine = 1 << 20

// MsgCheckpointStop asks a worker to checkpoint and stop.
const MsgCheckpointStop = "checkpoint-stop"

// Fetch tells a resuming worker where the files of the checkpoint it
// loads live, so it can pull what its node lacks (a replacement node, a
// lost disk, a stage that moved).
type Fetch struct {
	Manifest string      `json:"manifest"` // hex SHA-256 of manifest.json
	Files    []FetchFile `json:"files"`
}

// FetchFile is one shard file and the transfer addresses of the nodes
// holding a verified copy, in the order to try.
type FetchFile struct {
	coord.CheckpointFile
	From []string `json:"from"`
}
