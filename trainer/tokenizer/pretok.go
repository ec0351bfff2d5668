package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// span is a half-open byte range [lo, hi).
type span struct{ lo, hi int }

// piece is one split of the input on its way to the model, as Hugging
// Face's NormalizedString is: a range of a text the encoder holds (the
// input, or a normalized or space-prefixed copy) whose every byte knows the
// input span it came from. It holds no pointers, so the encoder moves
// pieces around without the garbage collector's help.
type piece struct {
	lo, hi int32 // the bytes of texts[buf]
	buf    int32 // 0: the input itself; else a text with explicit spans
	added  int32 // the id when this piece is an added token, else -1
}

// texts is the text of pieces: texts[0] is the input, the others derived
// from it, each with the input span of every byte (aligns[0] is nil: the
// input's bytes map to the characters they belong to).
type texts struct {
	text  []string
	align [][]span
}

func (tx *texts) reset(input string) {
	clear(tx.text)
	clear(tx.align)
	tx.text = append(tx.text[:0], input)
	tx.align = append(tx.align[:0], nil)
}

// str is the text of p.
func (tx *texts) str(p piece) string { return tx.text[p.buf][p.lo:p.hi] }

// add keeps a derived text and returns a piece that covers it.
func (tx *texts) add(s string, align []span, added int32) piece {
	tx.text = append(tx.text, s)
	tx.align = append(tx.align, align)
	return piece{0, int32(len(s)), int32(len(tx.text) - 1), added}
}

// sub returns bytes [a, b) of p as a piece of its own.
func (p piece) sub(a, b int) piece {
	return piece{p.lo + int32(a), p.lo + int32(b), p.buf, -1}
}

// origSpan returns the input span of byte i of p: the whole character it
// came from, as Hugging Face aligns byte-level characters.
func (tx *texts) origSpan(p piece, i int) span {
	k := int(p.lo) + i
	if p.buf != 0 {
		return tx.align[p.buf][k]
	}
	src := tx.text[0]
	lo, hi := k, k+1
	for lo > 0 && !utf8.RuneStart(src[lo]) {
		lo--
	}
	for hi < len(src) && !utf8.RuneStart(src[hi]) {
		hi++
	}
	return span{lo, hi}
}

// spanOf is the input span of bytes [lo, hi) of p.
func (tx *texts) spanOf(p piece, lo, hi int) span {
	return span{tx.origSpan(p, lo).lo, tx.origSpan(p, hi-1).hi}
}

// spans lists the input span of every byte of p.
func (tx *texts) spans(p piece) []span {
	if p.buf != 0 {
		return tx.align[p.buf][p.lo:p.hi]
	}
	out := make([]span, p.hi-p.lo)
	for i := range out {
		out[i] = tx.origSpan(p, i)
	}
	return out
}

// prependSpace puts a space before p, aligned with p's first character, as
// ByteLevel's add_prefix_space does.
func (tx *texts) prependSpace(p piece) piece {
	sp := tx.spans(p)
	align := append(append(make([]span, 0, len(sp)+1), sp[0]), sp...)
	return tx.add(" "+tx.str(p), align, p.added)
}

// preTokenizer splits a piece into smaller ones, appending them to dst.
type preTokenizer interface {
	split(st *encodeState, p piece, dst []piece) []piece
}

// matcher finds the matches of a Split pattern in s: leftmost first, without
// overlap, in order.
type matcher interface {
	find(s string, dst []span) []span
}

// splitBehavior says what Split does with each match (Hugging Face's
// SplitDelimiterBehavior).
type splitBehavior uint8

const (
	splitRemoved splitBehavior = iota
	splitIsolated
	splitMergedWithPrevious
	splitMergedWithNext
	splitContiguous
)

var splitBehaviors = map[string]splitBehavior{
	"Removed": splitRemoved, "Isolated": splitIsolated, "MergedWithPrevious": splitMergedWithPrevious,
	"MergedWithNext": splitMergedWithNext, "Contiguous": splitContiguous,
}

// splitPre is the Split pre-tokenizer.
type splitPre struct {
	m        matcher
	behavior splitBehavior
	invert   bool
}

// flagged is a span of the input and whether it is a match.
type flagged struct {
	span
	match bool
}

func (sp *splitPre) split(st *encodeState, p piece, dst []piece) []piece {
	s := st.str(p)
	st.matches = sp.m.find(s, st.matches[:0])
	st.flags = cover(s, st.matches, st.flags[:0])
	for _, f := range sp.apply(st.flags) {
		if f.hi > f.lo && !f.match {
			dst = append(dst, p.sub(f.lo, f.hi))
		}
	}
	return dst
}

// cover turns matches into flagged spans that cover all of s, as Hugging
// Face's Pattern::find_matches does (empty matches included), appending
// them to out.
func cover(s string, matches []span, out []flagged) []flagged {
	prev := 0
	for _, m := range matches {
		if prev != m.lo {
			out = append(out, flagged{span{prev, m.lo}, false})
		}
		out = append(out, flagged{m, true})
		prev = m.hi
	}
	if prev != len(s) {
		out = append(out, flagged{span{prev, len(s)}, false})
	}
	return out
}

// apply inverts the flags if asked and applies the behaviour. In the result
// match marks spans to remove.
func (sp *splitPre) apply(in []flagged) []flagged {
	if sp.invert {
		for i := range in {
			in[i].match = !in[i].match
		}
	}
	switch sp.behavior {
	case splitRemoved:
		return in
	case splitIsolated:
		for i := range in {
			in[i].match = false
		}
		return in
	case splitContiguous:
		return mergeRuns(in, func(m, prev bool) bool { return m == prev })
	case splitMergedWithPrevious:
		return mergeRuns(in, func(m, prev bool) bool { return m && !prev })
	default:
		return mergedWithNext(in)
	}
}

// mergeRuns folds spans left to right: when join(match, previousMatch) holds
// the span extends the last output span, else it starts a new one.
func mergeRuns(in []flagged, join func(m, prev bool) bool) []flagged {
	out := in[:0:0]
	prev := false
	for _, f := range in {
		if join(f.match, prev) && len(out) > 0 {
			out[len(out)-1].hi = f.hi
		} else {
			out = append(out, flagged{f.span, false})
		}
		prev = f.match
	}
	return out
}

// mergedWithNext folds right to left: a match joins the span after it.
func mergedWithNext(in []flagged) []flagged {
	out := make([]flagged, 0, len(in))
	prev := false
	for i := len(in) - 1; i >= 0; i-- {
		f := in[i]
		if f.match && !prev && len(out) > 0 {
			out[len(out)-1].lo = f.lo
		} else {
			out = append(out, flagged{f.span, false})
		}
		prev = f.match
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// byteLevelPre is the ByteLevel pre-tokenizer: an optional leading space,
// the optional GPT-2 split, then (in the model) the byte-level alphabet.
type byteLevelPre struct {
	addPrefixSpace bool
	useRegex       bool
}

func (b *byteLevelPre) split(st *encodeState, p piece, dst []piece) []piece {
	if b.addPrefixSpace && !strings.HasPrefix(st.str(p), " ") {
		p = st.prependSpace(p)
	}
	if !b.useRegex {
		return append(dst, p)
	}
	s := st.str(p)
	for i := 0; i < len(s); {
		j := gpt2End(s, i)
		dst = append(dst, p.sub(i, j))
		i = j
	}
	return dst
}

// literalMatcher matches a fixed string (Split's String pattern).
type literalMatcher string

func (l literalMatcher) find(s string, dst []span) []span {
	if l == "" {
		return dst
	}
	for off := 0; ; {
		i := strings.Index(s[off:], string(l))
		if i < 0 {
			return dst
		}
		dst = append(dst, span{off + i, off + i + len(l)})
		off += i + len(l)
	}
}
