package coord

import (
	"fmt"
	"slices"
)

// RetireCheckpoints removes committed checkpoints from a job's record
// (version 6). Retention retires old ones, never the newest: the job
// resumes from it. A checkpoint found Unusable (no node holds a copy of
// one of its shards that verifies) is retired even when it is the newest,
// so that the next attempt resumes from the one before. The state forgets
// a retired checkpoint first; nodes delete its files after, seeing it gone.
type RetireCheckpoints struct {
	ID       string  `json:"id"`
	Steps    []int64 `json:"steps"`
	Unusable bool    `json:"unusable,omitempty"`
	Reason   string  `json:"reason,omitempty"`
}

func (RetireCheckpoints) Op() Op { return OpRetireCheckpoints }

func (c RetireCheckpoints) Validate() error {
	if err := checkName("job id", c.ID); err != nil {
		return err
	}
	if len(c.Steps) == 0 || len(c.Steps) > 1<<12 {
		return fmt.Errorf("%w: job %s: %d checkpoints to retire (1 to %d)", ErrBadCommand, c.ID, len(c.Steps), 1<<12)
	}
	return checkText("reason", c.Reason, 4096)
}

func (s *State) retireCheckpoints(c RetireCheckpoints) error {
	j, err := s.job(c.ID)
	if err != nil {
		return err
	}
	n := len(j.Checkpoints)
	if n > 0 && !c.Unusable && slices.Contains(c.Steps, j.Checkpoints[n-1].Step) {
		return fmt.Errorf("%w: job %s: step %d is its newest checkpoint", ErrRetireNewest, c.ID, j.Checkpoints[n-1].Step)
	}
	j.Checkpoints = slices.DeleteFunc(j.Checkpoints, func(k Checkpoint) bool { return slices.Contains(c.Steps, k.Step) })
	if len(j.Checkpoints) == 0 {
		j.Checkpoints = nil // as a job that never committed one
	}
	return nil
}
