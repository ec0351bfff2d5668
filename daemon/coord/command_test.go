package coord

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

func allCommands() []Command {
	return []Command{
		SetCluster{ID: "c1"},
		UpsertMember{Member{Name: "n1", RaftAddr: "a:1", Devices: "cpu:4"}},
		RemoveMember{Name: "n1"},
		SubmitJob{ID: "j1", Name: "x", Spec: []byte(`{"a":[1,2]}`), At: 9},
		SetJobState{ID: "j1", State: JobFailed, Reason: "bad spec"},
		StartAttempt{ID: "j1", Plan: plan2(), FromStep: 3, At: 4},
		EndAttempt{ID: "j1", Cause: "c", StepsLost: 2, Next: JobRecovering, At: 5},
		EndAttempt{ID: "j1", Cause: "c", StepsLost: 2, LastStep: 12, Next: JobRecovering, At: 5}, // version 2
		CommitCheckpoint{ID: "j1", Checkpoint: Checkpoint{Step: 1, Dir: "d", Manifest: sha}},
		EndAttempt{ID: "j1", Cause: "stopped", LastStep: 12, Planned: true, Next: JobRecovering, At: 5}, // version 3
		EndAttempt{ID: "j1", Next: JobSucceeded, At: 6, Result: json.RawMessage(`{"tokens":[[5,6]]}`)},  // version 4
		CommitCheckpoint{ID: "j1", Checkpoint: Checkpoint{Step: 2, Dir: "d", Manifest: sha, // version 3
			Files: []CheckpointFile{{Name: "mp_rank_00_000.safetensors", SHA256: sha, Bytes: 10, Nodes: []string{"n1", "n2"}}}}},
		RetireCheckpoints{ID: "j1", Steps: []int64{1}},                                    // version 6
		RetireCheckpoints{ID: "j1", Steps: []int64{2}, Unusable: true, Reason: "corrupt"}, // version 6
	}
}

func TestEncodeDecode(t *testing.T) {
	for _, c := range allCommands() {
		b, err := Encode(c)
		if err != nil {
			t.Fatalf("%T: %v", c, err)
		}
		if b[0] != versionOf(c) || Op(b[1]) != c.Op() {
			t.Errorf("%T: header % x", c, b[:2])
		}
		d, err := Decode(b)
		if err != nil {
			t.Fatalf("%T: %v", c, err)
		}
		if !reflect.DeepEqual(unptr(d), c) {
			t.Errorf("round trip %T: got %+v want %+v", c, unptr(d), c)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	tests := []struct {
		in   string
		want error
	}{
		{"", ErrBadCommand},
		{"\x01", ErrBadCommand},
		{"\x07\x01{}", ErrUnknownVersion},
		{"\x00\x01{}", ErrUnknownVersion},
		{"\x01\x07{\"id\":\"j\",\"next\":\"failed\",\"last_step\":3}", ErrBadCommand}, // a version-2 field
		{"\x01\xff{}", ErrBadCommand},
		{"\x01\x01", ErrBadCommand},
		{"\x01\x01{\"id\":\"c\",\"extra\":1}", ErrBadCommand},
		{"\x01\x01{\"id\":\"c\"} {}", ErrBadCommand},
		{"\x01\x01{\"id\":\"\"}", ErrBadCommand},
		{"\x01\x04{\"id\":\"j\",\"spec\":\"x\"}", ErrBadCommand},
		{"\x01\x05{\"id\":\"j\",\"state\":\"sleeping\"}", ErrBadCommand},
		{"\x01\x07{\"id\":\"j\",\"next\":\"running\"}", ErrBadCommand},
		{"\x01\x08{\"id\":\"j\",\"checkpoint\":{\"step\":1,\"dir\":\"d\",\"manifest\":\"x\"}}", ErrBadCommand},
	}
	for _, tt := range tests {
		if _, err := Decode([]byte(tt.in)); !errors.Is(err, tt.want) {
			t.Errorf("Decode(%q) = %v, want %v", tt.in, err, tt.want)
		}
	}
}

func TestEncodeValidates(t *testing.T) {
	if _, err := Encode(SubmitJob{ID: "has space"}); !errors.Is(err, ErrBadCommand) {
		t.Fatalf("Encode of an invalid command: %v", err)
	}
}

// FuzzDecode: Decode never panics, and whatever it accepts re-encodes to
// something it decodes to the same command and applies without panicking.
func FuzzDecode(f *testing.F) {
	for _, c := range allCommands() {
		b, _ := Encode(c)
		f.Add(b)
	}
	f.Add([]byte("\x01\x06{\"id\":\"j\",\"plan\":{\"tp\":1000000,\"pp\":1000000,\"dp\":1000000}}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Decode(b)
		if err != nil {
			return
		}
		b2, err := Encode(unptr(c))
		if err != nil {
			t.Fatalf("decoded %T does not re-encode: %v", c, err)
		}
		c2, err := Decode(b2)
		if err != nil || !reflect.DeepEqual(unptr(c), unptr(c2)) {
			t.Fatalf("re-encoded command differs: %v", err)
		}
		s := busyState(t)
		s.Apply(100, c)
		if _, err := s.Snapshot(); err != nil {
			t.Fatal(err)
		}
	})
}
