package coord

import (
	"errors"
	"strings"
	"testing"
)

func plan2() Plan {
	return Plan{TP: 2, PP: 1, DP: 1, Ranks: []Rank{{0, "n1", 0}, {1, "n1", 1}}}
}

var sha = strings.Repeat("ab", 32)

func TestApply(t *testing.T) {
	type step struct {
		cmd     Command
		wantErr error
	}
	member := Member{Name: "n1", RaftAddr: "127.0.0.1:1", APIAddr: "127.0.0.1:1", Devices: "cpu:2", Version: "dev"}
	tests := []struct {
		name  string
		steps []step
		check func(t *testing.T, s *State)
	}{
		{"cluster id set once", []step{
			{SetCluster{ID: "c1"}, nil},
			{SetCluster{ID: "c1"}, nil},
			{SetCluster{ID: "c2"}, ErrClusterIDChange},
		}, func(t *testing.T, s *State) {
			if s.ClusterID != "c1" {
				t.Errorf("cluster id %q", s.ClusterID)
			}
		}},
		{"members", []step{
			{UpsertMember{member}, nil},
			{UpsertMember{Member{Name: "n1", RaftAddr: "127.0.0.1:2"}}, nil},
			{RemoveMember{"n2"}, ErrNotFound},
			{UpsertMember{Member{Name: "bad name", RaftAddr: "x"}}, ErrBadCommand},
			{UpsertMember{Member{Name: "n2"}}, ErrBadCommand},
		}, func(t *testing.T, s *State) {
			m := s.Members["n1"]
			if m == nil || m.RaftAddr != "127.0.0.1:2" || m.Since != 1 {
				t.Errorf("member %+v, want updated address and Since from the first upsert", m)
			}
		}},
		{"job life", []step{
			{SubmitJob{ID: "j1", Name: "pretrain", Spec: []byte(`{ "a" : 1 }`), At: 5}, nil},
			{SubmitJob{ID: "j1", Name: "again"}, ErrExists},
			{SetJobState{ID: "j1", State: JobRunning}, ErrBadTransition},
			{EndAttempt{ID: "j1", Cause: "x", Next: JobRecovering}, ErrBadTransition},
			{StartAttempt{ID: "j1", Plan: plan2(), At: 6}, nil},
			{CommitCheckpoint{ID: "j1", Checkpoint: Checkpoint{Step: 10, Dir: "d10", Manifest: sha}}, nil},
			{CommitCheckpoint{ID: "j1", Checkpoint: Checkpoint{Step: 10, Dir: "d10", Manifest: sha}}, ErrStaleCheckpoint},
			{EndAttempt{ID: "j1", Cause: "node n1 dead", StepsLost: 3, Next: JobRecovering, At: 7}, nil},
			{StartAttempt{ID: "j1", Plan: plan2(), FromStep: 10, At: 8}, nil},
			{EndAttempt{ID: "j1", Next: JobSucceeded, At: 9}, nil},
			{SetJobState{ID: "j1", State: JobCancelled}, ErrBadTransition},
			{SetJobState{ID: "nope", State: JobCancelled}, ErrNotFound},
		}, func(t *testing.T, s *State) {
			j := s.Jobs["j1"]
			if j.State != JobSucceeded || len(j.Attempts) != 2 || string(j.Spec) != `{"a":1}` {
				t.Fatalf("job %+v", j)
			}
			if a := j.Attempts[0]; a.N != 1 || a.Cause != "node n1 dead" || a.StepsLost != 3 || a.EndedAt != 7 {
				t.Errorf("attempt 1 %+v", a)
			}
			if a := j.Attempts[1]; a.N != 2 || a.FromStep != 10 {
				t.Errorf("attempt 2 %+v", a)
			}
			if c, ok := s.LatestCheckpoint("j1"); !ok || c.Step != 10 {
				t.Errorf("latest checkpoint %+v %v", c, ok)
			}
		}},
		{"cancel pending", []step{
			{SubmitJob{ID: "j2"}, nil},
			{SetJobState{ID: "j2", State: JobCancelled, Reason: "user"}, nil},
		}, func(t *testing.T, s *State) {
			if j := s.Jobs["j2"]; j.State != JobCancelled || j.Reason != "user" {
				t.Errorf("job %+v", j)
			}
		}},
		{"bad plans", []step{
			{SubmitJob{ID: "j3"}, nil},
			{StartAttempt{ID: "j3", Plan: Plan{TP: 2, PP: 1, DP: 1, Ranks: []Rank{{0, "n1", 0}}}}, ErrBadCommand},
			{StartAttempt{ID: "j3", Plan: Plan{TP: 2, PP: 1, DP: 1, Ranks: []Rank{{0, "n1", 0}, {0, "n1", 1}}}}, ErrBadCommand},
			{StartAttempt{ID: "j3", Plan: Plan{TP: 2, PP: 1, DP: 1, Ranks: []Rank{{0, "n1", 0}, {1, "n1", 0}}}}, ErrBadCommand},
			{StartAttempt{ID: "j3", Plan: Plan{TP: 0, PP: 1, DP: 1}}, ErrBadCommand},
		}, func(t *testing.T, s *State) {
			if j := s.Jobs["j3"]; j.State != JobPending || len(j.Attempts) != 0 {
				t.Errorf("rejected commands changed the job: %+v", j)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewState()
			for i, st := range tt.steps {
				res := s.Apply(uint64(i+1), st.cmd)
				if !errors.Is(res.Err, st.wantErr) || (st.wantErr == nil) != (res.Err == nil) {
					t.Fatalf("step %d %T: err %v, want %v", i, st.cmd, res.Err, st.wantErr)
				}
			}
			if s.Index != uint64(len(tt.steps)) {
				t.Errorf("Index %d, want %d", s.Index, len(tt.steps))
			}
			tt.check(t, s)
		})
	}
}

func TestTransitions(t *testing.T) {
	all := []JobState{JobPending, JobRunning, JobRecovering, JobSucceeded, JobFailed, JobCancelled}
	for _, s := range all {
		for _, u := range all {
			if s.Terminal() && s.CanMove(u) {
				t.Errorf("terminal %v may move to %v", s, u)
			}
			if s == u && s.CanMove(u) {
				t.Errorf("%v may move to itself", s)
			}
		}
	}
}
