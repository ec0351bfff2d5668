package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"bloom/trainer/tokenizer"
)

// refTokenizer is a BLOOM-pipeline tokenizer with Hugging Face reference
// encodings beside it (scripts/tokenizer/gen_reference.js).
const refTokenizer = "../trainer/tokenizer/testdata/bloom.json"

func runStdin(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	app := CtlApp()
	var out bytes.Buffer
	app.Reader = strings.NewReader(stdin)
	app.Writer, app.ErrWriter = &out, &out
	err := app.Run(append([]string{"bloomctl"}, args...))
	return out.String(), err
}

func TestTokenizeMatchesReference(t *testing.T) {
	b, err := os.ReadFile(strings.TrimSuffix(refTokenizer, ".json") + ".ref.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Cases []struct {
			Text    string   `json:"text"`
			IDs     []int32  `json:"ids"`
			Tokens  []string `json:"tokens"`
			Decoded string   `json:"decoded"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	var in strings.Builder
	for _, c := range ref.Cases {
		line, _ := json.Marshal(c.Text)
		in.Write(append(line, '\n'))
	}
	// A directory with a tokenizer.json works as well as the file.
	dir := t.TempDir()
	copyFile(t, refTokenizer, filepath.Join(dir, "tokenizer.json"))
	out, err := runStdin(t, in.String(), "tokenize", "--tokenizer", dir)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != len(ref.Cases) {
		t.Fatalf("%d output lines for %d inputs", len(lines), len(ref.Cases))
	}
	var decodeIn strings.Builder
	for i, l := range lines {
		var got struct {
			IDs    []int32  `json:"ids"`
			Tokens []string `json:"tokens"`
		}
		if err := json.Unmarshal([]byte(l), &got); err != nil {
			t.Fatalf("line %d: %v: %s", i+1, err, l)
		}
		if !equalJSON(got.IDs, ref.Cases[i].IDs) || !equalJSON(got.Tokens, ref.Cases[i].Tokens) {
			t.Errorf("%q: got %s, want ids %v tokens %q", ref.Cases[i].Text, l, ref.Cases[i].IDs, ref.Cases[i].Tokens)
		}
		ids, _ := json.Marshal(map[string][]int32{"ids": got.IDs})
		decodeIn.Write(append(ids, '\n'))
	}
	out, err = runStdin(t, decodeIn.String(), "tokenize", "--tokenizer", refTokenizer, "--decode")
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		var got struct{ Text string }
		if err := json.Unmarshal([]byte(l), &got); err != nil || got.Text != ref.Cases[i].Decoded {
			t.Errorf("decode %v: %s, want %q", ref.Cases[i].IDs, l, ref.Cases[i].Decoded)
		}
	}
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestTokenizeDecode(t *testing.T) {
	out, err := runStdin(t, "\"Hello, world! <s>\"\n", "tokenize", "--tokenizer", refTokenizer)
	if err != nil {
		t.Fatal(err)
	}
	var enc struct{ IDs []int32 }
	if err := json.Unmarshal([]byte(out), &enc); err != nil {
		t.Fatal(err)
	}
	ids, _ := json.Marshal(map[string]any{"ids": enc.IDs})
	for skip, want := range map[bool]string{false: "Hello, world! <s>", true: "Hello, world! "} {
		args := []string{"tokenize", "--tokenizer", refTokenizer, "--decode"}
		if skip {
			args = append(args, "--skip-special-tokens")
		}
		out, err := runStdin(t, string(ids)+"\n", args...)
		var got struct{ Text string }
		if err != nil || json.Unmarshal([]byte(out), &got) != nil || got.Text != want {
			t.Errorf("skip=%v: %q, %v; want text %q", skip, out, err, want)
		}
	}
}

func TestTokenizeBadLines(t *testing.T) {
	for _, c := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"\"ok\"\nnot json\n", nil, "line 2"},
		{"\"ok\"\n\n", nil, "line 2"},
		{"{\"ids\":[1]}\n{\"text\":\"x\"}\n", []string{"--decode"}, "line 2"},
		{"{\"ids\":[1,\"x\"]}\n", []string{"--decode"}, `line 1: want an object such as {"ids":[5,17,42]}: "ids" holds a JSON string, not token ids`},
		{"\"x\"\n", []string{"--decode"}, `line 1: want an object such as {"ids":[5,17,42]}: got a JSON string`},
		{"\"x\"\n", []string{"--tokenizer", ""}, "--tokenizer is required"},
	} {
		args := append([]string{"tokenize", "--tokenizer", refTokenizer}, c.args...)
		_, err := runStdin(t, c.stdin, args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q %v: got %v, want an error mentioning %q", c.stdin, c.args, err, c.want)
		}
	}
	bad := filepath.Join(t.TempDir(), "tokenizer.json")
	if err := os.WriteFile(bad, []byte(`{"model":{"type":"WordPiece","vocab":{}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := runStdin(t, "\"x\"\n", "tokenize", "--tokenizer", bad)
	if err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "WordPiece") {
		t.Errorf("unsupported model: %v", err)
	}
}

// TestTokenizerTrainScoreGenerate trains a tokenizer small enough for the
// golden model's 96-token vocabulary, then scores and generates with text.
func TestTokenizerTrainScoreGenerate(t *testing.T) {
	dir := t.TempDir()
	corpus := filepath.Join(dir, "corpus.txt")
	if err := os.WriteFile(corpus, []byte(strings.Repeat("abab ba ab, cab! abc abba\n", 20)), 0o644); err != nil {
		t.Fatal(err)
	}
	tokPath := filepath.Join(dir, "tokenizer.json")
	out, err := run(t, "tokenizer", "train", "--vocab-size", "20", "--corpus-alphabet", "--out", tokPath, corpus)
	if err != nil || !strings.Contains(out, "wrote "+tokPath) {
		t.Fatalf("train: %v\n%s", err, out)
	}
	tok, err := tokenizer.Load(tokPath)
	if err != nil || tok.VocabSize() != 20 {
		t.Fatalf("trained tokenizer: %v (vocabulary %d, want 20)", err, tok.VocabSize())
	}
	out, err = run(t, "score", "--model", golden, "--tokenizer", tokPath, "--text", "abab cab")
	if err != nil {
		t.Fatal(err)
	}
	var s scoreResult
	if err := json.Unmarshal([]byte(out), &s); err != nil || !equalJSON(s.Tokens, tok.AppendIDs(nil, "abab cab")) {
		t.Errorf("score: %s (%v)", out, err)
	}
	out, err = run(t, "-o", "json", "generate", "--model", golden, "--tokenizer", tokPath, "--prompt", "ab", "--max-new-tokens", "4", "--greedy")
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Tokens []int32
		Text   *string
	}
	if err := json.Unmarshal([]byte(out), &g); err != nil || g.Text == nil || *g.Text != tok.Decode(g.Tokens, false) {
		t.Errorf("generate: %s (%v)", out, err)
	}
	// Without --tokenizer, --text and --prompt use the model directory's own.
	withTok := filepath.Join(dir, "m")
	if err := os.MkdirAll(withTok, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{filepath.Join(golden, "config.json"), filepath.Join(golden, "model.safetensors"), tokPath} {
		b, err := os.ReadFile(f)
		if err == nil {
			err = os.WriteFile(filepath.Join(withTok, filepath.Base(f)), b, 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	out2, err := run(t, "score", "--model", withTok, "--text", "abab cab")
	if err != nil {
		t.Fatal(err)
	}
	if json.Unmarshal([]byte(out2), &s); !equalJSON(s.Tokens, tok.AppendIDs(nil, "abab cab")) {
		t.Errorf("score with the model's tokenizer.json: %s", out2)
	}
	for _, c := range [][]string{
		{"score", "--model", golden, "--text", "ab"},
		{"score", "--model", golden, "--tokenizer", tokPath, "--text", "ab", "--tokens", "1,2"},
		{"generate", "--model", golden},
		{"tokenizer", "train", "--out", tokPath},
	} {
		if _, err := run(t, c...); err == nil {
			t.Errorf("%v: want an error", c)
		}
	}
}
