package coord

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// busyState builds a state with one of everything, through Apply.
func busyState(t *testing.T) *State {
	t.Helper()
	s := NewState()
	cmds := []Command{
		SetCluster{ID: "c1"},
		UpsertMember{Member{Name: "n1", RaftAddr: "a:1", APIAddr: "a:1", QUICAddr: "a:2", Devices: "npu:0-7", Version: "v1"}},
		UpsertMember{Member{Name: "n2", RaftAddr: "b:1"}},
		SubmitJob{ID: "j1", Name: "pretrain", Spec: []byte(`{"tp":2}`), At: 1},
		SubmitJob{ID: "j2", At: 2},
		StartAttempt{ID: "j1", Plan: plan2(), At: 3},
		CommitCheckpoint{ID: "j1", Checkpoint: Checkpoint{Step: 100, Dir: "/ck/100", Manifest: sha, CommittedAt: 4}},
		EndAttempt{ID: "j1", Cause: "n2 dead", StepsLost: 7, Next: JobRecovering, At: 5},
	}
	for i, c := range cmds {
		if r := s.Apply(uint64(i+1), c); r.Err != nil {
			t.Fatalf("%T: %v", c, r.Err)
		}
	}
	return s
}

func TestSnapshotRoundTrip(t *testing.T) {
	for _, s := range []*State{NewState(), busyState(t)} {
		b, err := s.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		r, err := Restore(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(s, r) {
			t.Errorf("restored state differs:\n got %+v\nwant %+v", r, s)
		}
		b2, _ := r.Snapshot()
		if !bytes.Equal(b, b2) {
			t.Errorf("snapshot of the restored state differs")
		}
		if c := s.Clone(); !reflect.DeepEqual(s, c) {
			t.Errorf("clone differs")
		}
	}
}

// TestReplayEqualsSnapshot: applying the same log twice gives byte-equal snapshots.
func TestReplayEqualsSnapshot(t *testing.T) {
	a, _ := busyState(t).Snapshot()
	b, _ := busyState(t).Snapshot()
	if !bytes.Equal(a, b) {
		t.Fatal("two replays of one log disagree")
	}
}

func TestCloneIsDeep(t *testing.T) {
	s := busyState(t)
	c := s.Clone()
	c.Jobs["j1"].Attempts[0].Plan.Ranks[0].Node = "changed"
	c.Members["n1"].Devices = "changed"
	if s.Jobs["j1"].Attempts[0].Plan.Ranks[0].Node == "changed" || s.Members["n1"].Devices == "changed" {
		t.Fatal("clone shares memory with the original")
	}
}

func TestRestoreRejects(t *testing.T) {
	for _, b := range []string{
		"",
		"not a snapshot",
		snapshotMagic + "{",
		snapshotMagic + `{"members":{"a":{"name":"b"}}}`,
		snapshotMagic + `{"jobs":{"a":null}}`,
		snapshotMagic + `{"surprise":1}`,
		"bloom-coord-snapshot 5\n{}",
	} {
		if _, err := Restore([]byte(b)); !errors.Is(err, ErrBadSnapshot) {
			t.Errorf("Restore(%q) = %v, want ErrBadSnapshot", b, err)
		}
	}
}

// TestSnapshotVersions: a state without version-2 fields is written as
// version 1 (an older bloomd restores it); one with Attempt.LastStep as
// version 2; both restore.
func TestSnapshotVersions(t *testing.T) {
	s := busyState(t)
	b, _ := s.Snapshot()
	if !bytes.HasPrefix(b, []byte(snapshotMagic)) {
		t.Errorf("header %q, want version 1", b[:len(snapshotMagic)])
	}
	s2 := busyState(t)
	secondAttempt(t, s2)
	b2, _ := s2.Snapshot()
	if !bytes.HasPrefix(b2, []byte(snapshotMagic2)) {
		t.Errorf("header %q, want version 2", b2[:len(snapshotMagic2)])
	}
	r, err := Restore(b2)
	if err != nil || !reflect.DeepEqual(r, s2) {
		t.Errorf("restore version 2: %v", err)
	}
}

// secondAttempt runs and ends a second attempt of j1 with a last step.
func secondAttempt(t *testing.T, s *State) {
	t.Helper()
	for i, c := range []Command{
		StartAttempt{ID: "j1", Plan: plan2(), FromStep: 100, At: 6},
		EndAttempt{ID: "j1", Cause: "rank 1 on n2: worker killed", StepsLost: 3, LastStep: 103, Next: JobRecovering, At: 7},
	} {
		if r := s.Apply(uint64(100+i), c); r.Err != nil {
			t.Fatalf("%T: %v", c, r.Err)
		}
	}
}
