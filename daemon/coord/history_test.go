package coord

import "testing"

// TestHistory: points append in (attempt, step) order, repeats (a new
// leader sending again) are dropped, a later attempt's earlier steps are
// kept, the history stays bounded with its newest half whole, and it
// survives a snapshot.
func TestHistory(t *testing.T) {
	s := NewState()
	if r := s.Apply(1, SubmitJob{ID: "j", Name: "j", At: 1}); r.Err != nil {
		t.Fatal(r.Err)
	}
	pts := func(a int, from, to int64) []HistoryPoint {
		var p []HistoryPoint
		for st := from; st <= to; st++ {
			p = append(p, HistoryPoint{Attempt: a, Step: st, Loss: float64(st)})
		}
		return p
	}
	for _, c := range []AppendHistory{{"j", pts(1, 1, 10)}, {"j", pts(1, 5, 12)}, {"j", pts(2, 9, 11)}} {
		b, err := Encode(c)
		if err != nil || b[0] != 5 {
			t.Fatalf("encode: %v (version %d)", err, b[0])
		}
		cmd, err := Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if r := s.Apply(2, cmd); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	h := s.Jobs["j"].History
	if len(h) != 15 || h[11].Step != 12 || h[12].Attempt != 2 || h[12].Step != 9 {
		t.Fatalf("history %+v", h)
	}
	if err := (AppendHistory{ID: "j", Points: []HistoryPoint{{Attempt: 1, Step: 3}, {Attempt: 1, Step: 2}}}).Validate(); err == nil {
		t.Error("points out of order were accepted")
	}
	for a := 3; a < 3+40; a++ { // 10240 points
		s.Apply(3, AppendHistory{ID: "j", Points: pts(a, 1, MaxHistoryBatch)})
	}
	s.Apply(4, AppendHistory{ID: "j", Points: pts(1000, 1, 10)})
	h = s.Jobs["j"].History
	if len(h) > MaxHistory || len(h) < MaxHistory/2 || h[len(h)-1].Attempt != 1000 || h[len(h)-1].Step != 10 {
		t.Fatalf("after thinning: %d points, last %+v", len(h), h[len(h)-1])
	}
	b, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	r, err := Restore(b)
	if err != nil || len(r.Jobs["j"].History) != len(h) || string(b[:23]) != "bloom-coord-snapshot 4\n" {
		t.Fatalf("restore: %v, %d points, header %q", err, len(r.Jobs["j"].History), b[:23])
	}
}
