package coord

import (
	"encoding/json"
	"fmt"
)

// JobState is where a job is in its life.
type JobState uint8

// The job states. Terminal states are Succeeded, Failed and Cancelled.
const (
	JobPending JobState = iota + 1
	JobRunning
	JobRecovering
	JobSucceeded
	JobFailed
	JobCancelled
)

var jobStateNames = map[JobState]string{
	JobPending: "pending", JobRunning: "running", JobRecovering: "recovering",
	JobSucceeded: "succeeded", JobFailed: "failed", JobCancelled: "cancelled",
}

func (s JobState) String() string {
	if n, ok := jobStateNames[s]; ok {
		return n
	}
	return fmt.Sprintf("JobState(%d)", uint8(s))
}

// Terminal reports whether no transition leaves s.
func (s JobState) Terminal() bool {
	return s == JobSucceeded || s == JobFailed || s == JobCancelled
}

// transitions lists the allowed moves; anything else is ErrBadTransition.
var transitions = map[JobState][]JobState{
	JobPending:    {JobRunning, JobFailed, JobCancelled},
	JobRunning:    {JobRecovering, JobSucceeded, JobFailed, JobCancelled},
	JobRecovering: {JobRunning, JobFailed, JobCancelled},
}

// CanMove reports whether a job may go from s to t.
func (s JobState) CanMove(t JobState) bool {
	for _, u := range transitions[s] {
		if u == t {
			return true
		}
	}
	return false
}

// MarshalJSON writes the state's name.
func (s JobState) MarshalJSON() ([]byte, error) {
	n, ok := jobStateNames[s]
	if !ok {
		return nil, fmt.Errorf("coord: unknown job state %d", uint8(s))
	}
	return json.Marshal(n)
}

// UnmarshalJSON reads a state's name.
func (s *JobState) UnmarshalJSON(b []byte) error {
	var n string
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("%w: job state: %v", ErrBadCommand, err)
	}
	for k, v := range jobStateNames {
		if v == n {
			*s = k
			return nil
		}
	}
	return fmt.Errorf("%w: unknown job state %q", ErrBadCommand, n)
}
