package tokenizer

import "unicode/utf8"

// The two regular expressions byte-level BPE files depend on most, written
// by hand: Go's regexp (RE2) cannot compile either of them.

// gpt2Pattern is GPT-2's pre-tokenizer regex, used by ByteLevel with
// use_regex and by some files as a Split pattern. RE2 lacks the lookahead in
// \s+(?!\S).
const gpt2Pattern = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`

// bloomPattern is BLOOM's Split pattern. In Oniguruma the outer class holds a
// nested class, so it matches an optional space and then one or more
// characters outside { ( ) | . , ! ? … 。 ， 、 । ۔ ، } and white space.
const bloomPattern = ` ?[^(\s|[.,!?…。，、।۔،])]+`

// gpt2Scanner matches gpt2Pattern. Its matches cover the whole input.
type gpt2Scanner struct{}

func (gpt2Scanner) find(s string, dst []span) []span {
	for i := 0; i < len(s); {
		j := gpt2End(s, i)
		dst = append(dst, span{i, j})
		i = j
	}
	return dst
}

// gpt2End returns the end of the gpt2Pattern match that starts at i (every
// character starts one).
func gpt2End(s string, i int) int {
	if s[i] == '\'' {
		if n := contraction(s[i+1:]); n > 0 {
			return i + 1 + n
		}
	}
	r, n := utf8.DecodeRuneInString(s[i:])
	if r == ' ' && i+1 < len(s) {
		r2, n2 := utf8.DecodeRuneInString(s[i+1:])
		if c2 := runeClass(r2); c2 != classSpace {
			return classRunEnd(s, i+1+n2, c2) // ' ?' then a run of one class
		}
	}
	c := runeClass(r)
	if c == classSpace {
		return spaceEnd(s, i)
	}
	return classRunEnd(s, i+n, c)
}

// classRunEnd extends a run of characters of class c (letters, numbers, or
// "other" meaning neither those nor space) from i.
func classRunEnd(s string, i int, c uint8) int {
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		if runeClass(r) != c {
			break
		}
		i += n
	}
	return i
}

// spaceEnd matches \s+(?!\S)|\s+ at i: the white-space run, less its last
// character when more than one precede a non-space.
func spaceEnd(s string, i int) int {
	last, j := i, i
	for j < len(s) {
		r, n := utf8.DecodeRuneInString(s[j:])
		if !isSpace(r) {
			break
		}
		last, j = j, j+n
	}
	if j < len(s) && last > i {
		return last
	}
	return j
}

// contraction returns the length of 's 't 're 've 'm 'll 'd after the quote.
func contraction(s string) int {
	if len(s) == 0 {
		return 0
	}
	switch s[0] {
	case 's', 't', 'm', 'd':
		return 1
	case 'r', 'v':
		if len(s) > 1 && s[1] == 'e' {
			return 2
		}
	case 'l':
		if len(s) > 1 && s[1] == 'l' {
			return 2
		}
	}
	return 0
}

// bloomScanner matches bloomPattern.
type bloomScanner struct{}

func (bloomScanner) find(s string, dst []span) []span {
	for i := 0; i < len(s); {
		start, end := bloomNext(s, i)
		if start < 0 {
			break
		}
		dst = append(dst, span{start, end})
		i = end
	}
	return dst
}

// bloomNext finds the leftmost match at or after i, or -1.
func bloomNext(s string, i int) (int, int) {
	for i < len(s) {
		stop, n := bloomStopAt(s, i)
		if !stop {
			return i, bloomRunEnd(s, i+n)
		}
		if s[i] == ' ' && i+1 < len(s) {
			if stop2, n2 := bloomStopAt(s, i+1); !stop2 {
				return i, bloomRunEnd(s, i+1+n2)
			}
		}
		i += n
	}
	return -1, -1
}

func bloomRunEnd(s string, i int) int {
	for i < len(s) {
		switch bloomByte[s[i]] {
		case bloomPlain:
			i++
			continue
		case bloomStopByte:
			return i
		}
		stop, n := bloomStopAt(s, i)
		if stop {
			return i
		}
		i += n
	}
	return i
}

// bloomStopAt reports whether the character at byte i of s is in BLOOM's
// set (the characters that end a piece: ( ) | . , ! ? … 。 ， 、 । ۔ ، and
// white space), and how many bytes to step over.
func bloomStopAt(s string, i int) (bool, int) {
	switch bloomByte[s[i]] {
	case bloomPlain:
		return false, 1
	case bloomStopByte:
		return true, 1
	}
	r, n := utf8.DecodeRuneInString(s[i:])
	switch r {
	case '…', '。', '，', '、', '।', '۔', '،':
		return true, n
	}
	return isSpace(r), n
}

const (
	bloomPlain    = iota // not in the set, and no character in it starts so
	bloomStopByte        // an ASCII member of the set
	bloomDecode          // the lead byte of a character that may be in it
)

// bloomByte classifies the first byte of a character. Continuation bytes
// are plain: the scan steps over them one at a time.
var bloomByte = func() (t [256]uint8) {
	for _, c := range "()|.,!?\t\n\v\f\r " {
		t[c] = bloomStopByte
	}
	for _, r := range "…。，、।۔،\u0085\u00a0\u1680\u2000\u2028\u202f\u205f\u3000" {
		var b [4]byte
		utf8.EncodeRune(b[:], r)
		t[b[0]] = bloomDecode
	}
	return t
}()
