package bloom

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"bloom/npu"
)

// Model is a BLOOM model on one device: parameters in one flat buffer, and
// the activations of the last forward pass.
type Model struct {
	Cfg    Config
	Dev    npu.Device
	Layout *Layout
	Params npu.Buf // (Layout.Size) every parameter
	W      Weights // views into Params
	Grads  npu.Buf // (Layout.Size) mirrors Params; nil until the first Step
	G      Weights // views into Grads

	slopes []float32 // (NH) ALiBi slopes
	train  *acts     // activations of the last Forward or Step
}

// ErrInput is wrapped by every error about a batch's contents.
var ErrInput = errors.New("bloom: invalid input")

// New allocates a model of shape c on d with zeroed parameters.
func New(d npu.Device, c Config) (*Model, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	l := NewLayout(c)
	m := &Model{Cfg: c, Dev: d, Layout: l, Params: d.Alloc(l.Size), slopes: AlibiSlopes(c.Heads)}
	m.W = l.Views(m.Params, c.Layers)
	return m, nil
}

// InitRandom initializes the parameters as Hugging Face does for a new
// model: weights and embeddings from N(0, std²), biases 0, layer norms 1.
func (m *Model) InitRandom(seed uint64, std float64) {
	r := rand.New(rand.NewPCG(seed, 0x626c6f6f6d))
	host := make([]float32, m.Layout.Size)
	for _, t := range m.Layout.Tensors {
		p := host[t.Offset : t.Offset+t.Size]
		switch {
		case t.Decay:
			for i := range p {
				p[i] = float32(r.NormFloat64() * std)
			}
		case isNormWeight(t.Name):
			for i := range p {
				p[i] = 1
			}
		}
	}
	m.Dev.Write(m.Params, host)
}

func isNormWeight(name string) bool {
	const suffix = "norm.weight"
	return name == "ln_f.weight" || len(name) > len(suffix) && name[len(name)-len(suffix):] == suffix
}

// Batch is B sequences of T tokens.
type Batch struct {
	B, T    int
	IDs     []int32 // (B,T) token ids
	Mask    []int32 // (B,T) 1 = token, 0 = left padding; nil = no padding
	Targets []int32 // (B,T) next-token targets, npu.IgnoreIndex for no loss; nil = none
}

// Validate checks sizes and that every id and target is in the vocabulary.
func (b Batch) Validate(vocab int) error {
	n := b.B * b.T
	if b.B <= 0 || b.T <= 0 || len(b.IDs) != n {
		return fmt.Errorf("%w: %d ids for a batch of %d×%d", ErrInput, len(b.IDs), b.B, b.T)
	}
	if b.Mask != nil && len(b.Mask) != n || b.Targets != nil && len(b.Targets) != n {
		return fmt.Errorf("%w: mask or targets do not match the %d×%d batch", ErrInput, b.B, b.T)
	}
	for i, id := range b.IDs {
		if id < 0 || int(id) >= vocab {
			return fmt.Errorf("%w: token id %d at position %d is outside the vocabulary [0,%d)", ErrInput, id, i, vocab)
		}
	}
	for i, t := range b.Targets {
		if t != npu.IgnoreIndex && (t < 0 || int(t) >= vocab) {
			return fmt.Errorf("%w: target %d at position %d is outside the vocabulary [0,%d)", ErrInput, t, i, vocab)
		}
	}
	return nil
}

// Forward runs the model over b and returns the logits (B·T, V). The buffer
// is the model's own and is overwritten by the next call.
func (m *Model) Forward(b Batch) (npu.Buf, error) {
	if err := b.Validate(m.Cfg.Vocab); err != nil {
		return nil, err
	}
	if a := m.train; a == nil || a.B != b.B || a.Tq != b.T {
		m.train = newActs(m.Dev, m.Cfg, b.B, b.T, b.T, true)
	}
	m.forward(m.train, b.IDs, b.Mask, 0)
	return m.train.logits, nil
}

// forward is the model, in order: embedding and its layer norm, the blocks
// (attention, then MLP), the final norm and the tied head. ids are the Tq new
// positions of each row, starting at t0; mask covers all t0+Tq.
func (m *Model) forward(a *acts, ids, mask []int32, t0 int) {
	c, d := m.Cfg, m.Dev
	N := a.B * a.Tq
	a.Tk, a.mask = t0+a.Tq, mask
	embeddingForward(d, a.x0, a.x0Mean, a.x0Rstd, a.emb, m.W.WTE, m.W.EmbLNW, m.W.EmbLNB, ids, N, c.Hidden, c.Eps)
	x := a.x0
	for l := range a.blocks {
		ba := &a.blocks[l]
		attentionForward(d, c, &m.W.Blocks[l], ba, a.proj, x, m.shape(a), t0)
		mlpForward(d, c, &m.W.Blocks[l], ba, a.proj, N)
		x = ba.res2
	}
	headForward(d, c, &m.W, a, x, N)
}

func (m *Model) shape(a *acts) npu.AttentionShape {
	return npu.AttentionShape{B: a.B, Tq: a.Tq, Tk: a.Tk, NH: m.Cfg.Heads, HD: m.Cfg.HeadDim(),
		Cap: a.Cap, Slopes: m.slopes, Mask: a.mask}
}

// TokenLosses runs the forward and returns −log p(target) for every position
// (0 where the target is npu.IgnoreIndex).
func (m *Model) TokenLosses(b Batch) ([]float32, error) {
	if b.Targets == nil {
		return nil, fmt.Errorf("%w: no targets", ErrInput)
	}
	logits, err := m.Forward(b)
	if err != nil {
		return nil, err
	}
	N := b.B * b.T
	m.Dev.CrossEntropy(m.train.losses, nil, logits, b.Targets, N, m.Cfg.Vocab, 0)
	out := make([]float32, N)
	m.Dev.Read(out, m.train.losses)
	return out, nil
}

// Step runs forward, loss and backward on b and adds weight·∂(mean loss)/∂θ
// into Grads. It returns the mean loss over the targets that are not ignored
// and their count. Call ZeroGrads before the first micro-batch of a step.
func (m *Model) Step(b Batch, weight float32) (loss float64, n int, err error) {
	if b.Targets == nil {
		return 0, 0, fmt.Errorf("%w: no targets", ErrInput)
	}
	for _, t := range b.Targets {
		if t != npu.IgnoreIndex {
			n++
		}
	}
	if n == 0 {
		return 0, 0, fmt.Errorf("%w: every target is ignored", ErrInput)
	}
	if _, err := m.Forward(b); err != nil {
		return 0, 0, err
	}
	a, c, d := m.train, m.Cfg, m.Dev
	N := b.B * b.T
	d.CrossEntropy(a.losses, a.logits, a.logits, b.Targets, N, c.Vocab, weight/float32(n))
	losses := make([]float32, N)
	d.Read(losses, a.losses)
	sum := 0.0
	for _, l := range losses {
		sum += float64(l)
	}
	m.backward(a, b.IDs)
	return sum / float64(n), n, nil
}

// backward walks forward's order back, from the dlogits left in a.logits.
func (m *Model) backward(a *acts, ids []int32) {
	m.ensureGrads()
	c, d := m.Cfg, m.Dev
	a.allocBackward(d, c)
	N := a.B * a.Tq
	x := a.x0
	if L := len(a.blocks); L > 0 {
		x = a.blocks[L-1].res2
	}
	headBackward(d, c, &m.W, &m.G, a, a.dres, a.logits, x, N)
	sh := m.shape(a)
	for l := len(a.blocks) - 1; l >= 0; l-- {
		ba := &a.blocks[l]
		in := a.x0
		if l > 0 {
			in = a.blocks[l-1].res2
		}
		mlpBackward(d, c, &m.W.Blocks[l], &m.G.Blocks[l], ba, a, a.dres, N)
		attentionBackward(d, c, &m.W.Blocks[l], &m.G.Blocks[l], ba, a, a.dres, in, sh)
	}
	embeddingBackward(d, m.G.WTE, m.G.EmbLNW, m.G.EmbLNB, a.dtmp, a.dres, a.emb, m.W.EmbLNW, a.x0Mean, a.x0Rstd, ids, N, c.Hidden)
}

func (m *Model) ensureGrads() {
	if m.Grads == nil {
		m.Grads = m.Dev.Alloc(m.Layout.Size)
		m.G = m.Layout.Views(m.Grads, m.Cfg.Layers)
	}
}

// ZeroGrads clears the gradients.
func (m *Model) ZeroGrads() {
	m.ensureGrads()
	m.Dev.Fill(m.Grads, 0)
}

// GradNorm is the L2 norm of all gradients.
func (m *Model) GradNorm() float64 {
	m.ensureGrads()
	return math.Sqrt(m.Dev.SumSquares(m.Grads, m.Layout.Size))
}
