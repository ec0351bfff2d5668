package tokenizer

import (
	"container/heap"
	"sort"
)

// TrainedBPE is a trained vocabulary: Vocab[id] is the token (in GPT-2's
// byte-level alphabet) and Merges are in rank order.
type TrainedBPE struct {
	Vocab         []string
	Merges        [][2]string
	SpecialTokens []string
}

// trainWord is a word during training: its symbols and how often it occurs.
type trainWord struct {
	syms  []int32
	count int64
}

// trainState is Hugging Face's BpeTrainer::do_train state.
type trainState struct {
	w2id   map[string]int32
	id2w   []string
	words  []trainWord
	counts map[uint64]int64   // pair → occurrences, weighted by word count
	where  map[uint64][]int32 // pair → words it was added in, this round
	queue  pairQueue
	merges [][2]int32
}

// Train learns merges until the vocabulary reaches VocabSize or no pair
// is left.
func (tr *BPETrainer) Train() (*TrainedBPE, error) {
	st := &trainState{w2id: map[string]int32{}, counts: map[uint64]int64{}, where: map[uint64][]int32{}}
	for _, s := range tr.cfg.SpecialTokens {
		st.addToken(s)
	}
	byteID := st.alphabet(tr.words, !tr.cfg.CorpusAlphabet)
	tr.progress("tokenize words", 0, len(tr.words))
	st.tokenizeWords(tr.words, byteID)
	tr.progress("count pairs", 0, len(st.words))
	st.countPairs()
	want := max(tr.cfg.VocabSize-len(st.id2w), 0) // merges needed, at most
	tr.progress("compute merges", 0, want)
	for len(st.w2id) < tr.cfg.VocabSize {
		if !st.step(int64(max(tr.cfg.MinFrequency, 1))) {
			break
		}
		if len(st.merges)%1000 == 0 {
			tr.progress("compute merges", len(st.merges), want)
		}
	}
	tr.progress("compute merges", len(st.merges), len(st.merges))
	return st.result(tr.cfg.SpecialTokens), nil
}

// addToken gives s the next id unless it has one; it returns the id.
func (st *trainState) addToken(s string) int32 {
	if id, ok := st.w2id[s]; ok {
		return id
	}
	id := int32(len(st.id2w))
	st.id2w = append(st.id2w, s)
	st.w2id[s] = id
	return id
}

// alphabet adds the byte-level characters (the corpus's, or all 256),
// sorted by code point, and returns each byte's id (-1 if absent).
func (st *trainState) alphabet(words map[string]int64, all bool) [256]int32 {
	var seen [256]bool
	for w := range words {
		for i := 0; i < len(w); i++ {
			seen[w[i]] = true
		}
	}
	bs := make([]int, 0, 256)
	for b := range seen {
		if seen[b] || all {
			bs = append(bs, b)
		}
	}
	sort.Slice(bs, func(i, j int) bool { return byteToRune[bs[i]] < byteToRune[bs[j]] })
	var ids [256]int32
	for b := range ids {
		ids[b] = -1
	}
	for _, b := range bs {
		ids[b] = st.addToken(byteToStr[b])
	}
	return ids
}

func (st *trainState) tokenizeWords(words map[string]int64, byteID [256]int32) {
	st.words = make([]trainWord, 0, len(words))
	for w, n := range words {
		syms := make([]int32, len(w))
		for i := 0; i < len(w); i++ {
			syms[i] = byteID[w[i]]
		}
		st.words = append(st.words, trainWord{syms: syms, count: n})
	}
}

// countPairs counts adjacent pairs and queues them.
func (st *trainState) countPairs() {
	for i, w := range st.words {
		for k := 0; k+1 < len(w.syms); k++ {
			p := pairKey(w.syms[k], w.syms[k+1])
			st.counts[p] += w.count
			st.addWhere(p, int32(i))
		}
	}
	st.flushWhere()
	heap.Init(&st.queue)
}

// addWhere notes that pair p occurs in word i (words are visited in order,
// so a repeat is always the last entry).
func (st *trainState) addWhere(p uint64, i int32) {
	pos := st.where[p]
	if len(pos) == 0 || pos[len(pos)-1] != i {
		st.where[p] = append(pos, i)
	}
}

// flushWhere queues every noted pair with a positive count.
func (st *trainState) flushWhere() {
	for p, pos := range st.where {
		if c := st.counts[p]; c > 0 {
			heap.Push(&st.queue, &queuedPair{pair: p, count: c, pos: pos})
		}
		delete(st.where, p)
	}
}

// step makes one merge; false when none is left above minFreq.
func (st *trainState) step(minFreq int64) bool {
	for {
		if st.queue.Len() == 0 {
			return false
		}
		top := heap.Pop(&st.queue).(*queuedPair)
		if c := st.counts[top.pair]; top.count != c {
			top.count = c // stale: requeue with the current count
			heap.Push(&st.queue, top)
			continue
		}
		if top.count < minFreq {
			return false
		}
		st.merge(top)
		return true
	}
}

func (st *trainState) merge(top *queuedPair) {
	a, b := int32(top.pair>>32), int32(uint32(top.pair))
	id := st.addToken(st.id2w[a] + st.id2w[b])
	st.merges = append(st.merges, [2]int32{a, b})
	for _, i := range top.pos {
		w := &st.words[i]
		w.syms = mergeWord(w.syms, a, b, id, func(p uint64, d int64) {
			st.counts[p] += d * w.count
			if d > 0 {
				st.addWhere(p, i)
			}
		})
	}
	st.flushWhere()
}

// mergeWord replaces each (a, b) in syms by id, left to right, reporting
// how the pairs around each merge change, as Hugging Face's Word::merge.
func mergeWord(syms []int32, a, b, id int32, change func(p uint64, d int64)) []int32 {
	for i := 0; i < len(syms); i++ {
		if syms[i] != a || i+1 >= len(syms) || syms[i+1] != b {
			continue
		}
		if i > 0 {
			change(pairKey(syms[i-1], a), -1)
			change(pairKey(syms[i-1], id), 1)
		}
		syms[i] = id
		syms = append(syms[:i+1], syms[i+2:]...)
		if i < len(syms)-1 {
			change(pairKey(b, syms[i+1]), -1)
			change(pairKey(id, syms[i+1]), 1)
		}
	}
	return syms
}

// result lists the vocabulary and the merges; a pair merged twice (it can
// be, when two merges make the same string) keeps its last rank, as the
// library's saved file does.
func (st *trainState) result(specials []string) *TrainedBPE {
	last := map[[2]int32]int{}
	for r, m := range st.merges {
		last[m] = r
	}
	out := &TrainedBPE{Vocab: st.id2w, SpecialTokens: specials}
	for r, m := range st.merges {
		if last[m] == r {
			out.Merges = append(out.Merges, [2]string{st.id2w[m[0]], st.id2w[m[1]]})
		}
	}
	return out
}

// queuedPair is a candidate merge: a pair, its count when queued, and the
// words to merge it in.
type queuedPair struct {
	pair  uint64
	count int64
	pos   []int32
}

// pairQueue pops the highest count first, then the smallest pair.
type pairQueue []*queuedPair

func (q pairQueue) Len() int { return len(q) }
func (q pairQueue) Less(i, j int) bool {
	return q[i].count > q[j].count || q[i].count == q[j].count && q[i].pair < q[j].pair
}
func (q pairQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *pairQueue) Push(x any)   { *q = append(*q, x.(*queuedPair)) }
func (q *pairQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}
