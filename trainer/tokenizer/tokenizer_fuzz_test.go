package tokenizer

import (
	"path/filepath"
	"slices"
	"testing"
	"unicode/utf8"
)

// tinyTokenizer is a small tokenizer.json with one of everything, the seed
// FuzzParse mutates.
const tinyTokenizer = `{"version":"1.0","added_tokens":[
 {"id":0,"content":"<s>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true},
 {"id":6,"content":"hi","single_word":true,"lstrip":true,"rstrip":true,"normalized":true,"special":false}],
 "normalizer":{"type":"Sequence","normalizers":[{"type":"Lowercase"}]},
 "pre_tokenizer":{"type":"Sequence","pretokenizers":[
  {"type":"Split","pattern":{"Regex":"\\d+|\\s+(?!\\S)|\\s+"},"behavior":"MergedWithNext","invert":false},
  {"type":"Split","pattern":{"String":"-"},"behavior":"Removed","invert":true},
  {"type":"ByteLevel","add_prefix_space":true,"trim_offsets":true,"use_regex":true}]},
 "post_processor":{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"<s>","type_id":0}},{"Sequence":{"id":"A","type_id":0}}],
  "special_tokens":{"<s>":{"id":"<s>","ids":[0],"tokens":["<s>"]}}},
 "decoder":{"type":"ByteLevel"},
 "model":{"type":"BPE","unk_token":"<s>","fuse_unk":true,"vocab":{"<s>":0,"a":1,"b":2,"ab":3,"Ġ":4,"Ġab":5},"merges":["a b",["Ġ","ab"]]}}`

func FuzzParse(f *testing.F) {
	f.Add([]byte(tinyTokenizer))
	f.Add([]byte(`{"model":{"type":"BPE","vocab":{"a":0},"merges":[]}}`))
	f.Add([]byte(`{"pre_tokenizer":{"type":"Split","pattern":{"Regex":" ?[^(\s|[.,!?…。，、।۔،])]+"},"behavior":"Isolated","invert":false},` +
		`"model":{"vocab":{"a":0,"b":1,"c":2,"ab":3},"merges":[["a","b"]],"byte_fallback":true,"continuing_subword_prefix":"##"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		tok, err := Parse("fuzz.json", b)
		if err != nil {
			return
		}
		for _, s := range []string{"", "ab ab-12  hi\t<s>", "日本 😀\u00a0x"} {
			e := tok.EncodeWith(s, EncodeOptions{CharOffsets: true})
			if len(e.IDs) != len(e.Tokens) || len(e.IDs) != len(e.Offsets) {
				t.Fatalf("ragged encoding of %q", s)
			}
			tok.Decode(e.IDs, false)
			tok.Decode(append(e.IDs, -1, 1<<30), true)
		}
	})
}

// FuzzEncodeDecode: with every byte in the vocabulary (our trainer's file),
// decoding an encoding gives the text back, the fast path agrees, and
// offsets stay inside the text, in order.
func FuzzEncodeDecode(f *testing.F) {
	tok, err := Load(filepath.Join(refDir, "go_trained.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"", "Hello, world!", "a  b\t\nc", "<s>x</s>", "日本語 😀 👨‍👩‍👧‍👦", "نص۔آخر", "हिन्दी।", " ?(|)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			tok.EncodeWith(s, EncodeOptions{CharOffsets: true}) // must not panic
			return
		}
		e := tok.Encode(s)
		if got := tok.Decode(e.IDs, false); got != s {
			t.Fatalf("Decode(Encode(%q)) = %q (ids %v)", s, got, e.IDs)
		}
		if ids := tok.AppendIDs(nil, s); !slices.Equal(ids, e.IDs) {
			t.Fatalf("AppendIDs(%q) = %v, Encode gives %v", s, ids, e.IDs)
		}
		prev := 0
		for i, o := range e.Offsets {
			if o[0] < prev || o[0] > o[1] || o[1] > len(s) {
				t.Fatalf("%q: offsets %v of token %d out of order", s, o, i)
			}
			prev = o[0]
		}
	})
}

// TestConcurrentEncode shares one Tokenizer between goroutines.
func TestConcurrentEncode(t *testing.T) {
	tok, ref := loadRef(t, "gpt2")
	errs := make(chan string, 4)
	for g := 0; g < 4; g++ {
		go func() {
			bad := ""
			for i := range ref.Cases {
				c := ref.Cases[(i*7+g)%len(ref.Cases)]
				if ids := tok.AppendIDs(nil, c.Text); !slices.Equal(ids, c.IDs) && bad == "" {
					bad = c.Text
				}
			}
			errs <- bad
		}()
	}
	for g := 0; g < 4; g++ {
		if bad := <-errs; bad != "" {
			t.Errorf("concurrent encoding of %q differs", bad)
		}
	}
}
