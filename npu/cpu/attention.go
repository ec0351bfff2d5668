package cpu

import (
	"fmt"
	"math"

	"bloom/npu"
)

// Attention splits its work into one task per (batch, head) pair. A task
// walks its queries in order and owns its rows of out, probs, dq, dk and dv,
// so the result does not depend on the thread count and accumulation into dk
// and dv needs no locks.

// checkAttention panics unless s is consistent.
func checkAttention(op string, s npu.AttentionShape) {
	dims(op, s.B, s.Tq, s.Tk, s.NH, s.HD, s.Cap)
	if err := s.Check(); err != nil {
		panic(fmt.Sprintf("cpu: %s: %v", op, err))
	}
}

// visible reports whether key j of batch b is a token.
func visible(mask []int32, b, tk, j int) bool { return mask == nil || mask[b*tk+j] != 0 }

// alibiPositions sets pos[b·Tk+j] to the number of tokens before key j of
// batch b (HF's (cumsum(mask)−1)·mask, for the keys that are tokens).
func alibiPositions(pos []float32, mask []int32, B, Tk int) {
	for b := range B {
		n := 0
		for j := range Tk {
			pos[b*Tk+j] = float32(n)
			if visible(mask, b, Tk, j) {
				n++
			}
		}
	}
}

// attnBlock is how many queries share one GEMM. A block multiplies only
// the keys its last query may see, so causal prefill wastes at most a block's
// worth of the upper triangle.
const attnBlock = 64

// AttentionForward reads q (B,NH,Tq,HD), k and v (B,NH,Cap,HD), writes out
// (B,Tq,NH,HD) and saves probs (B,NH,Tq,Tk). Scores are
// float32(q·k/√HD) + slope·pos as HF's baddbmm; the softmax subtracts the
// row maximum and sums exponentials in float64. Keys a query does not see
// get probability 0; a query that sees no key gets zeros. The first Tk rows
// of k and v must be finite, padding included (0·Inf would poison out).
func (d *Device) AttentionForward(out, probs, q, k, v npu.Buf, s npu.AttentionShape) {
	const op = "AttentionForward"
	checkAttention(op, s)
	B, NH, Tq, Tk, HD, Cap := s.B, s.NH, s.Tq, s.Tk, s.HD, s.Cap
	o := view(op, "out", out, B*Tq*NH*HD)
	p := view(op, "probs", probs, B*NH*Tq*Tk)
	qv := view(op, "q", q, B*NH*Tq*HD)
	kv := view(op, "k", k, B*NH*Cap*HD)
	vv := view(op, "v", v, B*NH*Cap*HD)
	d.mu.Lock()
	defer d.mu.Unlock()
	pos := d.scratch32(B * Tk)
	alibiPositions(pos, s.Mask, B, Tk)
	scale := float32(1 / math.Sqrt(float64(HD)))
	d.pool.parallelFor(B*NH, 1, func(lo, hi int) {
		for bh := lo; bh < hi; bh++ {
			b, h := bh/NH, bh%NH
			qb, pb := qv[bh*Tq*HD:(bh+1)*Tq*HD], p[bh*Tq*Tk:(bh+1)*Tq*Tk]
			kb, vb := kv[bh*Cap*HD:(bh*Cap+Tk)*HD], vv[bh*Cap*HD:(bh*Cap+Tk)*HD]
			for i0 := 0; i0 < Tq; i0 += attnBlock {
				i1 := min(i0+attnBlock, Tq)
				nk := Tk - Tq + i1 // keys the block's last query may see
				sgemm(serialPool, false, true, i1-i0, nk, HD, scale, qb[i0*HD:], HD, kb, HD, 0, pb[i0*Tk:], Tk)
				blind := false
				for i := i0; i < i1; i++ {
					blind = !softmaxScores(pb[i*Tk:(i+1)*Tk], pos[b*Tk:(b+1)*Tk], s.Mask, b, Tk-Tq+i, s.Slopes[h]) || blind
				}
				sgemm(serialPool, false, false, i1-i0, HD, nk, 1, pb[i0*Tk:], Tk, vb, HD, 0, o[((b*Tq+i0)*NH+h)*HD:], NH*HD)
				for i := i0; blind && i < i1; i++ {
					if !seesAny(s.Mask, b, Tk, Tk-Tq+i) {
						// Uniform over all Tk keys, past the block's nk too.
						sgemm(serialPool, false, false, 1, HD, Tk, 1, pb[i*Tk:], Tk, vb, HD, 0, o[((b*Tq+i)*NH+h)*HD:], NH*HD)
					}
				}
			}
		}
	})
}

// seesAny reports whether a query at position last of batch b sees a key.
func seesAny(mask []int32, b, tk, last int) bool {
	for j := 0; j <= last; j++ {
		if visible(mask, b, tk, j) {
			return true
		}
	}
	return false
}

// softmaxScores turns one query's scores pr (Tk) into probabilities: it adds
// the ALiBi term, keeps keys 0..last that are tokens of batch b and zeroes
// the rest, and normalizes. A query that sees no key gets 1/Tk for every key
// (HF's masked_fill with the float minimum), and softmaxScores returns false.
func softmaxScores(pr, pos []float32, mask []int32, b, last int, slope float32) bool {
	Tk := len(pr)
	clear(pr[last+1:])
	if n := last + 1; mask == nil && hasVec && n >= 8 {
		softmaxAll(pr[:n], pos[:n], slope)
		return true
	}
	m, seen := negInf, false
	for j := 0; j <= last; j++ {
		if !visible(mask, b, Tk, j) {
			pr[j] = negInf // exp gives exactly 0
			continue
		}
		pr[j] += float32(slope * pos[j])
		m = max(m, pr[j])
		seen = true
	}
	if !seen {
		for j := range pr {
			pr[j] = 1 / float32(Tk)
		}
		return false
	}
	inv := 1 / expSum(pr[:last+1], pr[:last+1], m)
	for j := 0; j <= last; j++ {
		pr[j] = float32(float64(pr[j]) * inv)
	}
	return true
}

// softmaxAll is softmaxScores where every key is a token (mask nil), a run
// of 8 at a time with AVX2: the same float32 and float64 operations, so
// the same bits.
func softmaxAll(pr, pos []float32, slope float32) {
	n8 := len(pr) &^ 7
	m, nan := alibiMaxAVX2(&pr[0], &pos[0], n8, slope)
	for j := n8; j < len(pr); j++ {
		pr[j] += float32(slope * pos[j])
		m = max(m, pr[j])
	}
	if nan {
		m = float32(math.NaN()) // as Go's max gives it
	}
	inv := 1 / expSum(pr, pr, m)
	scaleF64AVX2(&pr[0], n8, inv)
	for j := n8; j < len(pr); j++ {
		pr[j] = float32(float64(pr[j]) * inv)
	}
}

// AttentionBackward adds into dq (B,NH,Tq,HD), dk and dv (B,NH,Cap,HD) from
// dout (B,Tq,NH,HD) and the probs saved by AttentionForward. Keys whose
// probability is 0 (masked, in the future, or underflowed) receive exact
// zeros, as the chain rule says.
func (d *Device) AttentionBackward(dq, dk, dv, dout, q, k, v, probs npu.Buf, s npu.AttentionShape) {
	const op = "AttentionBackward"
	checkAttention(op, s)
	B, NH, Tq, Tk, HD, Cap := s.B, s.NH, s.Tq, s.Tk, s.HD, s.Cap
	dqv := view(op, "dq", dq, B*NH*Tq*HD)
	dkv := view(op, "dk", dk, B*NH*Cap*HD)
	dvv := view(op, "dv", dv, B*NH*Cap*HD)
	dy := view(op, "dout", dout, B*Tq*NH*HD)
	qv := view(op, "q", q, B*NH*Tq*HD)
	kv := view(op, "k", k, B*NH*Cap*HD)
	vv := view(op, "v", v, B*NH*Cap*HD)
	p := view(op, "probs", probs, B*NH*Tq*Tk)
	d.mu.Lock()
	defer d.mu.Unlock()
	scratch := d.scratch32(d.pool.threads * attnBlock * Tk) // dprobs of a block, per worker
	scale := float32(1 / math.Sqrt(float64(HD)))
	d.pool.parallelWorkers(B*NH, 1, func(w, lo, hi int) {
		ds := scratch[w*attnBlock*Tk : (w+1)*attnBlock*Tk]
		for bh := lo; bh < hi; bh++ {
			b, h := bh/NH, bh%NH
			qb, dqb, pb := qv[bh*Tq*HD:(bh+1)*Tq*HD], dqv[bh*Tq*HD:(bh+1)*Tq*HD], p[bh*Tq*Tk:(bh+1)*Tq*Tk]
			kb, vb := kv[bh*Cap*HD:(bh*Cap+Tk)*HD], vv[bh*Cap*HD:(bh*Cap+Tk)*HD]
			dkb, dvb := dkv[bh*Cap*HD:(bh*Cap+Tk)*HD], dvv[bh*Cap*HD:(bh*Cap+Tk)*HD]
			for i0 := 0; i0 < Tq; i0 += attnBlock {
				i1 := min(i0+attnBlock, Tq)
				r, nk := i1-i0, Tk-Tq+i1
				pblk, dob := pb[i0*Tk:], dy[((b*Tq+i0)*NH+h)*HD:]
				// dv += Pᵀ·dout; dP = dout·vᵀ.
				sgemm(serialPool, true, false, nk, HD, r, 1, pblk, Tk, dob, NH*HD, 1, dvb, HD)
				sgemm(serialPool, false, true, r, nk, HD, 1, dob, NH*HD, vb, HD, 0, ds, nk)
				// dS = P ⊙ (dP − Σ P⊙dP), row by row, in place.
				for i := range r {
					pr, g := pblk[i*Tk:i*Tk+nk], ds[i*nk:(i+1)*nk]
					if !seesAny(s.Mask, b, Tk, Tk-Tq+i0+i) {
						// Uniform probabilities no score moves: no dS, and
						// dv gets the keys past nk the GEMM above missed.
						clear(g)
						for j := nk; j < Tk; j++ {
							axpy(dvb[j*HD:(j+1)*HD], pb[(i0+i)*Tk+j], dob[i*NH*HD:i*NH*HD+HD])
						}
						continue
					}
					sum := dot(pr, g)
					for j, pj := range pr {
						g[j] = pj * (g[j] - sum)
					}
				}
				// dq += dS·k/√HD; dk += dSᵀ·q/√HD.
				sgemm(serialPool, false, false, r, HD, nk, scale, ds, nk, kb, HD, 1, dqb[i0*HD:], HD)
				sgemm(serialPool, true, false, nk, HD, r, scale, ds, nk, qb[i0*HD:], HD, 1, dkb, HD)
			}
		}
	})
}
