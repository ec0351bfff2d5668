package tokenizer

import (
	"fmt"
	"unicode/utf8"
)

// bpeModel is Hugging Face's BPE model: a vocabulary, ranked merges, and the
// unknown-token and byte-fallback rules. It tokenizes one piece at a time.
// With byteLevel, pieces are raw bytes and each byte stands for its
// byte-level character; otherwise each character of the piece is a symbol.
type bpeModel struct {
	vocab  map[string]int32
	vocabR []string // id → token; "" where no token has the id
	merges map[uint64]bpeMerge

	unk          int32 // id of unk_token, or -1
	prefix       string
	suffix       string
	fuseUnk      bool
	byteFallback bool
	ignoreMerges bool

	byteLevel bool
	byteIDs   [256]int32 // id of each byte's byte-level character, or -1
	fast      bool       // byte-level without prefix or suffix: bytes map straight to ids
}

// bpeMerge is the rank of a merge and the id of the token it makes.
type bpeMerge struct{ rank, id int32 }

// bpeSym is a symbol of a word being merged: a token id and the bytes of
// the piece it covers.
type bpeSym struct{ id, lo, hi int32 }

func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// finish derives the byte-level tables once vocab and options are set.
func (m *bpeModel) finish(byteLevel bool) {
	m.byteLevel = byteLevel
	m.fast = byteLevel && m.prefix == "" && m.suffix == ""
	for b := range m.byteIDs {
		id, ok := m.vocab[byteToStr[b]]
		if !ok {
			id = -1
		}
		m.byteIDs[b] = id
	}
}

// token returns the string of id, or false.
func (m *bpeModel) token(id int32) (string, bool) {
	if id < 0 || int(id) >= len(m.vocabR) || m.vocabR[id] == "" {
		return "", false
	}
	return m.vocabR[id], true
}

// tokenize appends the symbols of piece text w to dst.
func (m *bpeModel) tokenize(w string, dst []bpeSym) []bpeSym {
	if w == "" {
		return dst
	}
	if m.ignoreMerges {
		if id, ok := m.vocab[m.modelText(w)]; ok {
			return append(dst, bpeSym{id, 0, int32(len(w))})
		}
	}
	start := len(dst)
	if m.fast {
		if dst, ok := m.byteSymbols(w, dst); ok {
			return append(dst[:start], mergeSymbols(m.merges, dst[start:])...)
		}
	}
	dst = m.initialSymbols(w, dst)
	merged := mergeSymbols(m.merges, dst[start:])
	if m.byteLevel {
		rawOffsets(w, merged)
	}
	return append(dst[:start], merged...)
}

// byteSymbols appends one symbol per byte of w; false (and dst as it was)
// when a byte has no token, which the careful path handles.
func (m *bpeModel) byteSymbols(w string, dst []bpeSym) ([]bpeSym, bool) {
	start := len(dst)
	for i := 0; i < len(w); i++ {
		id := m.byteIDs[w[i]]
		if id < 0 {
			return dst[:start], false
		}
		dst = append(dst, bpeSym{id, int32(i), int32(i + 1)})
	}
	return dst, true
}

// modelText is w as the vocabulary spells it.
func (m *bpeModel) modelText(w string) string {
	if m.byteLevel {
		return byteLevelEncode(w)
	}
	return w
}

// initialSymbols splits w into its characters as Hugging Face's merge_word
// does: continuing-subword prefix, end-of-word suffix, byte fallback and
// (fused) unknown tokens. Characters with no token are dropped. Like
// Hugging Face, symbols cover consecutive bytes of the model's text, so a
// dropped character shifts the offsets after it; rawOffsets maps them back.
func (m *bpeModel) initialSymbols(w string, dst []bpeSym) []bpeSym {
	start := len(dst)
	unk := bpeSym{id: -1} // pending unknown token; hi holds its length
	for i := 0; i < len(w); {
		ch, next := m.symbolAt(w, i)
		s := ch
		if i > 0 && m.prefix != "" {
			s = m.prefix + s
		}
		if next == len(w) && m.suffix != "" {
			s += m.suffix
		}
		n := int32(len(ch))
		if id, ok := m.vocab[s]; ok {
			if unk.id >= 0 {
				dst, unk = append(dst, unk), bpeSym{id: -1}
			}
			dst = append(dst, bpeSym{id, 0, n})
		} else if fb, ok := m.fallback(s); ok {
			dst = append(dst, fb...)
		} else if m.unk >= 0 {
			if unk.id >= 0 && m.fuseUnk {
				unk.hi += n
			} else {
				if unk.id >= 0 {
					dst = append(dst, unk)
				}
				unk = bpeSym{m.unk, 0, n}
			}
		}
		i = next
	}
	if unk.id >= 0 {
		dst = append(dst, unk)
	}
	pos := int32(0)
	for k := start; k < len(dst); k++ {
		dst[k].lo, dst[k].hi = pos, pos+dst[k].hi
		pos = dst[k].hi
	}
	return dst
}

// rawOffsets turns the symbols' offsets in the model's text (byte-level
// characters, one or two bytes each) into offsets in the piece's bytes.
func rawOffsets(w string, syms []bpeSym) {
	at := make([]int32, 0, 2*len(w)+1) // model byte → piece byte
	for i := 0; i < len(w); i++ {
		for range len(byteToStr[w[i]]) {
			at = append(at, int32(i))
		}
	}
	at = append(at, int32(len(w)))
	for k, s := range syms {
		lo, hi := min(int(s.lo), len(at)-1), min(int(s.hi)-1, len(at)-1)
		syms[k].lo, syms[k].hi = at[lo], at[max(hi, 0)]+1
	}
}

// symbolAt returns the character at byte i of w as the vocabulary spells it
// and where the next one starts.
func (m *bpeModel) symbolAt(w string, i int) (string, int) {
	if m.byteLevel {
		return byteToStr[w[i]], i + 1
	}
	_, n := utf8.DecodeRuneInString(w[i:])
	return w[i : i+n], i + n
}

// fallback spells s as <0xXX> byte tokens (each one byte long in the
// model's text, for offsets) when byte_fallback is on and all of them exist.
func (m *bpeModel) fallback(s string) ([]bpeSym, bool) {
	if !m.byteFallback {
		return nil, false
	}
	out := make([]bpeSym, 0, len(s))
	for k := 0; k < len(s); k++ {
		id, ok := m.vocab[fmt.Sprintf("<0x%02X>", s[k])]
		if !ok {
			return nil, false
		}
		out = append(out, bpeSym{id, 0, 1})
	}
	return out, true
}

// mergeSymbols applies merges to syms in rank order, leftmost first among
// equal ranks, and returns the merged symbols (reusing syms). This is the
// order Hugging Face's priority queue produces.
func mergeSymbols(merges map[uint64]bpeMerge, syms []bpeSym) []bpeSym {
	if len(syms) < 2 {
		return syms
	}
	if len(syms) > 64 {
		return mergeSymbolsHeap(merges, syms)
	}
	const none = int32(1<<31 - 1)
	var rankBuf [64]bpeMerge
	ranks := rankBuf[:len(syms)-1]
	for i := range ranks {
		ranks[i] = lookupMerge(merges, syms[i].id, syms[i+1].id, none)
	}
	for {
		best := -1
		for i, r := range ranks {
			if r.rank != none && (best < 0 || r.rank < ranks[best].rank) {
				best = i
			}
		}
		if best < 0 {
			return syms
		}
		syms[best] = bpeSym{ranks[best].id, syms[best].lo, syms[best+1].hi}
		syms = append(syms[:best+1], syms[best+2:]...)
		ranks = append(ranks[:best], ranks[best+1:]...)
		if best > 0 {
			ranks[best-1] = lookupMerge(merges, syms[best-1].id, syms[best].id, none)
		}
		if best < len(ranks) {
			ranks[best] = lookupMerge(merges, syms[best].id, syms[best+1].id, none)
		}
	}
}

func lookupMerge(merges map[uint64]bpeMerge, a, b, none int32) bpeMerge {
	if mg, ok := merges[pairKey(a, b)]; ok {
		return mg
	}
	return bpeMerge{rank: none}
}
