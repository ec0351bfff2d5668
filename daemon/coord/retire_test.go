package coord

import (
	"errors"
	"testing"
)

// TestRetireCheckpoints: retention forgets old checkpoints but never the
// newest; an unusable newest one goes, and the job's newest is then the
// one before it, from which a later commit continues.
func TestRetireCheckpoints(t *testing.T) {
	s := NewState()
	if r := s.Apply(1, SubmitJob{ID: "j", Name: "j", At: 1}); r.Err != nil {
		t.Fatal(r.Err)
	}
	for i, step := range []int64{10, 20, 30} {
		if r := s.Apply(uint64(2+i), CommitCheckpoint{ID: "j", Checkpoint: Checkpoint{Step: step, Dir: "d", Manifest: sha}}); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	if r := s.Apply(5, RetireCheckpoints{ID: "j", Steps: []int64{10, 30}}); !errors.Is(r.Err, ErrRetireNewest) {
		t.Fatalf("retiring the newest: %v", r.Err)
	}
	if r := s.Apply(6, RetireCheckpoints{ID: "j", Steps: []int64{10}}); r.Err != nil {
		t.Fatal(r.Err)
	}
	if r := s.Apply(7, RetireCheckpoints{ID: "j", Steps: []int64{30}, Unusable: true, Reason: "every copy of a shard fails its SHA-256"}); r.Err != nil {
		t.Fatal(r.Err)
	}
	if c, ok := s.LatestCheckpoint("j"); !ok || c.Step != 20 || len(s.Jobs["j"].Checkpoints) != 1 {
		t.Fatalf("after retiring: %+v", s.Jobs["j"].Checkpoints)
	}
	if r := s.Apply(8, CommitCheckpoint{ID: "j", Checkpoint: Checkpoint{Step: 30, Dir: "d", Manifest: sha}}); r.Err != nil {
		t.Fatalf("step 30 again after its unusable copy was retired: %v", r.Err)
	}
	if r := s.Apply(9, RetireCheckpoints{ID: "nope", Steps: []int64{1}}); !errors.Is(r.Err, ErrNotFound) {
		t.Fatalf("unknown job: %v", r.Err)
	}
	if err := (RetireCheckpoints{ID: "j"}).Validate(); err == nil {
		t.Fatal("no steps accepted")
	}
}
