package preprocess

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"bloom/internal/testutil"
	"bloom/trainer/data"
)

const ppRef = "testdata"

// pqRef holds the parquet reader's fixtures, inputs here too.
const pqRef = "../parquet/testdata"

// byteEncoder is the stand-in tokenizer scripts/data/gen_preprocess_reference.py
// shares: UTF-8 bytes + 4.
type byteEncoder struct{ vocab int }

func (e byteEncoder) AppendIDs(dst []int32, text string) []int32 {
	for i := 0; i < len(text); i++ {
		dst = append(dst, int32(text[i])+data.ByteOffset)
	}
	return dst
}

func (e byteEncoder) VocabSize() int { return e.vocab }

// TestPreprocessMatchesMegatron runs the reference cases with 1 and 3
// workers and compares every output file with the Python reference.
func TestPreprocessMatchesMegatron(t *testing.T) {
	enwiki, err := ListInputs(filepath.Join(pqRef, "enwiki"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		inputs []string
		cfg    Config
		vocab  int
	}{
		{"jsonl_i32", []string{filepath.Join(ppRef, "docs.jsonl")}, Config{Keys: []string{"text", "title"}}, 100000},
		{"enwiki_eod", enwiki, Config{AppendEOD: true, EOD: 2}, 260},
		{"alpaca_pq", []string{filepath.Join(pqRef, "alpaca/train-00000-of-00001.parquet")}, Config{Format: FormatAlpaca, AppendEOD: true, EOD: 2}, 260},
		{"alpaca_json", []string{filepath.Join(ppRef, "alpaca_data.json")}, Config{Format: FormatAlpaca}, 260},
	}
	for _, c := range cases {
		for _, workers := range []int{1, 3} {
			dir := t.TempDir()
			cfg := c.cfg
			cfg.Inputs, cfg.Workers = c.inputs, workers
			cfg.OutputPrefix = filepath.Join(dir, c.name)
			st, err := Run(context.Background(), byteEncoder{c.vocab}, cfg)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if !st.Done || st.Records == 0 || st.Tokens == 0 {
				t.Errorf("%s: stats %+v", c.name, st)
			}
			for _, p := range cfg.OutputPrefixes() {
				ref := filepath.Join(ppRef, filepath.Base(p))
				testutil.SameFile(t, data.BinPath(p), data.BinPath(ref))
				testutil.SameFile(t, data.IndexPath(p), data.IndexPath(ref))
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 2*len(cfg.OutputPrefixes()) {
				t.Errorf("%s: %d files left in the output directory, want only the outputs", c.name, len(ents))
			}
		}
	}
}

// TestPreprocessBadInput: each mistake is an error naming the file and the
// record, and no output is left under any name.
func TestPreprocessBadInput(t *testing.T) {
	cases := []struct {
		name, content, want string
		keys                []string
	}{
		{"missing.jsonl", "{\"text\":\"a\"}\n{\"body\":\"b\"}\n", `missing.jsonl:2: no key "text"`, nil},
		{"utf8.jsonl", "{\"text\":\"a\"}\n\n{\"text\":\"b\xff\"}\n", "utf8.jsonl:3: invalid UTF-8", nil},
		{"json.jsonl", "{\"text\":\"a\"}\n{\"text\":\n", "json.jsonl:2: invalid JSON", nil},
		{"null.jsonl", "{\"text\":null}\n", `null.jsonl:1: key "text" is not a string`, nil},
		{"number.jsonl", "{\"text\":\"x\",\"n\":5}\n", `number.jsonl:1: key "n" is not a string`, []string{"text", "n"}},
		{"array.json", "[{\"text\":\"a\"},{\"txt\":\"b\"}]", `array.json: element 1: no key "text"`, nil},
		{"arrayutf8.json", "[{\"text\":\"a\"},\n{\"text\":\"\xc3\"}]", "arrayutf8.json:2: invalid UTF-8", nil},
	}
	for _, c := range cases {
		dir := t.TempDir()
		in := filepath.Join(dir, c.name)
		os.WriteFile(in, []byte(c.content), 0o644)
		cfg := Config{Inputs: []string{in}, Keys: c.keys, OutputPrefix: filepath.Join(dir, "out"), Workers: 2}
		_, err := Run(context.Background(), byteEncoder{260}, cfg)
		if err == nil || !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 1 {
			t.Errorf("%s: output left behind: %v", c.name, ents)
		}
	}
	// A parquet file without the column, and a corrupt one.
	dir := t.TempDir()
	cfg := Config{Inputs: []string{filepath.Join(pqRef, "alpaca/train-00000-of-00001.parquet")},
		Keys: []string{"body"}, OutputPrefix: filepath.Join(dir, "out")}
	if _, err := Run(context.Background(), byteEncoder{260}, cfg); err == nil || !strings.Contains(err.Error(), `train-00000-of-00001.parquet: no column "body"`) {
		t.Errorf("missing column: err = %v", err)
	}
	b, _ := os.ReadFile(filepath.Join(pqRef, "matrix/none_v1_plain.parquet"))
	bad := filepath.Join(dir, "bad.parquet")
	os.WriteFile(bad, b[:len(b)/2], 0o644)
	cfg.Inputs, cfg.Keys = []string{bad}, nil
	if _, err := Run(context.Background(), byteEncoder{260}, cfg); err == nil || !strings.Contains(err.Error(), "bad.parquet") {
		t.Errorf("truncated parquet: err = %v", err)
	}
	// Nulls in the text column name the row.
	cfg.Inputs = []string{filepath.Join(pqRef, "matrix/snappy_v1_dict.parquet")}
	if _, err := Run(context.Background(), byteEncoder{260}, cfg); err == nil || !strings.Contains(err.Error(), `snappy_v1_dict.parquet: row `) || !strings.Contains(err.Error(), "is null") {
		t.Errorf("null text: err = %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("output left behind: %v", ents)
	}
}

func TestPreprocessCancel(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cfg := Config{Inputs: []string{filepath.Join(ppRef, "docs.jsonl")}, OutputPrefix: filepath.Join(dir, "out")}
	if _, err := Run(ctx, byteEncoder{260}, cfg); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("output left behind: %v", ents)
	}
}

func TestListInputs(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"b.jsonl", "a.parquet", ".hidden.json", "notes.txt", "c.json"} {
		os.WriteFile(filepath.Join(dir, n), nil, 0o644)
	}
	got, err := ListInputs(dir)
	if err != nil || len(got) != 3 || filepath.Base(got[0]) != "a.parquet" || filepath.Base(got[2]) != "c.json" {
		t.Errorf("ListInputs = %v, %v", got, err)
	}
	if _, err := ListInputs(filepath.Join(dir, "nope")); err == nil {
		t.Error("a missing input was accepted")
	}
	empty := t.TempDir()
	if _, err := ListInputs(empty); err == nil || !strings.Contains(err.Error(), "no .parquet") {
		t.Errorf("empty dir: err = %v", err)
	}
}

func TestProgressPrinter(t *testing.T) {
	var buf bytes.Buffer
	p := NewProgressPrinter(&buf, false, 100)
	for _, n := range []int64{50, 99, 100, 150, 250, 260} {
		p.Report(Stats{Records: n, Tokens: 10 * n, TextBytes: 1e6, InputBytes: n, InputTotal: 520, Elapsed: time.Second})
	}
	p.Report(Stats{Records: 260, Done: true, Elapsed: time.Second})
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "processed 100 documents") || !strings.Contains(lines[0], "1.00 MB/s") ||
		!strings.Contains(lines[0], "19%, ETA 4s") || !strings.HasPrefix(lines[2], "done: 260 documents") {
		t.Errorf("plain progress:\n%s", buf.String())
	}
	buf.Reset()
	p = NewProgressPrinter(&buf, true, 100)
	clock := time.Unix(0, 0)
	p.now = func() time.Time { return clock }
	for i := 0; i < 5; i++ {
		clock = clock.Add(100 * time.Millisecond)
		p.Report(Stats{Records: int64(i), Elapsed: time.Second})
	}
	p.Report(Stats{Records: 5, Done: true})
	if got := strings.Count(buf.String(), "\r\x1b[K"); got != 4 || !strings.HasSuffix(buf.String(), "\n") {
		t.Errorf("terminal progress: %d redraws in %q", got, buf.String())
	}
}

func TestAlpacaSequences(t *testing.T) {
	ids, mask, labels := AlpacaSequences(byteEncoder{260}, "Say hi", "", "hi", true, 2)
	prompt := AlpacaPrompt("Say hi", "", "hi")
	if !strings.HasSuffix(prompt, "### Response:\nhi\n") || len(ids) != len(prompt)+1 || ids[len(ids)-1] != 2 {
		t.Fatalf("prompt %q, %d ids", prompt, len(ids))
	}
	user := len(prompt) - len("hi\n")
	for i := range ids {
		if mask[i] != 1 || (i < user) != (labels[i] == data.IgnoreLabel) || (i >= user && labels[i] != ids[i]) {
			t.Fatalf("token %d: mask %d label %d id %d (user part %d)", i, mask[i], labels[i], ids[i], user)
		}
	}
}

// FuzzJSONString: the one-pass decoder agrees with encoding/json on valid
// UTF-8 (object checks the line before).
func FuzzJSONString(f *testing.F) {
	for _, s := range []string{`"plain"`, `"a\nb\t\"q\"\\ \/"`, `"\u00e9\ud83e\udd17"`, `"\ud800x"`, `"\udc00\ud800"`, `"\ud83e\u0041"`, `5`, `null`, `"\b\f\r"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var want string
		if !utf8.Valid(raw) || json.Unmarshal(raw, &want) != nil || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			return
		}
		raw = bytes.TrimSpace(raw)
		got, ok := jsonString(raw)
		if !ok || got != want {
			t.Fatalf("jsonString(%q) = %q, %v; encoding/json %q", raw, got, ok, want)
		}
	})
}

// TestPreprocessNoLeak: every goroutine a run starts has ended when it
// returns, after success and after an error alike.
func TestPreprocessNoLeak(t *testing.T) {
	base := runtime.NumGoroutine()
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte(strings.Repeat("{\"text\":\"abc\"}\n", 3000)+"{}\n"), 0o644)
	for _, in := range []string{filepath.Join(ppRef, "docs.jsonl"), bad} {
		cfg := Config{Inputs: []string{in}, OutputPrefix: filepath.Join(dir, "out"), Workers: 4}
		Run(context.Background(), byteEncoder{260}, cfg)
	}
	testutil.NoLeaks(t, base, 5*time.Second)
}
