package coord

import "fmt"

// HistoryPoint is one optimizer step of a job as its last rank reported
// it: the figures of its progress line and of the seed's throughput
// table, kept in Raft so they outlive leaders, nodes and rollouts.
type HistoryPoint struct {
	Attempt       int     `json:"a"`
	Step          int64   `json:"s"`
	At            int64   `json:"t"` // unix ms, the rank's clock
	Loss          float64 `json:"loss"`
	LR            float64 `json:"lr"`
	GradNorm      float64 `json:"gn"`
	LossScale     float64 `json:"ls,omitempty"`
	SkippedSteps  int64   `json:"sk,omitempty"`
	Consumed      int64   `json:"c"`
	Batch         int     `json:"b,omitempty"`
	ValLoss       float64 `json:"vl,omitempty"` // validation after this step (--eval-interval)
	ValPPL        float64 `json:"vp,omitempty"`
	FinalValLoss  float64 `json:"fvl,omitempty"` // the validation at the end of training, on the last step
	FinalValPPL   float64 `json:"fvp,omitempty"`
	TokensPerSec  float64 `json:"tps"`
	SamplesPerSec float64 `json:"sps,omitempty"`
	SecPerStep    float64 `json:"spi,omitempty"`
	TFLOPs        float64 `json:"tf,omitempty"`
	MFU           float64 `json:"mfu,omitempty"`
}

// after reports whether p comes after q: a later attempt, or a later step
// of the same attempt.
func (p HistoryPoint) after(q HistoryPoint) bool {
	return p.Attempt > q.Attempt || p.Attempt == q.Attempt && p.Step > q.Step
}

// MaxHistory bounds a job's history: past it, the older half is thinned to
// every other point, so a week-long run keeps its whole curve at
// decreasing resolution and its last MaxHistory/2 steps at full.
const MaxHistory = 4096

// MaxHistoryBatch bounds the points of one AppendHistory.
const MaxHistoryBatch = 256

// AppendHistory adds steps to a job's history; points not after its last
// one (a new leader sending again what the old one sent) are dropped
// (version 5).
type AppendHistory struct {
	ID     string         `json:"id"`
	Points []HistoryPoint `json:"points"`
}

func (AppendHistory) Op() Op { return OpAppendHistory }

func (c AppendHistory) Validate() error {
	if err := checkName("job id", c.ID); err != nil {
		return err
	}
	if len(c.Points) == 0 || len(c.Points) > MaxHistoryBatch {
		return fmt.Errorf("%w: job %s: %d history points (1 to %d)", ErrBadCommand, c.ID, len(c.Points), MaxHistoryBatch)
	}
	for i, p := range c.Points {
		if p.Attempt < 1 || p.Step < 1 || i > 0 && !p.after(c.Points[i-1]) {
			return fmt.Errorf("%w: job %s: history points must be in (attempt, step) order, attempts and steps from 1", ErrBadCommand, c.ID)
		}
	}
	return nil
}

func (s *State) appendHistory(c AppendHistory) error {
	j, err := s.job(c.ID)
	if err != nil {
		return err
	}
	for _, p := range c.Points {
		if n := len(j.History); n == 0 || p.after(j.History[n-1]) {
			j.History = append(j.History, p)
		}
	}
	if len(j.History) > MaxHistory {
		j.History = thin(j.History)
	}
	return nil
}

// thin keeps every other point of h's older half and all of its newer.
func thin(h []HistoryPoint) []HistoryPoint {
	half := len(h) / 2
	out := make([]HistoryPoint, 0, len(h)-half/2)
	for i := 0; i < half; i += 2 {
		out = append(out, h[i])
	}
	return append(out, h[half:]...)
}
