package tokenizer

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Split patterns are Oniguruma regular expressions. BLOOM's and GPT-2's have
// hand-written scanners; the rest go through Go's regexp after translation:
// \s, \d, \w and \h take their Oniguruma (Unicode) meaning, and a trailing
// `\s+(?!\S)|\s+` (the lookahead RE2 lacks, used by GPT-4 and Llama 3 style
// patterns) is emulated. Go's \p{...} tables may be an older Unicode version
// than Oniguruma's, and \w is an approximation.

// onigSpace is \s as a class body: Unicode White_Space.
const onigSpace = `\t-\r \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}`

// onigWord is \w as a class body.
const onigWord = `\p{L}\p{M}\p{Nd}\p{Pc}`

// spaceTail is the lookahead alternative emulated by regexMatcher.
const spaceTail = `|\s+(?!\S)|\s+`

// newMatcher compiles a Split pattern. The error says what RE2 could not do.
func newMatcher(pattern string) (matcher, error) {
	switch pattern {
	case bloomPattern:
		return bloomScanner{}, nil
	case gpt2Pattern:
		return gpt2Scanner{}, nil
	}
	head, tail := pattern, false
	if strings.HasSuffix(pattern, spaceTail) && len(pattern) > len(spaceTail) {
		head, tail = strings.TrimSuffix(pattern, spaceTail), true
	}
	goHead, err := translateOnig(head)
	if err != nil {
		return nil, err
	}
	if !tail {
		re, err := regexp.Compile(goHead)
		if err != nil {
			return nil, fmt.Errorf("Go's regexp cannot compile %q: %v", pattern, err)
		}
		return &regexMatcher{re: re}, nil
	}
	full, err1 := regexp.Compile("(?:" + goHead + `)|[` + onigSpace + `]+`)
	anchored, err2 := regexp.Compile(`^(?:` + goHead + `)`)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("Go's regexp cannot compile %q", pattern)
	}
	return &regexMatcher{re: full, head: anchored}, nil
}

// regexMatcher runs a translated pattern. With head set, the pattern is
// head|\s+(?!\S)|\s+ and re is head|\s+: a match that head does not make is
// white space, which gives back its last character when a non-space follows.
type regexMatcher struct {
	re   *regexp.Regexp
	head *regexp.Regexp
}

func (m *regexMatcher) find(s string, dst []span) []span {
	if m.head == nil {
		for _, loc := range m.re.FindAllStringIndex(s, -1) {
			dst = append(dst, span{loc[0], loc[1]})
		}
		return dst
	}
	for off := 0; off <= len(s); {
		loc := m.re.FindStringIndex(s[off:])
		if loc == nil {
			break
		}
		lo, hi := off+loc[0], off+loc[1]
		if h := m.head.FindStringIndex(s[lo:]); h != nil {
			hi = lo + h[1]
		} else {
			hi = spaceEnd(s, lo)
		}
		dst = append(dst, span{lo, hi})
		if hi == lo {
			_, n := utf8.DecodeRuneInString(s[hi:])
			hi += max(n, 1)
		}
		off = hi
	}
	return dst
}

// translateOnig rewrites the Oniguruma escapes whose meaning differs in RE2.
func translateOnig(p string) (string, error) {
	var sb strings.Builder
	inClass := 0
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '\\' && i+1 < len(p):
			rep, err := translateEscape(p[i+1], inClass > 0)
			if err != nil {
				return "", fmt.Errorf("pattern %q: %v", p, err)
			}
			if rep == "" {
				rep = p[i : i+2]
			}
			sb.WriteString(rep)
			i++
			continue
		case c == '[':
			inClass++
		case c == ']' && inClass > 0:
			inClass--
		}
		sb.WriteByte(c)
	}
	return sb.String(), nil
}

// translateEscape returns the RE2 text for \e, or "" to keep it as it is.
func translateEscape(e byte, inClass bool) (string, error) {
	body := map[byte]string{'s': onigSpace, 'd': `\p{Nd}`, 'w': onigWord, 'h': `0-9a-fA-F`}
	if b, ok := body[e]; ok {
		if inClass {
			return b, nil
		}
		return "[" + b + "]", nil
	}
	neg := map[byte]string{'S': onigSpace, 'D': `\p{Nd}`, 'W': onigWord, 'H': `0-9a-fA-F`}
	if b, ok := neg[e]; ok {
		if inClass {
			return "", fmt.Errorf(`\%c inside a character class is not supported`, e)
		}
		return "[^" + b + "]", nil
	}
	return "", nil
}
