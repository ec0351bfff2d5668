package tokenizer

import "container/heap"

// mergeSymbolsHeap is mergeSymbols for long words: a doubly linked list of
// symbols and a priority queue of (rank, position), as Hugging Face's
// Word::merge_all, in O(n log n).
func mergeSymbolsHeap(merges map[uint64]bpeMerge, syms []bpeSym) []bpeSym {
	n := len(syms)
	prev := make([]int32, n)
	next := make([]int32, n)
	alive := make([]bool, n)
	q := make(mergeQueue, 0, n)
	for i := range syms {
		prev[i], next[i], alive[i] = int32(i-1), int32(i+1), true
		if i+1 < n {
			q.pushPair(merges, syms, i, i+1)
		}
	}
	next[n-1] = -1
	heap.Init(&q)
	for q.Len() > 0 {
		e := heap.Pop(&q).(queued)
		i := int(e.pos)
		j := next[i]
		if !alive[i] || j < 0 {
			continue
		}
		mg, ok := merges[pairKey(syms[i].id, syms[j].id)]
		if !ok || mg.rank != e.rank {
			continue // stale: the pair at i has changed
		}
		syms[i] = bpeSym{mg.id, syms[i].lo, syms[j].hi}
		alive[j] = false
		next[i] = next[j]
		if next[i] >= 0 {
			prev[next[i]] = int32(i)
			q.pushPairHeap(merges, syms, i, int(next[i]))
		}
		if prev[i] >= 0 {
			q.pushPairHeap(merges, syms, int(prev[i]), i)
		}
	}
	out := syms[:0]
	for i := 0; i >= 0 && i < n; i = int(next[i]) {
		out = append(out, syms[i])
	}
	return out
}

// queued is a merge waiting in the queue: lower rank first, then leftmost.
type queued struct{ rank, pos int32 }

type mergeQueue []queued

func (q mergeQueue) Len() int { return len(q) }
func (q mergeQueue) Less(i, j int) bool {
	return q[i].rank < q[j].rank || q[i].rank == q[j].rank && q[i].pos < q[j].pos
}
func (q mergeQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *mergeQueue) Push(x any)   { *q = append(*q, x.(queued)) }
func (q *mergeQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

// pushPair appends the merge of symbols i and j, if any, before heap.Init.
func (q *mergeQueue) pushPair(merges map[uint64]bpeMerge, syms []bpeSym, i, j int) {
	if mg, ok := merges[pairKey(syms[i].id, syms[j].id)]; ok {
		*q = append(*q, queued{mg.rank, int32(i)})
	}
}

// pushPairHeap queues the merge of symbols i and j, if any.
func (q *mergeQueue) pushPairHeap(merges map[uint64]bpeMerge, syms []bpeSym, i, j int) {
	if mg, ok := merges[pairKey(syms[i].id, syms[j].id)]; ok {
		heap.Push(q, queued{mg.rank, int32(i)})
	}
}
