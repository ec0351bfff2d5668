package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// GPT-2's byte-level alphabet: every byte gets a printable character, so a
// byte-level BPE vocabulary is a set of strings. Bytes that are printable in
// Latin-1 map to themselves; the rest map to U+0100 and up, in byte order
// (the space 0x20 becomes 'Ġ' U+0120). Hugging Face calls this bytes_char.
var (
	byteToRune [256]rune     // byte → its byte-level character
	runeToByte map[rune]byte // the inverse, for decoding
	byteToStr  [256]string   // byteToRune as one-character strings
)

func init() {
	n := rune(0)
	runeToByte = make(map[rune]byte, 256)
	for b := 0; b < 256; b++ {
		r := rune(b)
		if !bytePrintable(byte(b)) {
			r = 256 + n
			n++
		}
		byteToRune[b] = r
		runeToByte[r] = byte(b)
		byteToStr[b] = string(r)
	}
}

// bytePrintable reports whether GPT-2 keeps byte b as the character of the
// same code point: '!'..'~', '¡'..'¬' and '®'..'ÿ'.
func bytePrintable(b byte) bool {
	return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE)
}

// byteLevelEncode maps raw bytes to their byte-level string.
func byteLevelEncode(s string) string {
	var sb strings.Builder
	sb.Grow(2 * len(s))
	for i := 0; i < len(s); i++ {
		sb.WriteString(byteToStr[s[i]])
	}
	return sb.String()
}

// byteLevelDecode maps a byte-level string back to raw bytes. ok is false
// when some character is outside the alphabet (the string is then not a
// byte-level token, as an added token such as "hello world" is not).
func byteLevelDecode(s string) (raw []byte, ok bool) {
	raw = make([]byte, 0, len(s))
	for _, r := range s {
		b, in := runeToByte[r]
		if !in {
			return nil, false
		}
		raw = append(raw, b)
	}
	return raw, true
}

// lossyUTF8 turns bytes into a string as Rust's String::from_utf8_lossy
// does: each maximal ill-formed subsequence becomes one U+FFFD (the Unicode
// "substitution of maximal subparts" practice). Go's own conversions replace
// differently, so decoding needs this to match Hugging Face.
func lossyUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var sb strings.Builder
	sb.Grow(len(b) + 8)
	for i := 0; i < len(b); {
		if b[i] < utf8.RuneSelf {
			sb.WriteByte(b[i])
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r != utf8.RuneError || n > 1 {
			sb.Write(b[i : i+n])
			i += n
			continue
		}
		sb.WriteRune(utf8.RuneError)
		i += maximalSubpart(b[i:])
	}
	return sb.String()
}

// maximalSubpart is the length of the ill-formed prefix of b that one U+FFFD
// replaces: the lead byte plus every continuation byte that could still have
// completed a valid sequence (at least 1).
func maximalSubpart(b []byte) int {
	lead := b[0]
	var need int
	lo, hi := byte(0x80), byte(0xBF) // allowed range of the second byte
	switch {
	case lead >= 0xC2 && lead <= 0xDF:
		need = 1
	case lead == 0xE0:
		need, lo = 2, 0xA0
	case lead >= 0xE1 && lead <= 0xEC, lead == 0xEE, lead == 0xEF:
		need = 2
	case lead == 0xED:
		need, hi = 2, 0x9F
	case lead == 0xF0:
		need, lo = 3, 0x90
	case lead >= 0xF1 && lead <= 0xF3:
		need = 3
	case lead == 0xF4:
		need, hi = 3, 0x8F
	default:
		return 1
	}
	n := 1
	for k := 0; k < need && n < len(b); k++ {
		c := b[n]
		if k == 0 && (c < lo || c > hi) || k > 0 && (c < 0x80 || c > 0xBF) {
			break
		}
		n++
	}
	return n
}
