package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestSplitMatchesHF runs Split pre-tokenizers (every behaviour, invert,
// String and Regex patterns, and the patterns RE2 cannot compile as they
// are) and wants the pieces Hugging Face's library makes.
func TestSplitMatchesHF(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(refDir, "pretok.ref.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Strings []string `json:"strings"`
		Splits  []struct {
			PreTokenizer json.RawMessage `json:"pre_tokenizer"`
			Pieces       [][]string      `json:"pieces"`
		} `json:"splits"`
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	for _, sp := range ref.Splits {
		pre, _, err := parsePreTokenizer(sp.PreTokenizer)
		if err != nil {
			t.Errorf("%s: %v", sp.PreTokenizer, err)
			continue
		}
		bad := 0
		for i, s := range ref.Strings {
			got := preTokenize(pre[0], s)
			if !slices.Equal(got, sp.Pieces[i]) && !(len(got) == 0 && len(sp.Pieces[i]) == 0) {
				if bad++; bad <= 3 {
					t.Errorf("%s\n  on %q:\n  got  %q\n  want %q", sp.PreTokenizer, s, got, sp.Pieces[i])
				}
			}
		}
	}
}

// preTokenize runs one pre-tokenizer over s and returns the pieces' text.
func preTokenize(pt preTokenizer, s string) []string {
	st := &encodeState{}
	st.reset(s)
	var out []string
	if s == "" {
		return out
	}
	for _, p := range pt.split(st, piece{0, int32(len(s)), 0, -1}, nil) {
		out = append(out, st.str(p))
	}
	return out
}

func TestLoadErrorsNameFileAndComponent(t *testing.T) {
	model := `"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]}`
	for _, c := range []struct{ json, want string }{
		{`{`, "not a tokenizer.json"},
		{`{"version":"2.0",` + model + `}`, "version"},
		{`{"model":{"type":"WordPiece","vocab":{}}}`, "model WordPiece is not supported"},
		{`{"model":{"type":"Unigram","vocab":[]}}`, "model Unigram is not supported"},
		{`{"normalizer":{"type":"NFC"},` + model + `}`, "normalizer NFC is not supported"},
		{`{"pre_tokenizer":{"type":"Metaspace"},` + model + `}`, "pre_tokenizer Metaspace is not supported"},
		{`{"pre_tokenizer":{"type":"Split","pattern":{"Regex":"(?<=a)b"},"behavior":"Isolated","invert":false},` + model + `}`, "pre_tokenizer Split"},
		{`{"pre_tokenizer":{"type":"Split","pattern":{"Regex":"a"},"behavior":"Sideways","invert":false},` + model + `}`, "behavior"},
		{`{"post_processor":{"type":"BertProcessing","sep":["x"]},` + model + `}`, "post_processor BertProcessing"},
		{`{"decoder":{"type":"WordPiece"},` + model + `}`, "decoder WordPiece is not supported"},
		{`{"model":{"type":"BPE","vocab":{"a":0},"merges":["a b"]}}`, "merge 1"},
		{`{"model":{"type":"BPE","vocab":{"a":0},"merges":["a b c"]}}`, "merge 1"},
		{`{"model":{"type":"BPE","vocab":{"a":-1},"merges":[]}}`, "model.vocab"},
		{`{"model":{"type":"BPE","vocab":{"a":0},"merges":[],"unk_token":"<unk>"}}`, "unk_token"},
		{`{"model":{"type":"BPE","vocab":{"a":0},"merges":[],"dropout":0.1}}`, "dropout"},
		{`{"model":{"type":"BPE","vocab":{"a":0}}}`, "vocab and merges"},
	} {
		_, err := Parse("tok.json", []byte(c.json))
		if err == nil || !strings.Contains(err.Error(), "tok.json") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error naming tok.json and %q", c.json, err, c.want)
		}
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("a missing file loads")
	}
}
