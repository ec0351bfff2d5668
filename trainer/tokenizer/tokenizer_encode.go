package tokenizer

import (
	"hash/maphash"
	"slices"
	"strings"
	"unicode/utf8"
)

// Word cache bounds: words of up to wordCacheMaxLen bytes (as Hugging
// Face's BPE cache), in a two-way set-associative table per pooled encoder
// state that starts at wordCacheMin entries and doubles, emptied, up to
// wordCacheMax as words keep missing.
const (
	wordCacheMin    = 1 << 8
	wordCacheMax    = 1 << 14
	wordCacheMaxLen = 256
)

// cachedWord is a word and its symbols.
type cachedWord struct {
	word string
	syms []bpeSym
}

// encodeState is the scratch space of one Encode call, pooled per
// Tokenizer, with its word cache.
type encodeState struct {
	texts
	a, b    []piece
	matches []span
	flags   []flagged
	syms    []bpeSym
	out     Encoding // scratch for EncodeWith
	cache   []cachedWord
	misses  int
	seed    maphash.Seed
}

// getState takes a state from the free list, or makes one. A channel
// rather than a sync.Pool: the pool drops its contents at every garbage
// collection, and with them the word caches.
func (t *Tokenizer) getState() *encodeState {
	select {
	case st := <-t.states:
		return st
	default:
		return &encodeState{cache: make([]cachedWord, wordCacheMin), seed: maphash.MakeSeed()}
	}
}

// putState returns st to the pool without keeping the input alive.
func (t *Tokenizer) putState(st *encodeState) {
	st.reset("")
	select {
	case t.states <- st:
	default:
	}
}

// word returns the model's symbols for piece text w, from the cache when it
// can. The result is valid until the next call.
func (st *encodeState) word(m *bpeModel, w string) []bpeSym {
	if len(w) > wordCacheMaxLen {
		st.syms = m.tokenize(w, st.syms[:0])
		return st.syms
	}
	// Two-way set associative: the newest word of a set sits first.
	h := maphash.String(st.seed, w) & uint64(len(st.cache)-2)
	set := st.cache[h : h+2 : h+2]
	for k := range set {
		if set[k].word == w && set[k].syms != nil {
			return set[k].syms
		}
	}
	st.syms = m.tokenize(w, st.syms[:0])
	if st.misses++; st.misses > 2*len(st.cache) && len(st.cache) < wordCacheMax {
		st.cache, st.misses = make([]cachedWord, 2*len(st.cache)), 0
		return st.syms
	}
	set[1] = set[0]
	set[0] = cachedWord{strings.Clone(w), append(make([]bpeSym, 0, len(st.syms)), st.syms...)}
	return st.syms
}

// split cuts text into the pieces the model sees: added tokens out first,
// then the normalizer, then the pre-tokenizers. The result lives in st.
func (t *Tokenizer) split(st *encodeState, text string) []piece {
	st.reset(text)
	cur := t.added.split(t.added.raw, &st.texts, piece{0, int32(len(text)), 0, -1}, st.a[:0])
	next := st.b[:0]
	for _, p := range cur {
		if p.added < 0 && t.norm != nil {
			p = t.norm.normalize(&st.texts, p)
		}
		next = t.added.split(t.added.norm, &st.texts, p, next)
	}
	cur, next = next, cur[:0]
	for _, pt := range t.pre {
		for _, p := range cur {
			if p.added >= 0 {
				next = append(next, p)
			} else {
				next = pt.split(st, p, next)
			}
		}
		cur, next = next, cur[:0]
	}
	st.a, st.b = cur, next
	return cur
}

// Encode encodes text with Hugging Face's defaults: the post-processor's
// special tokens included, byte offsets.
func (t *Tokenizer) Encode(text string) Encoding {
	return t.EncodeWith(text, EncodeOptions{})
}

// EncodeWith encodes text. Text should be valid UTF-8; an invalid byte is
// encoded as the byte it is and split as U+FFFD would be.
func (t *Tokenizer) EncodeWith(text string, opt EncodeOptions) Encoding {
	st := t.getState()
	defer t.putState(st)
	out := &st.out
	out.IDs, out.Tokens, out.Offsets = out.IDs[:0], out.Tokens[:0], out.Offsets[:0]
	for _, p := range t.split(st, text) {
		s := st.str(p)
		if p.added >= 0 {
			out.add(p.added, s, st.spanOf(p, 0, len(s)))
			continue
		}
		for _, sym := range st.word(t.model, s) {
			out.add(sym.id, t.model.vocabR[sym.id], st.spanOf(p, int(sym.lo), int(sym.hi)))
		}
	}
	e := Encoding{IDs: slices.Clone(out.IDs), Tokens: slices.Clone(out.Tokens), Offsets: slices.Clone(out.Offsets)}
	clear(out.Tokens) // do not keep the strings alive
	if opt.CharOffsets {
		toCharOffsets(text, e.Offsets)
	}
	if t.post != nil {
		t.post.process(&e, !opt.NoSpecialTokens)
	}
	return e
}

// AppendIDs appends the ids Encode would give for text to dst: the fast
// path for preprocessing, without token strings or offsets.
func (t *Tokenizer) AppendIDs(dst []int32, text string) []int32 {
	st := t.getState()
	defer t.putState(st)
	for _, s := range t.before {
		dst = append(dst, s.id)
	}
	for _, p := range t.split(st, text) {
		if p.added >= 0 {
			dst = append(dst, p.added)
			continue
		}
		for _, s := range st.word(t.model, st.str(p)) {
			dst = append(dst, s.id)
		}
	}
	for _, s := range t.after {
		dst = append(dst, s.id)
	}
	return dst
}

func (e *Encoding) add(id int32, tok string, sp span) {
	e.IDs = append(e.IDs, id)
	e.Tokens = append(e.Tokens, tok)
	e.Offsets = append(e.Offsets, [2]int{sp.lo, sp.hi})
}

// toCharOffsets turns byte offsets into character offsets the way Hugging
// Face's BytesToCharOffsetConverter does.
func toCharOffsets(src string, offs [][2]int) {
	idx := make([]int, len(src))
	c := 0
	for i := 0; i < len(src); c++ {
		_, n := utf8.DecodeRuneInString(src[i:])
		for k := 0; k < n; k++ {
			idx[i+k] = c
		}
		i += n
	}
	for i, o := range offs {
		s, e := o[0], o[1]
		switch {
		case s >= len(src) || s < 0:
			// no conversion: Hugging Face keeps the byte offsets
		case e < len(src):
			offs[i] = [2]int{idx[s], idx[e]}
		case e >= 1:
			offs[i] = [2]int{idx[s], idx[e-1] + 1}
		}
	}
}
