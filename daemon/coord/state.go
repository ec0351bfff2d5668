package coord

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
)

// State is the replicated state. It is not safe for concurrent use: the
// daemon serialises Apply and guards reads.
type State struct {
	ClusterID string             `json:"cluster_id,omitempty"`
	Members   map[string]*Member `json:"members"`
	Jobs      map[string]*Job    `json:"jobs"`
	// Index is the Raft index of the last command applied.
	Index uint64 `json:"index"`
}

// NewState returns an empty state.
func NewState() *State {
	return &State{Members: map[string]*Member{}, Jobs: map[string]*Job{}}
}

// Result is what Apply returns: Err is a deterministic rejection (the same on
// every replica), never a reason to stop the replica.
type Result struct {
	Err error
}

// Apply applies cmd, the command at Raft log index. A rejected command
// leaves the state unchanged except for Index.
func (s *State) Apply(index uint64, cmd Command) Result {
	if index > s.Index {
		s.Index = index
	}
	if err := cmd.Validate(); err != nil {
		return Result{Err: err}
	}
	return Result{Err: s.apply(unptr(cmd))}
}

func (s *State) apply(cmd Command) error {
	switch c := cmd.(type) {
	case SetCluster:
		return s.setCluster(c)
	case UpsertMember:
		return s.upsertMember(c)
	case RemoveMember:
		return s.removeMember(c)
	case SubmitJob:
		return s.submitJob(c)
	case SetJobState:
		return s.setJobState(c)
	case StartAttempt:
		return s.startAttempt(c)
	case EndAttempt:
		return s.endAttempt(c)
	case CommitCheckpoint:
		return s.commitCheckpoint(c)
	case AppendHistory:
		return s.appendHistory(c)
	case RetireCheckpoints:
		return s.retireCheckpoints(c)
	}
	return fmt.Errorf("%w: unknown command %T", ErrBadCommand, cmd)
}

// unptr turns the pointers Decode returns into the values Apply switches on.
func unptr(cmd Command) Command {
	switch c := cmd.(type) {
	case *SetCluster:
		return *c
	case *UpsertMember:
		return *c
	case *RemoveMember:
		return *c
	case *SubmitJob:
		return *c
	case *SetJobState:
		return *c
	case *StartAttempt:
		return *c
	case *EndAttempt:
		return *c
	case *CommitCheckpoint:
		return *c
	case *AppendHistory:
		return *c
	case *RetireCheckpoints:
		return *c
	}
	return cmd
}

func (s *State) setCluster(c SetCluster) error {
	if s.ClusterID != "" && s.ClusterID != c.ID {
		return fmt.Errorf("%w: it is %s, not %s", ErrClusterIDChange, s.ClusterID, c.ID)
	}
	s.ClusterID = c.ID
	return nil
}

func (s *State) upsertMember(c UpsertMember) error {
	m := c.Member
	if old, ok := s.Members[m.Name]; ok {
		m.Since = old.Since
	} else {
		m.Since = s.Index
	}
	s.Members[m.Name] = &m
	return nil
}

func (s *State) removeMember(c RemoveMember) error {
	if _, ok := s.Members[c.Name]; !ok {
		return fmt.Errorf("%w: member %s", ErrNotFound, c.Name)
	}
	delete(s.Members, c.Name)
	return nil
}

func (s *State) job(id string) (*Job, error) {
	j, ok := s.Jobs[id]
	if !ok {
		return nil, fmt.Errorf("%w: job %s", ErrNotFound, id)
	}
	return j, nil
}

func (s *State) submitJob(c SubmitJob) error {
	if _, ok := s.Jobs[c.ID]; ok {
		return fmt.Errorf("%w: job %s", ErrExists, c.ID)
	}
	var spec json.RawMessage
	if len(c.Spec) > 0 {
		var buf bytes.Buffer
		if err := json.Compact(&buf, c.Spec); err != nil {
			return fmt.Errorf("%w: job %s spec: %v", ErrBadCommand, c.ID, err)
		}
		spec = buf.Bytes()
	}
	s.Jobs[c.ID] = &Job{ID: c.ID, Name: c.Name, Spec: spec, State: JobPending, SubmittedAt: c.At}
	return nil
}

func (s *State) move(j *Job, to JobState, reason string) error {
	if !j.State.CanMove(to) {
		return fmt.Errorf("%w: job %s from %v to %v", ErrBadTransition, j.ID, j.State, to)
	}
	j.State, j.Reason = to, reason
	return nil
}

func (s *State) setJobState(c SetJobState) error {
	j, err := s.job(c.ID)
	if err != nil {
		return err
	}
	if c.State == JobRunning {
		return fmt.Errorf("%w: job %s runs through StartAttempt, not SetJobState", ErrBadTransition, j.ID)
	}
	return s.move(j, c.State, c.Reason)
}

func (s *State) startAttempt(c StartAttempt) error {
	j, err := s.job(c.ID)
	if err != nil {
		return err
	}
	if err := s.move(j, JobRunning, ""); err != nil {
		return err
	}
	p := c.Plan.clone()
	j.Plan = p
	j.Attempts = append(j.Attempts, Attempt{N: len(j.Attempts) + 1, Plan: *p.clone(), StartedAt: c.At, FromStep: c.FromStep})
	return nil
}

func (s *State) endAttempt(c EndAttempt) error {
	j, err := s.job(c.ID)
	if err != nil {
		return err
	}
	if j.State != JobRunning || len(j.Attempts) == 0 {
		return fmt.Errorf("%w: job %s has no running attempt (it is %v)", ErrBadTransition, j.ID, j.State)
	}
	if err := s.move(j, c.Next, c.Cause); err != nil {
		return err
	}
	a := &j.Attempts[len(j.Attempts)-1]
	a.EndedAt, a.Cause, a.StepsLost, a.LastStep, a.Planned = c.At, c.Cause, c.StepsLost, c.LastStep, c.Planned
	if len(c.Result) > 0 {
		j.Result = c.Result
	}
	return nil
}

func (s *State) commitCheckpoint(c CommitCheckpoint) error {
	j, err := s.job(c.ID)
	if err != nil {
		return err
	}
	if n := len(j.Checkpoints); n > 0 && j.Checkpoints[n-1].Step >= c.Checkpoint.Step {
		return fmt.Errorf("%w: job %s step %d, last committed %d", ErrStaleCheckpoint, j.ID, c.Checkpoint.Step, j.Checkpoints[n-1].Step)
	}
	j.Checkpoints = append(j.Checkpoints, c.Checkpoint)
	return nil
}

// LatestCheckpoint returns the job's last committed checkpoint.
func (s *State) LatestCheckpoint(id string) (Checkpoint, bool) {
	j, ok := s.Jobs[id]
	if !ok || len(j.Checkpoints) == 0 {
		return Checkpoint{}, false
	}
	return j.Checkpoints[len(j.Checkpoints)-1], true
}

// MemberNames returns the registered members' names, sorted.
func (s *State) MemberNames() []string {
	names := make([]string, 0, len(s.Members))
	for n := range s.Members {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Clone returns a deep copy, for readers outside the apply loop.
func (s *State) Clone() *State {
	t := &State{ClusterID: s.ClusterID, Index: s.Index,
		Members: make(map[string]*Member, len(s.Members)), Jobs: make(map[string]*Job, len(s.Jobs))}
	for k, m := range s.Members {
		c := *m
		t.Members[k] = &c
	}
	for k, j := range s.Jobs {
		t.Jobs[k] = j.clone()
	}
	return t
}
