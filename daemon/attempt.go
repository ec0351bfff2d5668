package daemon

import (
	"bloom/api"
	"bloom/daemon/coord"
)

// lastReported is the last step any rank of a live attempt reported (0
// when none did). Call with j.mu held.
func lastReported(lj *liveJob) int64 {
	var last int64
	for _, rr := range lj.ranks {
		if rr.Progress != nil && rr.Progress.Step > last {
			last = rr.Progress.Step
		}
	}
	return last
}

// apiAttempt is what `bloomctl job` shows of an attempt: when it ran, why
// it ended, the checkpoint it resumed from and the steps it lost.
func apiAttempt(job *coord.Job, a coord.Attempt) api.Attempt {
	out := api.Attempt{N: a.N, StartedAt: a.StartedAt, EndedAt: a.EndedAt, FromStep: a.FromStep,
		Cause: a.Cause, StepsLost: a.StepsLost, LastStep: a.LastStep, Planned: a.Planned}
	if a.FromStep > 0 {
		for _, k := range job.Checkpoints {
			if k.Step == a.FromStep {
				out.FromDir = k.Dir
			}
		}
	}
	return out
}
