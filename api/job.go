package api

import (
	"encoding/json"
	"net/url"
)

// Job endpoint paths, under PathJobs; {id} is a job id.
//
//	GET  /v1/jobs                       JobInfoList (a superset of JobsResponse)
//	POST /v1/jobs                       SubmitJobRequest → JobInfo
//	GET  /v1/jobs/{id}                  JobInfo
//	POST /v1/jobs/{id}/cancel           JobInfo
//	GET  /v1/jobs/{id}/checkpoints      CheckpointList
//	GET  /v1/jobs/{id}/checkpoints/{step}/files/{name}   raw bytes of a file the answering node holds
//	GET  /v1/jobs/{id}/history          JobHistory (every step's figures, in Raft)
//	GET  /v1/jobs/{id}/logs?rank=&attempt=&offset=&follow=   raw log bytes
//	POST /v1/internal/report            NodeReport → ReportReply (node → leader)
//	GET  /v1/internal/rendezvous?job=&attempt=&key=          raw bytes (node → node)
//	POST /v1/internal/logcopy?job=&attempt=&rank=&offset=&exited=   log bytes appended to a copy (node → node)
//	GET  /v1/internal/logcopy?job=&attempt=&rank=&offset=    raw bytes of a copy this node holds (node → node)
const (
	PathJobPattern         = "/v1/jobs/{id}"
	PathJobCancelPattern   = "/v1/jobs/{id}/cancel"
	PathJobCkptsPattern    = "/v1/jobs/{id}/checkpoints"
	PathJobCkptFilePattern = "/v1/jobs/{id}/checkpoints/{step}/files/{name}"
	PathJobHistoryPattern  = "/v1/jobs/{id}/history"
	PathJobLogsPattern     = "/v1/jobs/{id}/logs"
	PathInternalReport     = "/v1/internal/report"
	PathInternalRendezvous = "/v1/internal/rendezvous"
	PathInternalLogCopy    = "/v1/internal/logcopy"
)

// Log response headers: where the next read starts, whether the log is
// complete (the rank's worker has exited: nothing more will come), and
// which attempt's log it is.
const (
	HeaderLogOffset   = "X-Bloom-Log-Offset"
	HeaderLogComplete = "X-Bloom-Log-Complete"
	HeaderLogAttempt  = "X-Bloom-Log-Attempt"
)

// Headers of a log answered from a copy (LogCopy): the node that ran the
// rank is gone, or lost its disk, and another node kept a copy.
const (
	HeaderLogCopyHolder = "X-Bloom-Log-Copy-Holder" // the node that holds the copy
	HeaderLogCopyOf     = "X-Bloom-Log-Copy-Of"     // the node that ran the rank
	HeaderLogCopyStart  = "X-Bloom-Log-Copy-Start"  // the copy's first byte offset
	HeaderLogCopiedAt   = "X-Bloom-Log-Copied-At"   // RFC 3339: when the copy last received bytes
	HeaderLogCopyExited = "X-Bloom-Log-Copy-Exited" // "1": the copy reaches the worker's exit
)

// Job states as the API shows them. Checkpointing is a running job whose
// ranks are writing a checkpoint.
const (
	JobPending       = "pending"
	JobRunning       = "running"
	JobCheckpointing = "checkpointing"
	JobRecovering    = "recovering"
	JobSucceeded     = "succeeded"
	JobFailed        = "failed"
	JobCancelled     = "cancelled"
)

// JobTerminal reports whether a job in state s is over.
func JobTerminal(s string) bool { return s == JobSucceeded || s == JobFailed || s == JobCancelled }

func jobPath(id, suffix string) string { return PathJobs + "/" + url.PathEscape(id) + suffix }

// JobHistory is a job's steps, every attempt's, as its last rank
// reported them and Raft keeps them: the whole run at full resolution up
// to a bound, past which the older half is thinned to every other step.
type JobHistory struct {
	ID     string         `json:"id"`
	Name   string         `json:"name"`
	Points []HistoryPoint `json:"points"`
}

// HistoryPoint is one step of a job's history.
type HistoryPoint struct {
	Attempt      int     `json:"attempt"`
	Step         int64   `json:"step"`
	At           int64   `json:"at"` // unix ms
	Loss         float64 `json:"loss"`
	LR           float64 `json:"lr"`
	GradNorm     float64 `json:"grad_norm"`
	LossScale    float64 `json:"loss_scale,omitempty"`
	SkippedSteps int64   `json:"skipped_steps,omitempty"`
	Consumed     int64   `json:"consumed_samples"`
	TokensPerSec float64 `json:"tokens_per_s"`
	BatchSize    int     `json:"batch_size,omitempty"`
	ValLoss      float64 `json:"val_loss,omitempty"`
	ValPPL       float64 `json:"val_ppl,omitempty"`
	FinalValLoss float64 `json:"final_val_loss,omitempty"` // on the last step: the validation at the end of training
	FinalValPPL  float64 `json:"final_val_ppl,omitempty"`
	Throughput
}

// JobInfo is everything about one job: `bloomctl job ID`.
type JobInfo struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	State       string `json:"state"`
	SubmittedAt int64  `json:"submitted_at"` // unix ms
	Reason      string `json:"reason,omitempty"`
	// Plan is the current (or last) attempt's placement.
	Plan        *Plan           `json:"plan,omitempty"`
	Progress    *JobProgress    `json:"progress,omitempty"`
	Attempts    []Attempt       `json:"attempts,omitempty"`
	Checkpoints []Checkpoint    `json:"checkpoints,omitempty"`
	Spec        json.RawMessage `json:"spec,omitempty"`
	// Result is a generation or evaluation job's answer, once it succeeded
	// (GenerateResult, EvaluateResult).
	Result json.RawMessage `json:"result,omitempty"`
}

// JobInfoList answers GET /v1/jobs.
type JobInfoList struct {
	Jobs []JobInfo `json:"jobs"`
}

// Plan places ranks: rank = pp·(DP·TP) + dp·TP + tp.
type Plan struct {
	TP    int        `json:"tp"`
	PP    int        `json:"pp"`
	DP    int        `json:"dp"`
	Ranks []PlanRank `json:"ranks"`
}

// PlanRank is one rank's place.
type PlanRank struct {
	Rank   int    `json:"rank"`
	Node   string `json:"node"`
	Device string `json:"device"` // "cpu:0", "npu:3"
}

// JobProgress is the running attempt's latest step, as the ranks report it.
type JobProgress struct {
	Attempt      int     `json:"attempt"`
	Step         int64   `json:"step"`
	Steps        int64   `json:"steps"`
	Loss         float64 `json:"loss"`
	LR           float64 `json:"lr"`
	GradNorm     float64 `json:"grad_norm"`
	TokensPerSec float64 `json:"tokens_per_s"`
	Consumed     int64   `json:"consumed_samples"`
	LossScale    float64 `json:"loss_scale,omitempty"`    // --fp16: the latest step's loss scale
	SkippedSteps int64   `json:"skipped_steps,omitempty"` // --fp16: steps skipped for overflow
	Throughput
	// Ranks is how many ranks have reported; Checkpointing a step being saved.
	Ranks         int   `json:"ranks"`
	Checkpointing int64 `json:"checkpointing,omitempty"`
	UpdatedAt     int64 `json:"updated_at"` // unix ms
}

// Line is the latest step as one line.
func (p *JobProgress) Line() string {
	return stepLine(p.Step, p.Steps, p.Loss, p.LR, p.GradNorm, p.TokensPerSec, p.LossScale, p.SkippedSteps, p.Throughput)
}

// Attempt is one run of a job.
type Attempt struct {
	N         int    `json:"n"`
	StartedAt int64  `json:"started_at"`
	EndedAt   int64  `json:"ended_at,omitempty"`
	FromStep  int64  `json:"from_step"`
	Cause     string `json:"cause,omitempty"`
	StepsLost int64  `json:"steps_lost,omitempty"`
	// FromDir is the directory of the checkpoint FromStep names, on the
	// node that answered.
	FromDir string `json:"from_dir,omitempty"`
	// LastStep is the last step a rank reported before the attempt ended;
	// StepsLost = LastStep − the step the next attempt resumed from.
	LastStep int64 `json:"last_step,omitempty"`
	// Planned: it checkpointed and stopped for a node's restart; it is not
	// a failure and does not count against --max-restarts.
	Planned bool `json:"planned,omitempty"`
}

// Checkpoint is a committed checkpoint.
type Checkpoint struct {
	Step int64 `json:"step"`
	// Dir is the step's directory on the node that answered: a checkpoint
	// is named by (job, step) and every node keeps it under its own root.
	Dir         string `json:"dir"`
	Manifest    string `json:"manifest"` // hex SHA-256 of manifest.json
	CommittedAt int64  `json:"committed_at"`
	// Files are the shard files and the nodes holding a verified copy of
	// each, the writer first.
	Files []CheckpointFile `json:"files,omitempty"`
}

// CheckpointFile is one file of a checkpoint and where it lives.
type CheckpointFile struct {
	Name   string   `json:"name"`
	SHA256 string   `json:"sha256"`
	Bytes  int64    `json:"bytes"`
	Nodes  []string `json:"nodes"`
}

// CheckpointList answers GET /v1/jobs/{id}/checkpoints.
type CheckpointList struct {
	Job         string       `json:"job"`
	Checkpoints []Checkpoint `json:"checkpoints"`
}

// GenerateResult is a generate job's answer (JobInfo.Result).
type GenerateResult struct {
	Outputs []GenerateOutput `json:"outputs"`
}

// GenerateOutput is one prompt's continuation.
type GenerateOutput struct {
	Prompt   string    `json:"prompt"`
	Text     string    `json:"text"`     // the new tokens, decoded
	Tokens   []int32   `json:"tokens"`   // the new tokens
	Logprobs []float32 `json:"logprobs"` // each new token's log-probability
}

// EvaluateResult is an evaluate job's answer (JobInfo.Result): the
// accuracy over all questions, per subject for MMLU, and every answer.
type EvaluateResult struct {
	Task      string         `json:"task"`
	Questions int            `json:"questions"`
	Correct   int            `json:"correct"`
	Accuracy  float64        `json:"accuracy"`
	Truncated int            `json:"truncated"` // prompts cut to --seq-length
	Subjects  []SubjectScore `json:"subjects,omitempty"`
	Answers   []string       `json:"answers"` // BoolQ: T or F; MMLU: the first character
}

// SubjectScore is one MMLU subject's accuracy.
type SubjectScore struct {
	Name      string  `json:"name"`
	Questions int     `json:"questions"`
	Correct   int     `json:"correct"`
	Accuracy  float64 `json:"accuracy"`
}
