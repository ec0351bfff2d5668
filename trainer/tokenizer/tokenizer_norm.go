package tokenizer

import (
	"sort"
	"strings"
	"unicode/utf8"
)

// normalizer rewrites a piece's text, keeping each byte's input span.
type normalizer interface {
	normalize(tx *texts, p piece) piece
}

// lowercaseNorm is the Lowercase normalizer (Rust's char::to_lowercase).
type lowercaseNorm struct{}

func (lowercaseNorm) normalize(tx *texts, p piece) piece {
	s := tx.str(p)
	lower := rustLower(s)
	if lower == s {
		return p
	}
	align := make([]span, 0, len(lower))
	for i, r := range s {
		sp := tx.origSpan(p, i)
		for range len(rustLowerRune(r)) {
			align = append(align, sp)
		}
	}
	return tx.add(lower, align, p.added)
}

// rustLower lowercases s as Rust's str::chars().flat_map(to_lowercase)
// does, with the library's own table (pretok_unicode_tables.go).
func rustLower(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		ascii = ascii && s[i] < utf8.RuneSelf
	}
	if ascii {
		return strings.ToLower(s)
	}
	var sb strings.Builder
	sb.Grow(len(s))
	for _, r := range s {
		sb.WriteString(rustLowerRune(r))
	}
	return sb.String()
}

// rustLowerRune is the full lowercase mapping of r (İ becomes two runes).
func rustLowerRune(r rune) string {
	if r < utf8.RuneSelf {
		if 'A' <= r && r <= 'Z' {
			r += 'a' - 'A'
		}
		return string(r)
	}
	i := sort.Search(len(hfLower), func(i int) bool { return hfLower[i].r >= r })
	if i < len(hfLower) && hfLower[i].r == r {
		return hfLower[i].lower
	}
	return string(r)
}

// sequenceNorm applies normalizers in order.
type sequenceNorm []normalizer

func (s sequenceNorm) normalize(tx *texts, p piece) piece {
	for _, n := range s {
		p = n.normalize(tx, p)
	}
	return p
}
