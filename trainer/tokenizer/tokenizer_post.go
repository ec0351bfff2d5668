package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// postProcessor adds special tokens around an encoding and may trim
// offsets, as Hugging Face's post-processors do for a single sequence.
type postProcessor interface {
	process(e *Encoding, addSpecial bool)
}

// byteLevelPost is the ByteLevel post-processor: it only trims offsets.
type byteLevelPost struct{ trimOffsets, addPrefixSpace bool }

func (b byteLevelPost) process(e *Encoding, _ bool) {
	if b.trimOffsets {
		trimOffsets(e, b.addPrefixSpace)
	}
}

// robertaPost is RobertaProcessing: optional trimming, then <s> A </s>.
type robertaPost struct {
	sep, cls                    specialRef
	trimOffsets, addPrefixSpace bool
}

func (r robertaPost) process(e *Encoding, addSpecial bool) {
	if r.trimOffsets {
		trimOffsets(e, r.addPrefixSpace)
	}
	if addSpecial {
		e.wrap([]specialRef{r.cls}, []specialRef{r.sep})
	}
}

// bertPost is BertProcessing: [CLS] A [SEP].
type bertPost struct{ sep, cls specialRef }

func (b bertPost) process(e *Encoding, addSpecial bool) {
	if addSpecial {
		e.wrap([]specialRef{b.cls}, []specialRef{b.sep})
	}
}

// templatePost is TemplateProcessing's single-sequence template: special
// tokens before and after the sequence ($A).
type templatePost struct{ before, after []specialRef }

func (t templatePost) process(e *Encoding, addSpecial bool) {
	if addSpecial {
		e.wrap(t.before, t.after)
	}
}

// sequencePost runs post-processors in order.
type sequencePost []postProcessor

func (s sequencePost) process(e *Encoding, addSpecial bool) {
	for _, p := range s {
		p.process(e, addSpecial)
	}
}

// specialRef is a token a post-processor inserts.
type specialRef struct {
	token string
	id    int32
}

// wrap puts tokens before and after e, with empty offsets.
func (e *Encoding) wrap(before, after []specialRef) {
	n := len(before) + len(e.IDs) + len(after)
	ids := make([]int32, 0, n)
	toks := make([]string, 0, n)
	offs := make([][2]int, 0, n)
	for _, s := range before {
		ids, toks, offs = append(ids, s.id), append(toks, s.token), append(offs, [2]int{})
	}
	ids, toks, offs = append(ids, e.IDs...), append(toks, e.Tokens...), append(offs, e.Offsets...)
	for _, s := range after {
		ids, toks, offs = append(ids, s.id), append(toks, s.token), append(offs, [2]int{})
	}
	e.IDs, e.Tokens, e.Offsets = ids, toks, offs
}

// trimOffsets is Hugging Face's byte-level process_offsets: a token's
// offsets leave out its leading and trailing spaces ('Ġ' or white space),
// except the space add_prefix_space put before the first word.
func trimOffsets(e *Encoding, addPrefixSpace bool) {
	for i, tok := range e.Tokens {
		lead, trail := countSpaces(tok)
		if lead == 0 && trail == 0 {
			continue
		}
		o := &e.Offsets[i]
		if lead > 0 {
			if (i == 0 || o[0] == 0) && addPrefixSpace && lead == 1 {
				lead = 0
			}
			o[0] = min(o[0]+lead, o[1])
		}
		if trail > 0 && o[1] >= trail {
			o[1] = max(o[1]-trail, o[0])
		}
	}
}

// countSpaces counts the characters at each end of tok that are 'Ġ' or
// white space.
func countSpaces(tok string) (lead, trail int) {
	isSp := func(r rune) bool { return r == 'Ġ' || unicode.IsSpace(r) }
	rest := tok
	for rest != "" {
		r, n := utf8.DecodeRuneInString(rest)
		if !isSp(r) {
			break
		}
		lead, rest = lead+1, rest[n:]
	}
	for rest = tok; rest != ""; {
		r, n := utf8.DecodeLastRuneInString(rest)
		if !isSp(r) {
			break
		}
		trail, rest = trail+1, rest[:len(rest)-n]
	}
	return lead, trail
}
