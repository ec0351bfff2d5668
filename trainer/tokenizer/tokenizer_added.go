package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// addedToken is an entry of tokenizer.json's added_tokens: a string that is
// cut out of the text before the model sees it.
type addedToken struct {
	ID         int32  `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

// addedVocab holds the added tokens and finds them in text as Hugging
// Face's AddedVocabulary does: tokens with normalized=false are matched in
// the raw input first, the others in the normalized pieces left over.
type addedVocab struct {
	byID      map[int32]addedToken
	byContent map[string]int32
	special   map[string]bool  // contents of special tokens
	decodeAs  map[int32]string // normalized form, where it differs
	raw       *addedTrie       // tokens with normalized=false
	norm      *addedTrie       // tokens with normalized=true
}

// addedTrie is a byte trie for leftmost-longest matching.
type addedTrie struct {
	first [256]bool
	edges map[uint64]int32 // node<<8 | byte → child
	term  []int32          // token id ending at node, or -1
}

func newAddedTrie() *addedTrie {
	return &addedTrie{edges: map[uint64]int32{}, term: []int32{-1}}
}

func (t *addedTrie) insert(s string, id int32) {
	if s == "" {
		return
	}
	node := int32(0)
	for i := 0; i < len(s); i++ {
		k := uint64(node)<<8 | uint64(s[i])
		child, ok := t.edges[k]
		if !ok {
			child = int32(len(t.term))
			t.term = append(t.term, -1)
			t.edges[k] = child
		}
		node = child
	}
	t.first[s[0]] = true
	t.term[node] = id
}

// next finds the leftmost-longest match at or after i: its span and id, or
// lo = -1.
func (t *addedTrie) next(s string, i int) (lo, hi int, id int32) {
	for ; i < len(s); i++ {
		if !t.first[s[i]] {
			continue
		}
		node, best, bestID := int32(0), -1, int32(-1)
		for k := i; k < len(s); k++ {
			child, ok := t.edges[uint64(node)<<8|uint64(s[k])]
			if !ok {
				break
			}
			node = child
			if t.term[node] >= 0 {
				best, bestID = k+1, t.term[node]
			}
		}
		if best > 0 {
			return i, best, bestID
		}
	}
	return -1, -1, -1
}

// split cuts the added tokens of trie out of p, appending the pieces to dst
// in order. Pieces may overlap where rstrip ran into the next token, as in
// Hugging Face.
func (av *addedVocab) split(t *addedTrie, tx *texts, p piece, dst []piece) []piece {
	s := tx.str(p)
	switch {
	case s == "":
		return dst
	case t == nil || p.added >= 0:
		return append(dst, p)
	}
	done := 0
	for i := 0; ; {
		lo, hi, id := t.next(s, i)
		if lo < 0 {
			break
		}
		i = hi
		tok := av.byID[id]
		if tok.SingleWord && (lo > 0 && endsWithWord(s[:lo]) || hi < len(s) && startsWithWord(s[hi:])) {
			continue
		}
		if tok.LStrip {
			lo = max(trailingSpaceStart(s[:lo]), done)
		}
		if tok.RStrip {
			hi += leadingSpaceLen(s[hi:])
		}
		if done < lo {
			dst = append(dst, p.sub(done, lo))
		}
		q := p.sub(lo, hi)
		q.added = id
		dst = append(dst, q)
		done = hi
	}
	if done < len(s) {
		dst = append(dst, p.sub(done, len(s)))
	}
	return dst
}

// isWordRune is \w of Rust's regex crate: Alphabetic, marks, decimal digits,
// connector punctuation and join controls.
func isWordRune(r rune) bool {
	return runeClass(r) == classLetter || unicode.IsMark(r) ||
		unicode.In(r, unicode.Nd, unicode.Nl, unicode.Pc, unicode.Other_Alphabetic, unicode.Join_Control)
}

func endsWithWord(s string) bool {
	r, _ := utf8.DecodeLastRuneInString(s)
	return s != "" && isWordRune(r)
}

func startsWithWord(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return s != "" && isWordRune(r)
}

// trailingSpaceStart is where the white space at the end of s begins.
func trailingSpaceStart(s string) int {
	for len(s) > 0 {
		r, n := utf8.DecodeLastRuneInString(s)
		if !isSpace(r) {
			break
		}
		s = s[:len(s)-n]
	}
	return len(s)
}

// leadingSpaceLen is the length of the white space that starts s.
func leadingSpaceLen(s string) int {
	n := 0
	for n < len(s) {
		r, k := utf8.DecodeRuneInString(s[n:])
		if !isSpace(r) {
			break
		}
		n += k
	}
	return n
}

// newAddedVocab adds the file's added_tokens as Hugging Face does when it
// loads a file: the ids in the file are not used. A token already in the
// model vocabulary (or added earlier) keeps that id; the others are numbered
// from the model's vocabulary size up.
func newAddedVocab(tokens []addedToken, model *bpeModel, norm normalizer) *addedVocab {
	av := &addedVocab{byID: map[int32]addedToken{}, byContent: map[string]int32{},
		special: map[string]bool{}, decodeAs: map[int32]string{}}
	next := int32(len(model.vocab))
	for _, tok := range tokens {
		if tok.Content == "" {
			continue
		}
		id, ok := av.byContent[tok.Content]
		if !ok {
			id, ok = model.vocab[tok.Content]
		}
		if !ok {
			id, next = next, next+1
		}
		if tok.Normalized && norm != nil {
			var tx texts
			tx.reset(tok.Content)
			if s := tx.str(norm.normalize(&tx, piece{0, int32(len(tok.Content)), 0, -1})); s != tok.Content {
				av.decodeAs[id] = s
			}
		}
		tok.ID = id
		av.byContent[tok.Content] = id
		if tok.Special {
			av.special[tok.Content] = true
		}
		av.byID[id] = tok
	}
	av.buildTries()
	return av
}

// buildTries indexes the tokens: normalized ones by their normalized form.
func (av *addedVocab) buildTries() {
	for id, tok := range av.byID {
		if !tok.Normalized {
			if av.raw == nil {
				av.raw = newAddedTrie()
			}
			av.raw.insert(tok.Content, id)
			continue
		}
		s, ok := av.decodeAs[id]
		if !ok {
			s = tok.Content
		}
		if av.norm == nil {
			av.norm = newAddedTrie()
		}
		av.norm.insert(s, id)
	}
}
