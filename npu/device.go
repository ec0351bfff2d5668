package npu

import "fmt"

// Buf is a region of device memory holding float32 values. Slice returns a
// view that shares memory with its parent; views are how one flat parameter
// buffer is cut into named tensors.
type Buf interface {
	Len() int
	Slice(off, n int) Buf
}

// Memory allocates and moves buffers. Alloc returns zeroed memory. Write and
// Read copy min(len(host), dev.Len()) values and keep neither slice.
type Memory interface {
	Alloc(n int) Buf
	Write(dst Buf, src []float32)
	Read(dst []float32, src Buf)
	Copy(dst, src Buf)
	Fill(dst Buf, v float32)
}

// Span is a run of N values copied from offset Src to offset Dst.
type Span struct{ Dst, Src, N int }

// SpanCopier is a Memory that copies many spans between two buffers in
// one call (how a paged key/value cache is gathered); CopySpans uses it.
type SpanCopier interface {
	CopySpans(dst, src Buf, spans []Span)
}

// CopySpans copies every span of src into dst: in one call where d is a
// SpanCopier, else span by span.
func CopySpans(d Device, dst, src Buf, spans []Span) {
	if sc, ok := d.(SpanCopier); ok {
		sc.CopySpans(dst, src, spans)
		return
	}
	for _, s := range spans {
		d.Copy(dst.Slice(s.Dst, s.N), src.Slice(s.Src, s.N))
	}
}

// PagedShape describes decoding attention over keys and values held in a
// pool of blocks (a paged KV cache): k and v hold N blocks of Size
// positions, each (NH,Size,HD), so block b's head h starts at
// (b·NH+h)·Size·HD. Sequence r has Lens[r] positions, its new one (the
// query's) last, in the blocks Tables[r] lists in order; key j of it sits
// in block Tables[r][j/Size] at j%Size, and its ALiBi position is j.
type PagedShape struct {
	Rows, NH, HD, Size, N int
	Tables                [][]int32 // (Rows) each sequence's blocks
	Lens                  []int     // (Rows) each sequence's positions, the query's included
	Slopes                []float32 // (NH) ALiBi slopes
}

// Check reports a shape no paged attention can run: fewer tables, lengths
// or slopes than rows and heads, a sequence longer than its blocks, a
// block outside the pool.
func (s PagedShape) Check() error {
	switch {
	case s.Rows < 1 || s.NH < 1 || s.HD < 1 || s.Size < 1 || s.N < 1:
		return fmt.Errorf("Rows %d, NH %d, HD %d, Size %d and N %d must be positive", s.Rows, s.NH, s.HD, s.Size, s.N)
	case len(s.Tables) < s.Rows || len(s.Lens) < s.Rows:
		return fmt.Errorf("%d tables and %d lengths for %d rows", len(s.Tables), len(s.Lens), s.Rows)
	case len(s.Slopes) < s.NH:
		return fmt.Errorf("%d slopes for %d heads", len(s.Slopes), s.NH)
	}
	for r, n := range s.Lens[:s.Rows] {
		if n < 1 || n > len(s.Tables[r])*s.Size {
			return fmt.Errorf("sequence %d: %d positions in %d blocks of %d", r, n, len(s.Tables[r]), s.Size)
		}
		for _, b := range s.Tables[r][:(n+s.Size-1)/s.Size] {
			if b < 0 || int(b) >= s.N {
				return fmt.Errorf("sequence %d: block %d outside the pool of %d", r, b, s.N)
			}
		}
	}
	return nil
}

// PagedAttender is an Attention that decodes over a paged KV cache in place
// (see PagedShape), instead of gathering each sequence's keys and values
// into a dense buffer first. PagedAttention reads q (Rows,NH,HD), the query
// of each sequence's last position, and writes out (Rows,NH,HD): what
// AttentionForward gives for that query over the sequence's keys gathered
// (within float32 rounding: sums may group differently). Rows may share a
// table, each with its own length: positions of one sequence (a prompt
// prefilled within a decoding step), each attending to its first Lens[r]
// keys; a backend may compute such neighbouring rows together.
type PagedAttender interface {
	PagedAttention(out, q, k, v Buf, s PagedShape)
}

// HalfPagedAttender is a PagedAttender whose pool may hold keys and values
// in a half type (F16 or BF16): half the memory of a float32 pool, and half
// the bytes a decoding step reads from it, which is most of attention's
// cost at long contexts. Only the stored values are rounded: queries,
// scores, the softmax and the sums stay float32.
type HalfPagedAttender interface {
	PagedAttender
	Half
	// PutHalf rounds each span of src into dst, to nearest, ties to even
	// (as ToHalf): how a step's new keys and values enter a half pool.
	PutHalf(dst HalfBuf, src Buf, spans []Span)
	// PagedAttentionHalf is PagedAttention over pools k and v of one half
	// type, whose values are widened exactly as they are read: the same
	// bits PagedAttention gives over the widened pools.
	PagedAttentionHalf(out, q Buf, k, v HalfBuf, s PagedShape)
}

// OverflowFlagger is a device whose arithmetic can saturate instead of
// producing Inf and NaN (Ascend 910, whose training products have only
// CANN's saturation mode): a result beyond its type's range becomes the
// largest value, NaN becomes 0, and an overflow shows only in a sticky flag.
// The fp16 loss scaler asks it, as it reads Inf and NaN elsewhere.
type OverflowFlagger interface {
	// Saturates tells whether the device computes so (false: Inf and NaN
	// show in the values, and FloatOverflow always reports false).
	Saturates() bool
	// FloatOverflow reports whether an operation overflowed since the last
	// call (waiting for the queued work), and clears the flag.
	FloatOverflow() bool
}

// PackedB is a GEMM's B operand that a WeightPacker has laid out once in the
// form its GEMM reads, so that products against it skip the per-call
// packing. It is a copy: later writes to the buffer it came from do not reach
// it.
type PackedB interface {
	// Dims is op(B)'s shape: k rows by n columns.
	Dims() (k, n int)
}

// WeightPacker is a Linear that can keep a weight packed for repeated
// products (inference, where the weights do not change between steps);
// PackGemm and GemmPacked use it. GemmPacked's result is what Gemm gives for
// the same operands.
type WeightPacker interface {
	// PackB packs op(B) (k,n), B stored n×k when transB, else k×n, with
	// leading dimension ldb.
	PackB(transB bool, k, n int, b Buf, ldb int) PackedB
	// GemmPacked computes C = alpha·op(A)·B + beta·C with op(A) (m,k) and B
	// packed by PackB (k,n), or by PackBHalf on a HalfWeightPacker.
	GemmPacked(transA bool, m int, alpha float32, a Buf, lda int, b PackedB, beta float32, c Buf, ldc int)
}

// HalfWeightPacker is a WeightPacker that also packs a weight of half
// values, kept in its type where its products can read it so (the CPU
// device with AVX-512): GemmPacked widens each value exactly as it reads
// it, so its result is GemmPacked's over PackB of the widened weight, from
// half the bytes (a decoding step of a few rows reads every weight once, and
// is as fast as that read).
type HalfWeightPacker interface {
	WeightPacker
	Half
	// PackBHalf is PackB for b of half values (its type is b's).
	PackBHalf(transB bool, k, n int, b HalfBuf, ldb int) PackedB
}

// Linear is dense linear algebra.
//
// Gemm computes C = alpha·op(A)·op(B) + beta·C with C (m,n), op(A) (m,k) and
// op(B) (k,n), row-major, leading dimensions in elements. op(X) is X or its
// transpose. beta == 0 overwrites C without reading it.
type Linear interface {
	Gemm(transA, transB bool, m, n, k int, alpha float32, a Buf, lda int, b Buf, ldb int, beta float32, c Buf, ldc int)
	// AddBias adds bias (cols) to every row of out (rows,cols).
	AddBias(out, bias Buf, rows, cols int)
	// BiasBackward adds the column sums of dout (rows,cols) into dbias (cols).
	BiasBackward(dbias, dout Buf, rows, cols int)
}

// Norm is layer normalization over the last dimension.
type Norm interface {
	// LayerNormForward normalizes in (rows,cols) into out with weight and bias
	// (cols) and saves mean and rstd (rows) for the backward.
	LayerNormForward(out, mean, rstd, in, weight, bias Buf, rows, cols int, eps float32)
	// LayerNormBackward adds into din (rows,cols), dweight and dbias (cols).
	LayerNormBackward(din, dweight, dbias, dout, in, weight, mean, rstd Buf, rows, cols int)
}

// Activation is elementwise nonlinearity and arithmetic.
type Activation interface {
	// GeluForward is BLOOM's tanh GELU:
	// x·0.5·(1 + tanh(0.79788456·x·(1 + 0.044715·x²))).
	GeluForward(out, in Buf, n int)
	// GeluBackward adds dout·gelu'(in) into din.
	GeluBackward(din, in, dout Buf, n int)
	// Add sets out = a + b; out may alias a or b.
	Add(out, a, b Buf, n int)
	// Axpy sets y += alpha·x.
	Axpy(y Buf, alpha float32, x Buf, n int)
	// Scale sets x *= s.
	Scale(x Buf, s float32, n int)
	// SumSquares returns Σx² accumulated in float64.
	SumSquares(x Buf, n int) float64
}

// Softmax is a row softmax, computed in float32 with the row maximum
// subtracted first.
type Softmax interface {
	SoftmaxForward(out, in Buf, rows, cols int)
	// SoftmaxBackward adds out ⊙ (dout − Σ dout⊙out) into din.
	SoftmaxBackward(din, out, dout Buf, rows, cols int)
}

// AttentionShape describes one attention call. Queries are the last Tq of Tk
// positions: query i sits at key position Tk−Tq+i and sees keys j ≤ that
// position whose Mask[b·Tk+j] is non-zero (Mask nil = no padding). Key j's
// ALiBi position is the number of unmasked keys before it (HF's
// (cumsum(mask)−1)·mask), so left padding shifts nothing.
type AttentionShape struct {
	B, Tq, Tk, NH, HD int
	Cap               int       // time capacity of the k and v buffers (≥ Tk)
	Slopes            []float32 // (NH) ALiBi slopes
	Mask              []int32   // (B,Tk) 1 = token, 0 = padding; nil = all tokens
}

// Check reports a shape no attention can run: queries beyond the keys, a
// capacity below them, fewer slopes than heads, a mask shorter than B·Tk.
// Every backend checks this before it runs.
func (s AttentionShape) Check() error {
	switch {
	case s.Tq > s.Tk:
		return fmt.Errorf("Tq = %d exceeds Tk = %d", s.Tq, s.Tk)
	case s.Cap < s.Tk:
		return fmt.Errorf("Cap = %d is less than Tk = %d", s.Cap, s.Tk)
	case len(s.Slopes) < s.NH:
		return fmt.Errorf("%d slopes for %d heads", len(s.Slopes), s.NH)
	case s.Mask != nil && len(s.Mask) < s.B*s.Tk:
		return fmt.Errorf("mask has %d values, need B·Tk = %d", len(s.Mask), s.B*s.Tk)
	}
	return nil
}

// Attention is BLOOM's causal ALiBi attention: scores = q·k/√HD + slope·pos,
// masked, softmax in float32, then times v.
type Attention interface {
	// AttentionForward reads q (B,NH,Tq,HD), k and v (B,NH,Cap,HD), writes out
	// (B,Tq,NH,HD) and saves probs (B,NH,Tq,Tk). A query that sees no key
	// (a left-padding position) attends uniformly to all Tk keys, as HF's
	// masked_fill with the float minimum makes it; its probabilities do not
	// depend on the scores. The first Tk rows of k and v must be finite,
	// padding rows included.
	AttentionForward(out, probs, q, k, v Buf, s AttentionShape)
	// AttentionBackward adds into dq, dk and dv (shaped as q, k, v).
	AttentionBackward(dq, dk, dv, dout, q, k, v, probs Buf, s AttentionShape)
	// SplitQKV copies fused qkv (B,T,NH,3,HD) into q (B,NH,T,HD) and into k
	// and v (B,NH,Cap,HD) at time offset t0 (the KV cache layout).
	SplitQKV(q, k, v, qkv Buf, B, T, NH, HD, Cap, t0 int)
	// MergeQKVBackward adds dq, dk, dv (as in SplitQKV) into dqkv (B,T,NH,3,HD).
	MergeQKVBackward(dqkv, dq, dk, dv Buf, B, T, NH, HD, Cap, t0 int)
}

// IgnoreIndex is the target value whose row contributes no loss (PyTorch's -100).
const IgnoreIndex = -100

// Lookup is embedding and the loss.
type Lookup interface {
	// EmbeddingForward sets out[i] = table[ids[i]] for out (N,C), table (V,C).
	EmbeddingForward(out, table Buf, ids []int32, C int)
	// EmbeddingBackward adds dout[i] into dtable[ids[i]].
	EmbeddingBackward(dtable, dout Buf, ids []int32, C int)
	// CrossEntropy writes losses[i] = −log softmax(logits[i])[targets[i]] for
	// logits (N,V), or 0 where targets[i] == IgnoreIndex. When dlogits is not
	// nil it also writes dlogits[i] = scale·(softmax(logits[i]) − onehot), or
	// zeros for ignored rows; dlogits may alias logits.
	CrossEntropy(losses, dlogits, logits Buf, targets []int32, N, V int, scale float32)
}

// VocabParallel is the word embedding and the cross-entropy over one shard of
// the vocabulary, as Megatron's vocab-parallel embedding and cross-entropy
// compute them: a tensor-parallel rank holds rows [lo, lo+V) of the (padded)
// vocabulary, and the caller combines the parts across ranks (an all-reduce
// sum of the embeddings; a max of the row maxima, then sums of the exp sums
// and of the target logits).
type VocabParallel interface {
	// EmbeddingForwardRange sets out[i] = table[ids[i]−lo] for out (N,C) and
	// table (V,C) where lo ≤ ids[i] < lo+V, and out[i] = 0 for other ids.
	EmbeddingForwardRange(out, table Buf, ids []int32, lo, C int)
	// EmbeddingBackwardRange adds dout[i] (N,C) into dtable[ids[i]−lo] for
	// the ids in [lo, lo+V); other ids are skipped.
	EmbeddingBackwardRange(dtable, dout Buf, ids []int32, lo, C int)
	// CrossEntropyMax writes rowMax[i] = max_j logits[i,j] for the shard's
	// logits (N,V).
	CrossEntropyMax(rowMax, logits Buf, N, V int)
	// CrossEntropySums writes sumExp[i] = Σ_j e^(logits[i,j]−rowMax[i]) for
	// logits (N,V), and target[i] = logits[i, targets[i]−lo] where
	// lo ≤ targets[i] < lo+V, else 0 (ignored rows included). rowMax (N) is
	// the maximum over the whole vocabulary.
	CrossEntropySums(sumExp, target, logits, rowMax Buf, targets []int32, lo, N, V int)
	// CrossEntropyBackwardRange writes dlogits[i,j] =
	// scale·(e^(logits[i,j]−rowMax[i])/sumExp[i] − [lo+j = targets[i]]),
	// zeros for rows whose target is IgnoreIndex; rowMax and sumExp (N) are
	// the combined ones. dlogits may alias logits.
	CrossEntropyBackwardRange(dlogits, logits, rowMax, sumExp Buf, targets []int32, lo, N, V int, scale float32)
}

// AdamW holds the hyperparameters of one decoupled-weight-decay Adam update,
// as torch.optim.AdamW computes it. Step counts from 1. They are float64, as
// torch keeps them in Python floats; backends derive their float32 scalars
// from them as torch does.
type AdamW struct {
	LR, Beta1, Beta2, Eps, WeightDecay float64
	Step                               int
}

// Optimizer updates parameters in place.
type Optimizer interface {
	// AdamWUpdate updates param, m and v (n values each) from grad.
	AdamWUpdate(param, grad, m, v Buf, n int, h AdamW)
}

// HostMemory is implemented by a backend whose copies to and from the host
// go faster through page-locked host memory (an NPU's DMA engine moves it
// without staging). AllocHost returns n zeroed float32s of such memory,
// valid until FreeHost; Read and Write take it as any host slice. Callers
// that stage data for the network (gradients, pipeline activations) use it
// when the device has it.
type HostMemory interface {
	AllocHost(n int) []float32
	FreeHost(h []float32)
}

// Device is everything a backend provides.
type Device interface {
	Name() string
	// Threads is the number of host threads the backend computes with.
	Threads() int
	Memory
	Half
	Linear
	Norm
	Activation
	Softmax
	Attention
	Lookup
	VocabParallel
	Optimizer
}
