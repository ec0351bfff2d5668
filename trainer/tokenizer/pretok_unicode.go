package tokenizer

import "sort"

// Character classes as Hugging Face tokenizers' regex engine (Oniguruma)
// sees them: \p{L}, \p{N} and \s. The tables in pretok_unicode_tables.go come
// from the library itself (scripts/tokenizer/gen_unicode.js), so the
// hand-written pre-tokenizers split exactly as it does even where Go's
// unicode package is on an older Unicode version.
const (
	classOther  uint8 = iota // none of the below
	classLetter              // \p{L}
	classNumber              // \p{N}
	classSpace               // \s (Unicode White_Space)
)

// bmpClass is the class of every code point below U+10000, built once.
var bmpClass = func() *[0x10000]uint8 {
	var t [0x10000]uint8
	fill := func(ranges [][2]rune, c uint8) {
		for _, r := range ranges {
			for x := r[0]; x <= r[1] && x < 0x10000; x++ {
				t[x] = c
			}
		}
	}
	fill(hfLetterRanges, classLetter)
	fill(hfNumberRanges, classNumber)
	fill(hfSpaceRanges, classSpace)
	return &t
}()

// runeClass returns the class of r.
func runeClass(r rune) uint8 {
	if r >= 0 && r < 0x10000 {
		return bmpClass[r]
	}
	switch {
	case inRanges(hfLetterRanges, r):
		return classLetter
	case inRanges(hfNumberRanges, r):
		return classNumber
	}
	return classOther
}

// inRanges reports whether r lies in one of the sorted, disjoint ranges.
func inRanges(ranges [][2]rune, r rune) bool {
	i := sort.Search(len(ranges), func(i int) bool { return ranges[i][1] >= r })
	return i < len(ranges) && ranges[i][0] <= r
}

// isSpace is \s: Unicode White_Space (the same 25 code points Go's
// unicode.IsSpace accepts).
func isSpace(r rune) bool { return r >= 0 && r < 0x10000 && bmpClass[r] == classSpace }
