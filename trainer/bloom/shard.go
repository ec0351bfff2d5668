package bloom

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"bloom/npu"
)

// Part is the piece of a model one rank holds under Megatron's tensor and
// pipeline parallelism: the blocks [First, First+Layers) of its pipeline
// stage, the embedding on the first stage, the final norm and the tied head
// on the last, each tensor cut to tensor-parallel rank TPRank's piece (Split).
type Part struct {
	TP, TPRank    int  // tensor-parallel size and this rank's place in it
	First, Layers int  // the blocks this stage runs
	Embed         bool // first stage: word embeddings and their layer norm
	Head          bool // last stage: ln_f and the head (tied word embeddings)
}

// FullPart is the whole model on one rank.
func FullPart(c Config) Part { return Part{TP: 1, Layers: c.Layers, Embed: true, Head: true} }

// Full reports whether p is the whole model of c.
func (p Part) Full(c Config) bool { return p == FullPart(c) }

// Validate reports a part that c cannot be cut into, saying what to change.
func (p Part) Validate(c Config) error {
	switch {
	case p.TP < 1 || p.TPRank < 0 || p.TPRank >= p.TP:
		return fmt.Errorf("%w: tensor-parallel rank %d of %d", ErrConfig, p.TPRank, p.TP)
	case c.Heads%p.TP != 0:
		return fmt.Errorf("%w: %d attention heads do not divide among %d tensor-parallel ranks: choose a --tensor-model-parallel-size that divides %d", ErrConfig, c.Heads, p.TP, c.Heads)
	case c.Vocab%p.TP != 0:
		return fmt.Errorf("%w: the vocabulary of %d rows does not divide among %d tensor-parallel ranks: pad it to a multiple of %d (--make-vocab-size-divisible-by)", ErrConfig, c.Vocab, p.TP, p.TP)
	case p.First < 0 || p.Layers < 0 || p.First+p.Layers > c.Layers:
		return fmt.Errorf("%w: blocks [%d, %d) are not within the model's %d", ErrConfig, p.First, p.First+p.Layers, c.Layers)
	case p.Layers == 0 && !p.Embed && !p.Head:
		return fmt.Errorf("%w: a pipeline stage with no blocks, no embedding and no head holds nothing", ErrConfig)
	}
	return nil
}

// local are the per-rank sizes of a part.
type local struct {
	heads int // NH/TP attention heads
	attn  int // heads·HD = C/TP: the width of the attention output
	ff    int // 4C/TP: the width of the MLP's hidden layer
	vocab int // V/TP rows of the word embeddings
	vlo   int // the first of them
}

func newLocal(c Config, p Part) local {
	v := c.Vocab / p.TP
	return local{heads: c.Heads / p.TP, attn: c.Hidden / p.TP, ff: 4 * c.Hidden / p.TP, vocab: v, vlo: p.TPRank * v}
}

// TPComm combines a buffer across the tensor-parallel ranks of a Part, in
// place, so that every rank ends with the same bits. It must not keep b. A
// model with TP = 1 never calls it.
type TPComm interface {
	AllReduceSum(b npu.Buf) error
	AllReduceMax(b npu.Buf) error
}

// pieceOf returns the range of global rows or columns that rank holds of a
// dimension of n.
func pieceOf(n int, p Part) (lo, size int) {
	size = n / p.TP
	return p.TPRank * size, size
}

// Shard copies this rank's piece of t out of full (the whole tensor, shape
// t.Global) into dst (t.Size values). It keeps neither slice.
func (l *Layout) Shard(t Tensor, full, dst []float32) {
	l.copyPiece(t, full, dst, false)
}

// Unshard copies src (t.Size values, this rank's piece of t) into its place
// in full (shape t.Global). It keeps neither slice.
func (l *Layout) Unshard(t Tensor, src, full []float32) {
	l.copyPiece(t, full, src, true)
}

func (l *Layout) copyPiece(t Tensor, full, piece []float32, toFull bool) {
	cp := func(f, p []float32) {
		if toFull {
			copy(f, p)
		} else {
			copy(p, f)
		}
	}
	switch {
	case t.Split == Replicated || l.Part.TP == 1:
		cp(full[:t.Size], piece[:t.Size])
	case t.Split == SplitRows:
		cols := t.Size / t.Shape[0]
		lo, n := pieceOf(t.Global[0], l.Part)
		cp(full[lo*cols:(lo+n)*cols], piece[:n*cols])
	default: // SplitCols
		rows, K := t.Global[0], t.Global[1]
		lo, n := pieceOf(K, l.Part)
		for r := 0; r < rows; r++ {
			cp(full[r*K+lo:r*K+lo+n], piece[r*n:(r+1)*n])
		}
	}
}

// initRandom fills host (Layout.Size) as Hugging Face initializes a new
// model: weights and embeddings from N(0, std²), biases 0, layer norms 1 —
// but the blocks' output projections (isOutputProjection) from N(0, outStd²).
// Every row of every weight draws from its own stream, seeded by the seed,
// the tensor's place in the full layout and the row, so each rank generates
// only its piece and every layout of the same seed holds the same model.
func (l *Layout) initRandom(c Config, host []float32, seed uint64, std, outStd float64) {
	full := NewLayout(c)
	for _, t := range l.Tensors {
		p := host[t.Offset : t.Offset+t.Size]
		switch {
		case t.Adapter:
			initAdapter(t, full.index[t.Name], l.Part, p, seed)
		case t.Decay:
			gi := full.index[t.Name]
			rows, K := t.Global[0], t.Global[1]
			r0, nr, c0, nc := 0, rows, 0, K
			if l.Part.TP > 1 && t.Split == SplitRows {
				r0, nr = pieceOf(rows, l.Part)
			} else if l.Part.TP > 1 && t.Split == SplitCols {
				c0, nc = pieceOf(K, l.Part)
			}
			row := make([]float32, K)
			sd := std
			if isOutputProjection(t.Name) {
				sd = outStd
			}
			for r := 0; r < nr; r++ {
				rng := rand.New(rand.NewPCG(seed^0x626c6f6f6d, uint64(gi)<<40|uint64(r0+r)))
				for k := range row {
					row[k] = float32(rng.NormFloat64() * sd)
				}
				copy(p[r*nc:(r+1)*nc], row[c0:c0+nc])
			}
		case isNormWeight(t.Name):
			for i := range p {
				p[i] = 1
			}
		default:
			clear(p)
		}
	}
}

// blockRange returns the range of the flat buffer that local block i holds.
func (l *Layout) blockRange(i int) (off, n int) {
	p := fmt.Sprintf("h.%d.", l.Part.First+i)
	i0 := l.index[p+"input_layernorm.weight"]
	i1 := l.index[p+"mlp.dense_4h_to_h.bias"]
	for i1+1 < len(l.Tensors) && l.Tensors[i1+1].Adapter && strings.HasPrefix(l.Tensors[i1+1].Name, p) {
		i1++ // the block's LoRA adapters follow it
	}
	first, last := l.Tensors[i0], l.Tensors[i1]
	return first.Offset, last.Offset + last.Size - first.Offset
}

// namedRange returns the range that the named tensors hold, which must be
// adjacent in the layout and present.
func (l *Layout) namedRange(names ...string) (off, n int) {
	first := l.Tensors[l.index[names[0]]]
	last := l.Tensors[l.index[names[len(names)-1]]]
	return first.Offset, last.Offset + last.Size - first.Offset
}

// isOutputProjection tells a block's output projection weights, the ones
// Megatron initializes with its scaled std (attention's dense and the MLP's
// dense_4h_to_h).
func isOutputProjection(name string) bool {
	return strings.HasSuffix(name, ".self_attention.dense.weight") || strings.HasSuffix(name, ".mlp.dense_4h_to_h.weight")
}
