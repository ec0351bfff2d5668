package tokenizer

import "strings"

// decoder turns token strings back into text pieces (Hugging Face's
// decode_chain); the pieces are then concatenated.
type decoder interface {
	decodeChain(tokens []string) []string
}

// byteLevelDecoder maps byte-level characters back to bytes and the bytes
// to text, replacing invalid UTF-8 as Rust's from_utf8_lossy does. A token
// with a character outside the alphabet is taken as it is.
type byteLevelDecoder struct{}

func (byteLevelDecoder) decodeChain(tokens []string) []string {
	var raw []byte
	for _, t := range tokens {
		if b, ok := byteLevelDecode(t); ok {
			raw = append(raw, b...)
		} else {
			raw = append(raw, t...)
		}
	}
	return []string{lossyUTF8(raw)}
}

// sequenceDecoder chains decoders.
type sequenceDecoder []decoder

func (s sequenceDecoder) decodeChain(tokens []string) []string {
	for _, d := range s {
		tokens = d.decodeChain(tokens)
	}
	return tokens
}

// decodeTokens runs d over tokens; with no decoder the tokens are joined
// with spaces, as Hugging Face does.
func decodeTokens(d decoder, tokens []string) string {
	if d == nil {
		return strings.Join(tokens, " ")
	}
	return strings.Join(d.decodeChain(tokens), "")
}
