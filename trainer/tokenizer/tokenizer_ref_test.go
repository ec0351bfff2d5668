package tokenizer

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// The reference files come from scripts/tokenizer/gen_reference.js, which
// runs Hugging Face's tokenizers library (its napi binding of the Rust
// code). Every comparison is exact: ids, token strings, offsets and decodes.
const refDir = "testdata"

type refCase struct {
	Text         string   `json:"text"`
	IDs          []int32  `json:"ids"`
	Tokens       []string `json:"tokens"`
	Offsets      [][2]int `json:"offsets"`
	Decoded      string   `json:"decoded"`
	DecodedSkip  *string  `json:"decoded_skip"` // nil: as Decoded
	IDsNoSpecial []int32  `json:"ids_no_special"`
}

type refDecode struct {
	IDs  []int32 `json:"ids"`
	Text string  `json:"text"`
	Skip string  `json:"skip"`
}

type refFile struct {
	Generator string      `json:"generator"`
	Format    int         `json:"format"`
	Library   string      `json:"library"`
	Tokenizer string      `json:"tokenizer"`
	Cases     []refCase   `json:"cases"`
	Decodes   []refDecode `json:"decodes"`
}

func loadRef(t testing.TB, name string) (*Tokenizer, refFile) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(refDir, name+".ref.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref refFile
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	if ref.Format != 1 {
		t.Fatalf("%s: reference format %d, want 1", name, ref.Format)
	}
	tok, err := Load(filepath.Join(refDir, ref.Tokenizer))
	if err != nil {
		t.Fatal(err)
	}
	return tok, ref
}

func TestTokenizerMatchesHF(t *testing.T) {
	for _, name := range []string{"bloom", "gpt2", "added", "lower", "chars", "ignore", "go_trained"} {
		t.Run(name, func(t *testing.T) {
			if _, err := os.Stat(filepath.Join(refDir, name+".ref.json")); err != nil && name == "go_trained" {
				t.Skip("no Go-trained reference")
			}
			tok, ref := loadRef(t, name)
			bad := 0
			for _, c := range ref.Cases {
				if msg := checkCase(tok, c); msg != "" {
					if bad++; bad <= 8 {
						t.Errorf("%q (%s):\n%s", c.Text, ref.Library, msg)
					}
				}
			}
			for _, d := range ref.Decodes {
				if got := tok.Decode(d.IDs, false); got != d.Text {
					t.Errorf("Decode(%v) = %q, want %q", d.IDs, got, d.Text)
				}
				if got := tok.Decode(d.IDs, true); got != d.Skip {
					t.Errorf("Decode(%v, skip) = %q, want %q", d.IDs, got, d.Skip)
				}
			}
			if bad > 0 {
				t.Errorf("%d of %d encodings differ", bad, len(ref.Cases))
			}
		})
	}
}

// checkCase compares one encoding with the library's; "" when equal.
func checkCase(tok *Tokenizer, c refCase) string {
	e := tok.EncodeWith(c.Text, EncodeOptions{CharOffsets: true})
	var msg string
	if !slices.Equal(e.IDs, c.IDs) {
		msg += fmt.Sprintf("  ids    %v\n  want   %v\n", e.IDs, c.IDs)
	}
	if !slices.Equal(e.Tokens, c.Tokens) {
		msg += fmt.Sprintf("  tokens %q\n  want   %q\n", e.Tokens, c.Tokens)
	}
	if !slices.Equal(e.Offsets, c.Offsets) && !(len(e.Offsets) == 0 && len(c.Offsets) == 0) {
		msg += fmt.Sprintf("  offsets %v\n  want    %v\n", e.Offsets, c.Offsets)
	}
	if ids := tok.AppendIDs(nil, c.Text); !slices.Equal(ids, c.IDs) {
		msg += fmt.Sprintf("  AppendIDs %v\n", ids)
	}
	if c.IDsNoSpecial != nil {
		if ids := tok.EncodeWith(c.Text, EncodeOptions{NoSpecialTokens: true}).IDs; !slices.Equal(ids, c.IDsNoSpecial) {
			msg += fmt.Sprintf("  no special %v\n  want       %v\n", ids, c.IDsNoSpecial)
		}
	}
	if d := tok.Decode(c.IDs, false); d != c.Decoded {
		msg += fmt.Sprintf("  decoded %q\n  want    %q\n", d, c.Decoded)
	}
	skip := c.Decoded
	if c.DecodedSkip != nil {
		skip = *c.DecodedSkip
	}
	if d := tok.Decode(c.IDs, true); d != skip {
		msg += fmt.Sprintf("  decoded (skip) %q\n  want           %q\n", d, skip)
	}
	return msg
}
