package coord

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Version is the newest command encoding this package writes. Decode reads
// it and every older version (MinVersion..Version); a newer one is
// ErrUnknownVersion, so a replica never applies a command it does not
// understand. Encode writes the oldest version that carries the command:
// version 2 only adds fields (EndAttempt.LastStep), so a command without
// them stays version 1 and a version-1 replica still applies it. Version 3
// adds EndAttempt.Planned and Checkpoint.Files, the same way; version 4
// EndAttempt.Result; version 5 the AppendHistory command, version 6
// RetireCheckpoints.
const Version = 6

// MinVersion is the oldest command encoding Decode reads.
const MinVersion = 1

// MaxCommandSize bounds an encoded command (the Raft log is not a blob store).
const MaxCommandSize = 1 << 20

// Op names a command type on the wire. Values are never reused.
type Op uint8

// The commands.
const (
	OpSetCluster        Op = 1
	OpUpsertMember      Op = 2
	OpRemoveMember      Op = 3
	OpSubmitJob         Op = 4
	OpSetJobState       Op = 5
	OpStartAttempt      Op = 6
	OpEndAttempt        Op = 7
	OpCommitCheckpoint  Op = 8
	OpAppendHistory     Op = 9
	OpRetireCheckpoints Op = 10
)

// Command is one change to the State. Encode turns it into log bytes;
// Decode turns them back.
type Command interface {
	Op() Op
	// Validate checks the command alone, before it is proposed and after
	// it is decoded; checks against the state happen in Apply.
	Validate() error
}

// SetCluster names the cluster, once: the first leader proposes it.
type SetCluster struct {
	ID string `json:"id"`
}

// UpsertMember registers a member or updates its addresses and devices.
type UpsertMember struct {
	Member Member `json:"member"`
}

// RemoveMember forgets a member.
type RemoveMember struct {
	Name string `json:"name"`
}

// SubmitJob adds a pending job.
type SubmitJob struct {
	ID   string          `json:"id"`
	Name string          `json:"name"`
	Spec json.RawMessage `json:"spec,omitempty"`
	At   int64           `json:"at"`
}

// SetJobState moves a job to another state.
type SetJobState struct {
	ID     string   `json:"id"`
	State  JobState `json:"state"`
	Reason string   `json:"reason,omitempty"`
}

// StartAttempt starts the next attempt of a job with a plan; the job becomes running.
type StartAttempt struct {
	ID       string `json:"id"`
	Plan     Plan   `json:"plan"`
	FromStep int64  `json:"from_step"`
	At       int64  `json:"at"`
}

// EndAttempt ends the current attempt; the job becomes recovering, or the
// given terminal state.
type EndAttempt struct {
	ID        string   `json:"id"`
	Cause     string   `json:"cause"`
	StepsLost int64    `json:"steps_lost"`
	Next      JobState `json:"next"`
	At        int64    `json:"at"`
	// LastStep is the last step a rank of the attempt reported (version 2).
	LastStep int64 `json:"last_step,omitempty"`
	// Planned: the attempt stopped on request after a checkpoint (a node
	// restarting), not by a failure; it does not count against
	// --max-restarts (version 3).
	Planned bool `json:"planned,omitempty"`
	// Result is what a job that computes an answer (generation,
	// evaluation) answered, kept with the job when it succeeds (version 4;
	// at most MaxResultSize bytes of JSON).
	Result json.RawMessage `json:"result,omitempty"`
}

// MaxResultSize bounds a job's result: answers, not data sets.
const MaxResultSize = 256 << 10

// CommitCheckpoint records a checkpoint whose shards are all durable.
type CommitCheckpoint struct {
	ID         string     `json:"id"`
	Checkpoint Checkpoint `json:"checkpoint"`
}

func (SetCluster) Op() Op       { return OpSetCluster }
func (UpsertMember) Op() Op     { return OpUpsertMember }
func (RemoveMember) Op() Op     { return OpRemoveMember }
func (SubmitJob) Op() Op        { return OpSubmitJob }
func (SetJobState) Op() Op      { return OpSetJobState }
func (StartAttempt) Op() Op     { return OpStartAttempt }
func (EndAttempt) Op() Op       { return OpEndAttempt }
func (CommitCheckpoint) Op() Op { return OpCommitCheckpoint }

// newCommand returns a zero command for op, or nil for an unknown op.
func newCommand(op Op) Command {
	switch op {
	case OpSetCluster:
		return &SetCluster{}
	case OpUpsertMember:
		return &UpsertMember{}
	case OpRemoveMember:
		return &RemoveMember{}
	case OpSubmitJob:
		return &SubmitJob{}
	case OpSetJobState:
		return &SetJobState{}
	case OpStartAttempt:
		return &StartAttempt{}
	case OpEndAttempt:
		return &EndAttempt{}
	case OpCommitCheckpoint:
		return &CommitCheckpoint{}
	case OpAppendHistory:
		return &AppendHistory{}
	case OpRetireCheckpoints:
		return &RetireCheckpoints{}
	}
	return nil
}

// Encode writes cmd as [Version][Op][JSON body]. It validates first, so a
// command that could not be applied never reaches the log.
func Encode(cmd Command) ([]byte, error) {
	if err := cmd.Validate(); err != nil {
		return nil, err
	}
	body, err := json.Marshal(cmd)
	if err != nil {
		return nil, fmt.Errorf("coord: encode %T: %w", cmd, err)
	}
	if len(body)+2 > MaxCommandSize {
		return nil, fmt.Errorf("%w: %T is %d bytes, more than %d", ErrBadCommand, cmd, len(body)+2, MaxCommandSize)
	}
	return append([]byte{versionOf(cmd), byte(cmd.Op())}, body...), nil
}

// versionOf is the oldest encoding that carries every field cmd sets.
func versionOf(cmd Command) byte {
	switch c := cmd.(type) {
	case *EndAttempt:
		return versionOf(*c)
	case *CommitCheckpoint:
		return versionOf(*c)
	case EndAttempt:
		switch {
		case len(c.Result) > 0:
			return 4
		case c.Planned:
			return 3
		case c.LastStep != 0:
			return 2
		}
	case CommitCheckpoint:
		if len(c.Checkpoint.Files) > 0 {
			return 3
		}
	case AppendHistory, *AppendHistory:
		return 5
	case RetireCheckpoints, *RetireCheckpoints:
		return 6
	}
	return 1
}

// Decode reads a command written by Encode. It never panics; bad bytes are
// an error wrapping ErrBadCommand or ErrUnknownVersion. The returned command
// is a pointer to one of this package's command types.
func Decode(b []byte) (Command, error) {
	if len(b) < 2 {
		return nil, fmt.Errorf("%w: %d bytes, want at least 2", ErrBadCommand, len(b))
	}
	if len(b) > MaxCommandSize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrBadCommand, len(b), MaxCommandSize)
	}
	if b[0] < MinVersion || b[0] > Version {
		return nil, fmt.Errorf("%w: %d (this binary reads versions %d to %d: upgrade it before the cluster writes newer commands)", ErrUnknownVersion, b[0], MinVersion, Version)
	}
	cmd := newCommand(Op(b[1]))
	if cmd == nil {
		return nil, fmt.Errorf("%w: unknown op %d", ErrBadCommand, b[1])
	}
	dec := json.NewDecoder(bytes.NewReader(b[2:]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(cmd); err != nil {
		return nil, fmt.Errorf("%w: op %d: %v", ErrBadCommand, b[1], err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: op %d: trailing data after the body", ErrBadCommand, b[1])
	}
	if err := cmd.Validate(); err != nil {
		return nil, err
	}
	if versionOf(cmd) > b[0] {
		return nil, fmt.Errorf("%w: op %d: fields of version %d in a version %d command", ErrBadCommand, b[1], versionOf(cmd), b[0])
	}
	return cmd, nil
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// ValidName reports whether s may name a node or a job: 1–63 letters, digits,
// '.', '_' or '-', starting with a letter or digit.
func ValidName(s string) bool { return nameRE.MatchString(s) }

func checkName(what, s string) error {
	if !ValidName(s) {
		return fmt.Errorf("%w: %s %q is not a valid name (1–63 of A-Z a-z 0-9 . _ -)", ErrBadCommand, what, s)
	}
	return nil
}

// Truncate cuts s to at most n bytes of valid UTF-8: how a proposer fits
// free text (a failure's cause) within a command's limits.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

func checkText(what, s string, max int) error {
	if len(s) > max || !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s is not UTF-8 or longer than %d bytes", ErrBadCommand, what, max)
	}
	return nil
}

func (c SetCluster) Validate() error { return checkName("cluster id", c.ID) }

func (c UpsertMember) Validate() error {
	m := c.Member
	if err := checkName("member name", m.Name); err != nil {
		return err
	}
	for _, f := range []string{m.RaftAddr, m.APIAddr, m.QUICAddr, m.Devices, m.Version} {
		if err := checkText("member field", f, 256); err != nil {
			return err
		}
	}
	if err := checkText("member device_ips", m.DeviceIPs, 512); err != nil {
		return err
	}
	if m.RaftAddr == "" {
		return fmt.Errorf("%w: member %s has no raft address", ErrBadCommand, m.Name)
	}
	return nil
}

func (c RemoveMember) Validate() error { return checkName("member name", c.Name) }

func (c SubmitJob) Validate() error {
	if err := checkName("job id", c.ID); err != nil {
		return err
	}
	if err := checkText("job name", c.Name, 256); err != nil {
		return err
	}
	if len(c.Spec) > 0 && (!json.Valid(c.Spec) || bytes.TrimSpace(c.Spec)[0] != '{') {
		return fmt.Errorf("%w: job %s spec is not a JSON object", ErrBadCommand, c.ID)
	}
	return nil
}

func (c SetJobState) Validate() error {
	if _, ok := jobStateNames[c.State]; !ok {
		return fmt.Errorf("%w: job %s: unknown state %d", ErrBadCommand, c.ID, c.State)
	}
	if err := checkText("reason", c.Reason, 4096); err != nil {
		return err
	}
	return checkName("job id", c.ID)
}

func (c StartAttempt) Validate() error {
	if err := checkName("job id", c.ID); err != nil {
		return err
	}
	if c.FromStep < 0 {
		return fmt.Errorf("%w: job %s: negative from_step", ErrBadCommand, c.ID)
	}
	return c.Plan.Validate()
}

func (c EndAttempt) Validate() error {
	if err := checkName("job id", c.ID); err != nil {
		return err
	}
	if c.Next != JobRecovering && !c.Next.Terminal() {
		return fmt.Errorf("%w: job %s: an attempt ends in recovering or a terminal state, not %v", ErrBadCommand, c.ID, c.Next)
	}
	if c.StepsLost < 0 || c.LastStep < 0 {
		return fmt.Errorf("%w: job %s: negative steps_lost or last_step", ErrBadCommand, c.ID)
	}
	if len(c.Result) > 0 && (len(c.Result) > MaxResultSize || !json.Valid(c.Result) || c.Next != JobSucceeded) {
		return fmt.Errorf("%w: job %s: a result is at most %d bytes of JSON, kept when the job succeeds", ErrBadCommand, c.ID, MaxResultSize)
	}
	return checkText("cause", c.Cause, 4096)
}

func (c CommitCheckpoint) Validate() error {
	if err := checkName("job id", c.ID); err != nil {
		return err
	}
	k := c.Checkpoint
	if k.Step < 0 || k.Dir == "" {
		return fmt.Errorf("%w: job %s: checkpoint needs a step ≥ 0 and a dir", ErrBadCommand, c.ID)
	}
	if len(k.Manifest) != 64 {
		return fmt.Errorf("%w: job %s: checkpoint manifest must be a hex SHA-256", ErrBadCommand, c.ID)
	}
	if len(k.Files) > 1<<16 {
		return fmt.Errorf("%w: job %s: checkpoint of %d files", ErrBadCommand, c.ID, len(k.Files))
	}
	for _, f := range k.Files {
		if err := f.validate(); err != nil {
			return fmt.Errorf("%w: job %s: checkpoint file %q: %v", ErrBadCommand, c.ID, f.Name, err)
		}
	}
	return checkText("checkpoint dir", k.Dir, 4096)
}
