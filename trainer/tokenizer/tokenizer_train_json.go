package tokenizer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// bloomPipelineJSON is BLOOM's tokenizer.json around the model: Split on
// BLOOM's pattern (isolated), ByteLevel without regex, ByteLevel
// post-processor and decoder.
const bloomPipelineJSON = `"normalizer":null,` +
	`"pre_tokenizer":{"type":"Sequence","pretokenizers":[` +
	`{"type":"Split","pattern":{"Regex":%s},"behavior":"Isolated","invert":false},` +
	`{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":false}]},` +
	`"post_processor":{"type":"ByteLevel","add_prefix_space":true,"trim_offsets":false,"use_regex":false},` +
	`"decoder":{"type":"ByteLevel","add_prefix_space":true,"trim_offsets":true,"use_regex":false},`

// TokenizerJSON is the trained vocabulary as a Hugging Face tokenizer.json
// with BLOOM's pipeline; the special tokens are added tokens (special,
// not normalized).
func (b *TrainedBPE) TokenizerJSON() []byte {
	var buf bytes.Buffer
	buf.WriteString(`{"version":"1.0","truncation":null,"padding":null,"added_tokens":[`)
	for i, s := range b.SpecialTokens {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(rawJSON(addedToken{ID: b.id(s), Content: s, Special: true}))
	}
	fmt.Fprintf(&buf, `],`+bloomPipelineJSON, rawJSON(bloomPattern))
	buf.WriteString(`"model":{"type":"BPE","dropout":null,"unk_token":null,"continuing_subword_prefix":null,` +
		`"end_of_word_suffix":null,"fuse_unk":false,"byte_fallback":false,"ignore_merges":false,"vocab":{`)
	for id, tok := range b.Vocab {
		if id > 0 {
			buf.WriteByte(',')
		}
		fmt.Fprintf(&buf, "%s:%d", rawJSON(tok), id)
	}
	buf.WriteString(`},"merges":[`)
	for i, m := range b.Merges {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(rawJSON(m))
	}
	buf.WriteString("]}}\n")
	return buf.Bytes()
}

// rawJSON encodes v without escaping <, > and & (special tokens stay
// readable). v is always encodable here.
func rawJSON(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func (b *TrainedBPE) id(tok string) int32 {
	for i, v := range b.Vocab {
		if v == tok {
			return int32(i)
		}
	}
	return -1
}

// Tokenizer loads the trained vocabulary as a Tokenizer.
func (b *TrainedBPE) Tokenizer() (*Tokenizer, error) {
	return Parse("(trained)", b.TokenizerJSON())
}

// WriteFile writes the tokenizer.json to path through a temporary file in
// the same directory, so a failed write leaves nothing under path.
func (b *TrainedBPE) WriteFile(path string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tokenizer-*.json")
	if err != nil {
		return fmt.Errorf("tokenizer: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, bytes.NewReader(b.TokenizerJSON())); err != nil {
		tmp.Close()
		return fmt.Errorf("tokenizer: write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("tokenizer: write %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("tokenizer: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("tokenizer: %w", err)
	}
	return nil
}

// ByteLevel is the tokenizer of byte-level data (trainer/data's embedded
// corpus and ByteTokens): the special tokens <unk>, <s>, </s>, <pad> take
// ids 0-3 and byte b is token 4+b, with no merges, in BLOOM's pipeline, so
// that a model trained on bytes carries a tokenizer.json Hugging Face's
// libraries and ours read, and text prompts reach it unchanged.
func ByteLevel() *TrainedBPE {
	b := &TrainedBPE{SpecialTokens: []string{"<unk>", "<s>", "</s>", "<pad>"}}
	b.Vocab = append(b.Vocab, b.SpecialTokens...)
	for c := range 256 {
		b.Vocab = append(b.Vocab, byteLevelEncode(string([]byte{byte(c)})))
	}
	return b
}
