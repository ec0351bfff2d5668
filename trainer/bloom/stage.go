package bloom

import (
	"fmt"

	"bloom/npu"
)

// A pipeline stage runs micro-batches in slots: each slot holds one
// micro-batch's activations from its forward until its backward, so a stage
// of a 1F1B pipeline needs as many slots as it has micro-batches in flight.
// The stage methods move no data between stages; the caller (the trainer's
// pipeline executor) copies Output to the next stage's Input and GradBuffer
// back.

// PrepareSlots allocates n slots for micro-batches of B rows of T tokens,
// replacing any slots of another shape.
func (m *Model) PrepareSlots(n, B, T int) {
	if len(m.slots) == n && n > 0 && m.slots[0].B == B && m.slots[0].Tq == T && m.slots[0].keep == m.keep() {
		return
	}
	m.slots = make([]*acts, n)
	var ws *workSet // under Recompute, one work set for every slot
	for i := range m.slots {
		m.slots[i] = newActs(m.Dev, m.Cfg, m.Part, B, T, T, m.keep(), true, m.Recompute, ws)
		ws = m.slots[i].ws
	}
	m.bw = newBackScratch(m.Dev, m.Cfg, m.Part, m.slots[0])
}

// Input is slot's (B·T, C) input: a stage that is not the first writes the
// activations the previous stage sent here before ForwardSlot.
func (m *Model) Input(slot int) npu.Buf { return m.slots[slot].x0 }

// Output is slot's (B·T, C) output after ForwardSlot, for the next stage.
func (m *Model) Output(slot int) npu.Buf { return m.slots[slot].out() }

// GradBuffer is the (B·T, C) gradient of a stage's output and input: a stage
// that is not the last writes the gradient of Output that the next stage sent
// here before BackwardSlot; after BackwardSlot it holds the gradient of
// Input, which a stage that is not the first sends back. It is shared by
// every slot.
func (m *Model) GradBuffer() npu.Buf { return m.bw.dres }

// ForwardSlot runs the part's forward on the micro-batch in slot. The first
// stage embeds ids (B·T); the others start from Input(slot). The last stage
// also computes the loss against targets (B·T) and leaves
// weight·∂(mean loss)/∂logits for BackwardSlot; it returns the mean loss over
// the targets that are not ignored and their count. Other stages return
// (0, 0) and ignore targets.
func (m *Model) ForwardSlot(slot int, ids, targets []int32, weight float32) (loss float64, n int, err error) {
	m.UnpackWeights() // a training pass: the weights are about to change
	a := m.slots[slot]
	N, p := a.B*a.Tq, m.Part
	if p.Embed {
		if err := (Batch{B: a.B, T: a.Tq, IDs: ids}).Validate(m.Cfg.Vocab); err != nil {
			return 0, 0, err
		}
	}
	if p.Head {
		if len(targets) != N {
			return 0, 0, fmt.Errorf("%w: %d targets for a micro-batch of %d×%d", ErrInput, len(targets), a.B, a.Tq)
		}
		for i, t := range targets {
			if t != npu.IgnoreIndex && (t < 0 || int(t) >= m.Cfg.Vocab) {
				return 0, 0, fmt.Errorf("%w: target %d at position %d is outside the vocabulary [0,%d)", ErrInput, t, i, m.Cfg.Vocab)
			}
		}
		if n, err = countTargets(targets); err != nil {
			return 0, 0, err
		}
	}
	if err := m.forward(a, ids, nil, 0); err != nil {
		return 0, 0, err
	}
	if !p.Head {
		return 0, 0, nil
	}
	losses, err := m.tokenLosses(a, targets, weight/float32(n), true)
	if err != nil {
		return 0, 0, err
	}
	sum := 0.0
	for _, l := range losses {
		sum += float64(l)
	}
	return sum / float64(n), n, nil
}

// BackwardSlot runs the part's backward for the micro-batch in slot, adding
// into Grads. ids are the first stage's, as given to ForwardSlot. ready, when
// not nil, is called with each range [off, off+n) of the flat gradient buffer
// as soon as this backward has added its last contribution there: ln_f's
// after the head, each block's from the last to the first, the embedding's
// last. The trainer passes it on a step's last micro-batch to start the
// data-parallel reduction of those gradients while the backward goes on.
func (m *Model) BackwardSlot(slot int, ids []int32, ready func(off, n int)) error {
	return m.backward(m.slots[slot], ids, ready)
}
