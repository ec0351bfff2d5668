package jobspec

import (
	"errors"
	"testing"
)

// TestMemoryPlan: the seed's 176B layout as flags give it (the numbers are
// trainer/memplan's TestSeed176B), before and after the data-parallel size
// is resolved.
func TestMemoryPlan(t *testing.T) {
	s := Default()
	for _, kv := range [][2]string{{"model-preset", "bloom"}, {"tensor-model-parallel-size", "8"},
		{"pipeline-model-parallel-size", "12"}, {"partition-layers", "6,6,6,6,6,6,6,6,6,6,6,4"},
		{"micro-batch-size", "2"}, {"global-batch-size", "2048"}, {"seq-length", "2048"}, {"bf16", "true"},
		{"checkpoint-activations", "true"}, {"train-iters", "10"}} {
		if err := s.Set(kv[0], kv[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	p, err := s.MemoryPlan()
	if err != nil {
		t.Fatal(err)
	}
	if p.DP != 1 || len(p.Stages) != 12 || p.Stages[0].Params != 2299885056 || p.Stages[0].InFlight != 12 ||
		p.PerRank(0).Activations != 22122856448 {
		t.Errorf("plan %+v", p.Stages[0])
	}
	if err := s.ResolveLayout(96 * 4); err != nil {
		t.Fatal(err)
	}
	if p, err = s.MemoryPlan(); err != nil || p.DP != 4 || p.Ranks() != 384 || p.PerRank(383) != p.Stages[11].Rank {
		t.Errorf("DP 4: %v %+v", err, p)
	}
	s.TensorParallel = 3
	if _, err := s.MemoryPlan(); !errors.Is(err, ErrInvalid) {
		t.Errorf("TP 3: %v, want ErrInvalid", err)
	}
}
