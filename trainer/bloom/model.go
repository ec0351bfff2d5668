package bloom

import (
	"errors"
	"fmt"
	"math"

	"bloom/npu"
)

// Model is a BLOOM model, or the Part of one that a rank holds, on one
// device: parameters in one flat buffer, and the activations of the last
// forward pass.
type Model struct {
	Cfg    Config
	Dev    npu.Device
	Part   Part    // what this rank holds; FullPart(Cfg) for a whole model
	Layout *Layout // Layout.Part == Part
	Params npu.Buf // (Layout.Size) every parameter
	W      Weights // views into Params
	Grads  npu.Buf // (Layout.Size) mirrors Params; nil until the first Step
	G      Weights // views into Grads
	// Recompute is activation checkpointing (Megatron's
	// --checkpoint-activations): a training pass keeps each block's output
	// only, the blocks' other activations in one set of buffers they share,
	// and the backward recomputes a block's forward before its backward.
	// The results are bit-identical; set it before the first pass.
	Recompute bool

	fp32Acts  bool // keep the linears' inputs in float32 under half precision too (a test compares the two)
	tp        tensorPar
	dev       npu.Device   // what the passes compute on: Dev, or Dev with half-operand products (SetPrecision)
	precision npu.DType    // the type matrix products round their operands to (SetPrecision)
	slopes    []float32    // (NH/TP) ALiBi slopes of this rank's heads
	train     *acts        // activations of the last Forward or Step
	slots     []*acts      // activations of the micro-batches in flight (stage.go)
	bw        *backScratch // the backward's memory
}

// tensorPar is what a layer needs to know of tensor parallelism: this rank's
// sizes and how to combine buffers with its peers (nil with one rank).
type tensorPar struct {
	local
	comm TPComm
}

// sum adds b across the tensor-parallel ranks; with one rank it does nothing.
func (t *tensorPar) sum(b npu.Buf) error {
	if t.comm == nil {
		return nil
	}
	return t.comm.AllReduceSum(b)
}

// ErrInput is wrapped by every error about a batch's contents.
var ErrInput = errors.New("bloom: invalid input")

// New allocates a model of shape c on d with zeroed parameters.
func New(d npu.Device, c Config) (*Model, error) { return NewPart(d, c, FullPart(c), nil) }

// NewPart allocates the Part p of a model of shape c on d with zeroed
// parameters. comm combines buffers with the other tensor-parallel ranks of
// the part; it is needed when p.TP > 1 and ignored otherwise. NewPart keeps
// comm.
func NewPart(d npu.Device, c Config, p Part, comm TPComm) (*Model, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if err := p.Validate(c); err != nil {
		return nil, err
	}
	if p.TP == 1 {
		comm = nil
	} else if comm == nil {
		return nil, fmt.Errorf("%w: a part of %d tensor-parallel ranks needs a TPComm", ErrConfig, p.TP)
	}
	l := NewPartLayout(c, p)
	lc := newLocal(c, p)
	m := &Model{Cfg: c, Dev: d, dev: d, Part: p, Layout: l, Params: d.Alloc(l.Size), tp: tensorPar{local: lc, comm: comm},
		slopes: AlibiSlopes(c.Heads)[p.TPRank*lc.heads : (p.TPRank+1)*lc.heads]}
	m.W = l.Views(m.Params)
	return m, nil
}

// InitRandom initializes the parameters as Hugging Face does for a new
// model: weights and embeddings from N(0, std²), biases 0, layer norms 1.
// Each weight row draws from its own stream of seed, so every Part of the
// same seed holds its piece of the same model.
func (m *Model) InitRandom(seed uint64, std float64) {
	m.initRandom(seed, std, std)
}

// InitMegatron initializes the parameters as Megatron-DeepSpeed (and so
// AscendSpeed, which the seed trains with) does for a new model: InitRandom,
// but the two output projections of every block (self_attention.dense and
// mlp.dense_4h_to_h) from N(0, (std/√(2·layers))²), its
// scaled_init_method_normal. Training from scratch starts here.
func (m *Model) InitMegatron(seed uint64, std float64) {
	m.initRandom(seed, std, std/math.Sqrt(2*float64(m.Cfg.Layers)))
}

func (m *Model) initRandom(seed uint64, std, outStd float64) {
	host := make([]float32, m.Layout.Size)
	m.Layout.initRandom(m.Cfg, host, seed, std, outStd)
	m.Dev.Write(m.Params, host)
	m.UnpackWeights()
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

// Forward runs the model over b and returns the logits (B·T, V/TP) of this
// rank's vocabulary rows. The buffer is the model's own and is overwritten
// by the next call. The part must hold a whole pipeline (Embed and Head).
func (m *Model) Forward(b Batch) (npu.Buf, error) {
	if !m.Part.Embed || !m.Part.Head {
		return nil, fmt.Errorf("%w: Forward runs a whole pipeline; a stage runs ForwardSlot", ErrInput)
	}
	if err := b.Validate(m.Cfg.Vocab); err != nil {
		return nil, err
	}
	if a := m.train; a == nil || a.B != b.B || a.Tq != b.T || a.keep != m.keep() {
		m.train = newActs(m.Dev, m.Cfg, m.Part, b.B, b.T, b.T, m.keep(), true, m.Recompute, nil)
	}
	if err := m.forward(m.train, b.IDs, b.Mask, 0); err != nil {
		return nil, err
	}
	return m.train.logits, nil
}

// forward is the model, in order: embedding and its layer norm (first
// stage), the blocks (attention, then MLP), the final norm and the tied head
// (last stage). ids are the Tq new positions of each row, starting at t0;
// mask covers all t0+Tq. A stage that is not the first starts from a.x0.
func (m *Model) forward(a *acts, ids, mask []int32, t0 int) error {
	c, d, p := m.Cfg, m.dev, m.Part
	N := a.B * a.Tq
	a.Tk, a.mask = t0+a.Tq, mask
	if p.Embed {
		if err := embeddingForward(d, &m.tp, a.x0, a.x0Mean, a.x0Rstd, a.emb, m.W.WTE, m.W.EmbLNW, m.W.EmbLNB, ids, N, c.Hidden, c.Eps); err != nil {
			return err
		}
	}
	x, gelu := a.x0, m.geluScratch(a)
	for l := range a.blocks {
		ba := &a.blocks[l]
		if err := attentionForward(d, c, &m.tp, &m.W.Blocks[l], ba, a.proj, x, m.shape(a), t0); err != nil {
			return err
		}
		if err := mlpForward(d, c, &m.tp, &m.W.Blocks[l], ba, a.proj, gelu, N); err != nil {
			return err
		}
		x = ba.res2
	}
	if a.ws != nil {
		a.ws.owner = a // its last block's activations are in the work set now
	}
	if p.Head {
		headForward(d, c, &m.tp, &m.W, a, x, N)
	}
	return nil
}

// geluScratch is the (N,F) buffer a forward over a computes GELU's output
// in when a keeps it in half only: the backward's dfchG (allocated now if
// need be); nil when a keeps it in float32.
func (m *Model) geluScratch(a *acts) npu.Buf {
	if len(a.blocks) == 0 || a.blocks[0].fchGelu.x != nil {
		return nil
	}
	if !m.bw.fits(a) {
		m.bw = newBackScratch(m.Dev, m.Cfg, m.Part, a)
	}
	return m.bw.dfchG
}

func (m *Model) shape(a *acts) npu.AttentionShape {
	return npu.AttentionShape{B: a.B, Tq: a.Tq, Tk: a.Tk, NH: m.tp.heads, HD: m.Cfg.HeadDim(),
		Cap: a.Cap, Slopes: m.slopes, Mask: a.mask}
}

// TokenLosses runs the forward and returns −log p(target) for every position
// (0 where the target is npu.IgnoreIndex).
func (m *Model) TokenLosses(b Batch) ([]float32, error) {
	if b.Targets == nil {
		return nil, fmt.Errorf("%w: no targets", ErrInput)
	}
	if _, err := m.Forward(b); err != nil {
		return nil, err
	}
	return m.tokenLosses(m.train, b.Targets, 0, false)
}

// tokenLosses computes the loss of every row of a's logits and, when grad is
// set, leaves scale·∂loss/∂logits in a.logits. Under tensor parallelism it
// is Megatron's vocab-parallel cross-entropy: the row maxima are combined
// by a max across ranks, the exp sums and target logits by a sum.
func (m *Model) tokenLosses(a *acts, targets []int32, scale float32, grad bool) ([]float32, error) {
	d, N, V := m.dev, a.B*a.Tq, m.tp.vocab
	out := make([]float32, N)
	if m.tp.comm == nil {
		var dl npu.Buf
		if grad {
			dl = a.logits
		}
		d.CrossEntropy(a.losses, dl, a.logits, targets, N, V, scale)
		d.Read(out, a.losses)
		return out, nil
	}
	d.CrossEntropyMax(a.ceMax, a.logits, N, V)
	if err := m.tp.comm.AllReduceMax(a.ceMax); err != nil {
		return nil, err
	}
	d.CrossEntropySums(a.ceSum, a.ceTgt, a.logits, a.ceMax, targets, m.tp.vlo, N, V)
	if err := m.tp.comm.AllReduceSum(a.ceParts); err != nil {
		return nil, err
	}
	mx, parts := make([]float32, N), make([]float32, 2*N)
	d.Read(mx, a.ceMax)
	d.Read(parts, a.ceParts)
	for i, t := range targets[:N] {
		if t != npu.IgnoreIndex {
			out[i] = float32(math.Log(float64(parts[i])) + float64(mx[i]) - float64(parts[N+i]))
		}
	}
	if grad {
		d.CrossEntropyBackwardRange(a.logits, a.logits, a.ceMax, a.ceSum, targets, m.tp.vlo, N, V, scale)
	}
	return out, nil
}

// countTargets returns how many targets are not ignored, or an error when
// there are none.
func countTargets(targets []int32) (int, error) {
	if targets == nil {
		return 0, fmt.Errorf("%w: no targets", ErrInput)
	}
	n := 0
	for _, t := range targets {
		if t != npu.IgnoreIndex {
			n++
		}
	}
	if n == 0 {
		return 0, fmt.Errorf("%w: every target is ignored", ErrInput)
	}
	return n, nil
}

// Step runs forward, loss and backward on b and adds weight·∂(mean loss)/∂θ
// into Grads. It returns the mean loss over the targets that are not ignored
// and their count. Call ZeroGrads before the first micro-batch of a step.
func (m *Model) Step(b Batch, weight float32) (loss float64, n int, err error) {
	m.UnpackWeights() // the weights are about to change
	if n, err = countTargets(b.Targets); err != nil {
		return 0, 0, err
	}
	if _, err := m.Forward(b); err != nil {
		return 0, 0, err
	}
	a := m.train
	losses, err := m.tokenLosses(a, b.Targets, weight/float32(n), true)
	if err != nil {
		return 0, 0, err
	}
	sum := 0.0
	for _, l := range losses {
		sum += float64(l)
	}
	if err := m.backward(a, b.IDs, nil); err != nil {
		return 0, 0, err
	}
	return sum / float64(n), n, nil
}

// backward walks forward's order back, from the dlogits left in a.logits on
// the last stage, or from the gradient of its output in m.bw.dres on the
// others. It leaves ∂L/∂a.x0 in m.bw.dres. ready, when not nil, gets each
// range of the flat buffer whose gradient is complete: ln_f (and a last
// stage's tied embedding copy) after the head, each block after its
// backward, the embedding and its layer norm last.
func (m *Model) backward(a *acts, ids []int32, ready func(off, n int)) error {
	m.ensureGrads()
	c, d, p, l := m.Cfg, m.dev, m.Part, m.Layout
	if !m.bw.fits(a) {
		m.bw = newBackScratch(d, c, p, a)
	}
	s := m.bw
	N := a.B * a.Tq
	if p.Head {
		if err := headBackward(d, c, &m.tp, &m.W, &m.G, a, s, s.dres, a.logits, a.out(), N); err != nil {
			return err
		}
		if ready != nil {
			ready(l.namedRange("ln_f.weight", "ln_f.bias"))
			if !p.Embed {
				ready(l.namedRange("word_embeddings.weight"))
			}
		}
	}
	sh := m.shape(a)
	for i := len(a.blocks) - 1; i >= 0; i-- {
		ba := &a.blocks[i]
		in := a.x0
		if i > 0 {
			in = a.blocks[i-1].res2
		}
		if a.shared && (i < len(a.blocks)-1 || a.ws.owner != a) { // the last block's are there while a owns the work set
			if err := attentionForward(d, c, &m.tp, &m.W.Blocks[i], ba, a.proj, in, sh, 0); err != nil {
				return err
			}
			if err := mlpForward(d, c, &m.tp, &m.W.Blocks[i], ba, a.proj, s.dfchG, N); err != nil {
				return err
			}
		}
		if err := mlpBackward(d, c, &m.tp, &m.W.Blocks[i], &m.G.Blocks[i], ba, s, s.dres, N); err != nil {
			return err
		}
		if err := attentionBackward(d, c, &m.tp, &m.W.Blocks[i], &m.G.Blocks[i], ba, s, s.dres, in, sh); err != nil {
			return err
		}
		if ready != nil {
			ready(l.blockRange(i))
		}
	}
	if a.ws != nil {
		a.ws.owner = nil // the recomputed blocks overwrote it
	}
	if p.Embed && !c.LoRA.On() { // nothing before the blocks trains under LoRA
		embeddingBackward(d, &m.tp, m.G.WTE, m.G.EmbLNW, m.G.EmbLNB, s.dtmp, s.dres, a.emb, m.W.EmbLNW, a.x0Mean, a.x0Rstd, ids, N, c.Hidden)
		if ready != nil {
			ready(l.namedRange("word_embeddings.weight", "word_embeddings_layernorm.weight", "word_embeddings_layernorm.bias"))
		}
	}
	return nil
}

func (m *Model) ensureGrads() {
	if m.Grads == nil {
		m.Grads = m.Dev.Alloc(m.Layout.Size)
		m.G = m.Layout.Views(m.Grads)
	}
}

// ZeroGrads clears the gradients.
func (m *Model) ZeroGrads() {
	m.ensureGrads()
	m.Dev.Fill(m.Grads, 0)
}
