package api

import "encoding/json"

// Endpoint paths.
const (
	PathMembers = "/v1/members"
	PathStatus  = "/v1/status"
	PathJobs    = "/v1/jobs"
	PathMetrics = "/metrics"
	// PathRestart (POST) asks the answering node to restart: checkpoint
	// its jobs, stop gracefully and start again (bloomctl rollout).
	PathRestart = "/v1/restart"
	// PathServePattern is a serve job's HTTP API, through any node:
	// /v1/serve/JOB/v1/completions and the rest of trainer/serve's routes.
	PathServePattern = "/v1/serve/{job}/{rest...}"
)

// HeaderForwarded marks a request a follower forwarded to the leader; a
// node that is not the leader answers it with 503 rather than forward again.
const HeaderForwarded = "X-Bloom-Forwarded-By"

// Member states, as gossip sees them.
const (
	StateAlive   = "alive"
	StateSuspect = "suspect"
	StateDead    = "dead"
	StateLeft    = "left"
)

// Raft roles.
const (
	RoleLeader   = "leader"
	RoleVoter    = "voter"
	RoleNonvoter = "nonvoter"
	RoleNone     = "none"
)

// Member is one node in `bloomctl members`.
type Member struct {
	Name    string `json:"name"`
	Addr    string `json:"addr"` // gossip address
	API     string `json:"api,omitempty"`
	State   string `json:"state"`
	Role    string `json:"role"`
	Devices string `json:"devices,omitempty"`
	// DevicesHealthy is "ok/total" from the member's last device probe
	// ("" before one).
	DevicesHealthy string `json:"devices_healthy,omitempty"`
	// DeviceIPs are the member's NPUs' own NIC addresses from its
	// hccn.conf, HCCL's device_ip: "0=192.168.100.101,1=..." ("" without).
	DeviceIPs string `json:"device_ips,omitempty"`
	Version   string `json:"version,omitempty"`
	// RaftError is set while the member's Raft log refuses appends (a
	// full or failing disk): it answers, but cannot take new entries.
	RaftError string `json:"raft_error,omitempty"`
}

// DeviceInfo is one device of a node as its last probe found it: opened
// by a short-lived worker process (an NPU busy with a job's worker keeps
// its previous figures).
type DeviceInfo struct {
	Device   string `json:"device"`        // "npu:3", "cpu:0"
	Backend  string `json:"backend"`       // "acl", "cpu"
	SoC      string `json:"soc,omitempty"` // "Ascend910B1"
	MemTotal uint64 `json:"mem_total_bytes,omitempty"`
	MemFree  uint64 `json:"mem_free_bytes,omitempty"`
	Healthy  bool   `json:"healthy"`
	Error    string `json:"error,omitempty"` // why it is not healthy
	ProbedAt int64  `json:"probed_at"`       // unix ms
}

// MembersResponse answers GET /v1/members.
type MembersResponse struct {
	// Node is the node that answered: states are as it sees them.
	Node    string   `json:"node"`
	Members []Member `json:"members"`
}

// Status answers GET /v1/status.
type Status struct {
	ClusterID    string   `json:"cluster_id"`
	Node         string   `json:"node"`
	Leader       string   `json:"leader"`
	LeaderAddr   string   `json:"leader_addr,omitempty"`
	Term         uint64   `json:"term"`
	CommitIndex  uint64   `json:"commit_index"`
	AppliedIndex uint64   `json:"applied_index"`
	LastIndex    uint64   `json:"last_index"`
	Voters       []string `json:"voters"`
	Nonvoters    []string `json:"nonvoters"`
	Health       Health   `json:"health"`
	// StartedAt (unix ms) and Instance identify the answering bloomd
	// process: both change when it restarts.
	StartedAt int64  `json:"started_at,omitempty"`
	Instance  string `json:"instance,omitempty"`
	// Draining: it is checkpointing its jobs to stop.
	Draining bool `json:"draining,omitempty"`
	// Devices are the answering node's devices, as last probed.
	Devices []DeviceInfo `json:"devices,omitempty"`
}

// RestartReply answers PathRestart.
type RestartReply struct {
	Node     string `json:"node"`
	Instance string `json:"instance"` // the process that will stop
}

// Health summarises whether the cluster can make progress.
type Health struct {
	Healthy bool `json:"healthy"`
	// FailureTolerance is how many more voters may fail before the
	// cluster loses its quorum.
	FailureTolerance int    `json:"failure_tolerance"`
	Reason           string `json:"reason,omitempty"`
}

// SubmitJobRequest is POST /v1/jobs.
type SubmitJobRequest struct {
	Name string          `json:"name"`
	Spec json.RawMessage `json:"spec,omitempty"`
}

// Job is a job as the API shows it.
type Job struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	State       string `json:"state"`
	SubmittedAt int64  `json:"submitted_at"`
}

// JobsResponse answers GET /v1/jobs.
type JobsResponse struct {
	Jobs []Job `json:"jobs"`
}

// ErrorBody is every error response's body.
type ErrorBody struct {
	Error string `json:"error"`
}
