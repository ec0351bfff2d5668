package trainer

import (
	"fmt"
	"math"
	"testing"
)

func TestOneFOneBOps(t *testing.T) {
	for _, c := range []struct {
		stages, stage, micro int
		want                 string
	}{
		{4, 0, 8, "[F0 F1 F2 F3 B0 F4 B1 F5 B2 F6 B3 F7 B4 B5 B6 B7]"},
		{4, 2, 8, "[F0 F1 B0 F2 B1 F3 B2 F4 B3 F5 B4 F6 B5 F7 B6 B7]"},
		{4, 3, 8, "[F0 B0 F1 B1 F2 B2 F3 B3 F4 B4 F5 B5 F6 B6 F7 B7]"},
		{4, 0, 2, "[F0 F1 B0 B1]"}, // fewer micro-batches than warmup
		{1, 0, 3, "[F0 B0 F1 B1 F2 B2]"},
	} {
		if got := fmt.Sprint(OneFOneB(c.stages, c.stage, c.micro)); got != c.want {
			t.Errorf("OneFOneB(%d, %d, %d) = %s, want %s", c.stages, c.stage, c.micro, got, c.want)
		}
	}
}

// TestOneFOneBInvariants: for many shapes, every micro-batch goes forward
// then backward exactly once, both in order, and no more than InFlight are
// between forward and backward (the executor's slot reuse relies on it).
func TestOneFOneBInvariants(t *testing.T) {
	for p := 1; p <= 6; p++ {
		for m := 1; m <= 12; m++ {
			for s := range p {
				ops := OneFOneB(p, s, m)
				nextF, nextB, live, most := 0, 0, 0, 0
				for _, op := range ops {
					if op.Kind == Forward {
						if op.Micro != nextF {
							t.Fatalf("p=%d s=%d m=%d: %v out of order", p, s, m, op)
						}
						nextF++
						live++
					} else {
						if op.Micro != nextB || op.Micro >= nextF {
							t.Fatalf("p=%d s=%d m=%d: %v out of order", p, s, m, op)
						}
						nextB++
						live--
					}
					most = max(most, live)
				}
				if nextF != m || nextB != m || most != InFlight(p, s, m) {
					t.Fatalf("p=%d s=%d m=%d: %d forwards, %d backwards, %d in flight (InFlight says %d)", p, s, m, nextF, nextB, most, InFlight(p, s, m))
				}
			}
		}
	}
}

// simulatePipeline runs every stage's schedule as a discrete-event
// simulation: a forward takes tf, a backward tb, messages arrive at once and
// are buffered (the executor's senders). It returns the makespan and each
// stage's busy time, or an error on deadlock.
func simulatePipeline(p, m int, tf, tb float64) (float64, []float64, error) {
	ops := make([][]PipeOp, p)
	for s := range p {
		ops[s] = OneFOneB(p, s, m)
	}
	// ready[s][k]: when stage s may start the forward (or backward) of k.
	fwdAt := make([][]float64, p+1)
	bwdAt := make([][]float64, p+1)
	for s := range fwdAt {
		fwdAt[s] = make([]float64, m)
		bwdAt[s] = make([]float64, m)
		for k := range m {
			fwdAt[s][k], bwdAt[s][k] = math.Inf(1), math.Inf(1)
		}
	}
	for k := range m {
		fwdAt[0][k] = 0 // data is there
	}
	clock, next, busy := make([]float64, p), make([]int, p), make([]float64, p)
	for done := 0; done < p*2*m; {
		progressed := false
		for s := range p {
			for next[s] < len(ops[s]) {
				op := ops[s][next[s]]
				at := fwdAt[s][op.Micro]
				d := tf
				if op.Kind == Backward {
					at, d = bwdAt[s][op.Micro], tb
					if s == p-1 {
						at = clock[s] // the last stage starts backward from its own loss
					}
				}
				if math.IsInf(at, 1) {
					break
				}
				clock[s] = max(clock[s], at) + d
				busy[s] += d
				if op.Kind == Forward && s+1 < p {
					fwdAt[s+1][op.Micro] = clock[s]
				}
				if op.Kind == Backward && s > 0 {
					bwdAt[s-1][op.Micro] = clock[s]
				}
				next[s]++
				done++
				progressed = true
			}
		}
		if !progressed {
			return 0, nil, fmt.Errorf("deadlock at %v", next)
		}
	}
	span := 0.0
	for _, c := range clock {
		span = max(span, c)
	}
	return span, busy, nil
}

// TestOneFOneBBubble: with fixed forward and backward times and free
// communication, the schedule never deadlocks and every stage idles the
// textbook (p−1)/(m+p−1) of the step.
func TestOneFOneBBubble(t *testing.T) {
	for _, c := range [][2]int{{2, 4}, {4, 8}, {4, 4}, {3, 16}, {8, 8}, {1, 5}} {
		p, m := c[0], c[1]
		span, busy, err := simulatePipeline(p, m, 1, 2)
		if err != nil {
			t.Fatalf("p=%d m=%d: %v", p, m, err)
		}
		for s, b := range busy {
			if got, want := 1-b/span, BubbleFraction(p, m); math.Abs(got-want) > 1e-12 {
				t.Errorf("p=%d m=%d stage %d: idle %.4f of the step, want (p−1)/(m+p−1) = %.4f", p, m, s, got, want)
			}
		}
	}
}
