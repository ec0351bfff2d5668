package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// ErrFormat is wrapped by every error about a tokenizer.json file.
var ErrFormat = errors.New("tokenizer: bad tokenizer.json")

// Tokenizer is a Hugging Face tokenizer.json with a BPE model, byte-level
// or not: added tokens, normalizer, pre-tokenizer, model, post-processor and
// decoder. Encode and Decode give what the Hugging Face tokenizers library
// gives, id for id. A Tokenizer is safe for concurrent use.
type Tokenizer struct {
	name    string // the file, for messages
	added   *addedVocab
	norm    normalizer
	pre     []preTokenizer
	model   *bpeModel
	post    postProcessor
	decoder decoder

	before, after []specialRef      // what post adds around a sequence
	states        chan *encodeState // free encoder states, with warm caches
}

// Encoding is one encoded text. Offsets[i] is the half-open range of the
// input that token i came from: bytes by default, characters (code points)
// with EncodeOptions.CharOffsets. A token that covers part of a character
// (byte-level BPE splits characters) reports the whole character, and
// tokens the post-processor adds report [0, 0], as in Hugging Face.
type Encoding struct {
	IDs     []int32
	Tokens  []string
	Offsets [][2]int
}

// EncodeOptions changes what Encode does. The zero value is Hugging Face's
// default.
type EncodeOptions struct {
	// NoSpecialTokens leaves out the tokens the post-processor adds
	// (Hugging Face's add_special_tokens=False).
	NoSpecialTokens bool
	// CharOffsets reports offsets in characters, as the library's Python
	// and Node bindings do, instead of bytes.
	CharOffsets bool
}

// Load reads a tokenizer.json, or the tokenizer.json in the
// directory path.
func Load(path string) (*Tokenizer, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, "tokenizer.json")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	return Parse(path, b)
}

// Parse builds a Tokenizer from the bytes of a tokenizer.json;
// name is the file, for messages. It does not keep b.
func Parse(name string, b []byte) (*Tokenizer, error) {
	t, err := parseTokenizer(name, b)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrFormat, name, err)
	}
	return t, nil
}

func parseTokenizer(name string, b []byte) (*Tokenizer, error) {
	var f tokenizerFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("not a tokenizer.json: %v", err)
	}
	if f.Version != nil && *f.Version != "1.0" {
		return nil, fmt.Errorf("unknown tokenizer version %q (want 1.0)", *f.Version)
	}
	t := &Tokenizer{name: name, states: make(chan *encodeState, 2*runtime.GOMAXPROCS(0))}
	var byteLevel bool
	var err error
	if t.norm, err = parseNormalizer(f.Normalizer); err != nil {
		return nil, err
	}
	if t.pre, byteLevel, err = parsePreTokenizer(f.PreTokenizer); err != nil {
		return nil, err
	}
	if t.model, err = parseBPE(f.Model, byteLevel); err != nil {
		return nil, err
	}
	if t.post, err = parsePostProcessor(f.PostProcessor); err != nil {
		return nil, err
	}
	if t.decoder, err = parseDecoder(f.Decoder); err != nil {
		return nil, err
	}
	t.added = newAddedVocab(f.AddedTokens, t.model, t.norm)
	t.before, t.after = t.specialsAround()
	return t, nil
}

// specialsAround runs the post-processor on an empty encoding to learn the
// tokens it puts before and after a sequence.
func (t *Tokenizer) specialsAround() (before, after []specialRef) {
	if t.post == nil {
		return nil, nil
	}
	marker := int32(-1)
	e := Encoding{IDs: []int32{marker}, Tokens: []string{""}, Offsets: [][2]int{{}}}
	t.post.process(&e, true)
	for i, id := range e.IDs {
		if id == marker {
			for j := range e.IDs[i+1:] {
				after = append(after, specialRef{e.Tokens[i+1+j], e.IDs[i+1+j]})
			}
			return before, after
		}
		before = append(before, specialRef{e.Tokens[i], id})
	}
	return before, after
}

// Name is the file the tokenizer was read from.
func (t *Tokenizer) Name() string { return t.name }

// VocabSize is one more than the largest token id, added tokens included:
// the size an embedding table needs.
func (t *Tokenizer) VocabSize() int {
	n := len(t.model.vocabR)
	for id := range t.added.byID {
		n = max(n, int(id)+1)
	}
	return n
}

// TokenToID returns the id of a token string (added tokens first).
func (t *Tokenizer) TokenToID(token string) (int32, bool) {
	if id, ok := t.added.byContent[token]; ok {
		return id, true
	}
	id, ok := t.model.vocab[token]
	return id, ok
}

// IDToToken returns the string of a token id (added tokens first).
func (t *Tokenizer) IDToToken(id int32) (string, bool) {
	if tok, ok := t.added.byID[id]; ok {
		return tok.Content, true
	}
	return t.model.token(id)
}

// Decode turns ids back into text. Unknown ids are skipped; with
// skipSpecial, so are special tokens.
func (t *Tokenizer) Decode(ids []int32, skipSpecial bool) string {
	tokens := make([]string, 0, len(ids))
	for _, id := range ids {
		tok, ok := t.added.decodeAs[id]
		if !ok {
			if tok, ok = t.IDToToken(id); !ok {
				continue
			}
		}
		if skipSpecial && t.added.special[tok] {
			continue
		}
		tokens = append(tokens, tok)
	}
	return decodeTokens(t.decoder, tokens)
}
