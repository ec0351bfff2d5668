package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"bloom/trainer/data"
	"bloom/trainer/data/parquet"
	"bloom/trainer/data/preprocess"
	"bloom/trainer/tokenizer"
)

const (
	ppTokenizer = "../trainer/tokenizer/testdata/bloom.json"
	ppParquet   = "../trainer/data/parquet/testdata"
)

// TestPreprocessEnwiki runs the seed's command shape on an enwiki-like
// directory of parquet files, with 1 and 2 workers: the outputs are
// identical, and each document is the tokenizer's ids plus </s>.
func TestPreprocessEnwiki(t *testing.T) {
	dir := t.TempDir()
	var outs [][]byte
	for _, w := range []string{"1", "2"} {
		prefix := filepath.Join(dir, "w"+w, "enwiki")
		os.Mkdir(filepath.Dir(prefix), 0o755)
		out, err := run(t, "--output", "json", "preprocess", "--input", filepath.Join(ppParquet, "enwiki"),
			"--tokenizer-name-or-path", ppTokenizer, "--output-prefix", prefix,
			"--worker", w, "--log-interval", "10", "--append-eod", "--tokenizer-type", "PretrainedFromHF")
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if !strings.Contains(out, "processed 10 documents") || !strings.Contains(out, `"documents":87`) {
			t.Errorf("output:\n%s", out)
		}
		for _, ext := range []string{".bin", ".idx"} {
			b, err := os.ReadFile(prefix + "_text_document" + ext)
			if err != nil {
				t.Fatal(err)
			}
			outs = append(outs, b)
		}
	}
	if !bytes.Equal(outs[0], outs[2]) || !bytes.Equal(outs[1], outs[3]) {
		t.Fatal("1 and 2 workers wrote different files")
	}
	checkEnwiki(t, filepath.Join(dir, "w1", "enwiki_text_document"))
}

// checkEnwiki compares the dataset with the tokenizer run on the parquet text.
func checkEnwiki(t *testing.T, prefix string) {
	tok, err := tokenizer.Load(ppTokenizer)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, f := range []string{"train-00000-of-00002.parquet", "train-00001-of-00002.parquet"} {
		p, err := parquet.Open(filepath.Join(ppParquet, "enwiki", f))
		if err != nil {
			t.Fatal(err)
		}
		for rg := 0; rg < p.NumRowGroups(); rg++ {
			vals, _, err := p.ReadStrings(rg, "text")
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range vals {
				if v != "" { // empty documents are skipped
					texts = append(texts, v)
				}
			}
		}
		p.Close()
	}
	ds, err := data.OpenIndexed(prefix)
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	if ds.Len() != len(texts) || ds.DType() != data.DTypeUint16 {
		t.Fatalf("%d sequences of %v, want %d of uint16", ds.Len(), ds.DType(), len(texts))
	}
	for i, text := range texts {
		got, _ := ds.Get(nil, i, 0, -1)
		want := append(tok.AppendIDs(nil, text), 2)
		if len(got) != len(want) {
			t.Fatalf("document %d: %d tokens, want %d", i, len(got), len(want))
		}
		for k := range want {
			if got[k] != want[k] {
				t.Fatalf("document %d token %d: %d, want %d", i, k, got[k], want[k])
			}
		}
	}
}

func TestPreprocessAlpaca(t *testing.T) {
	prefix := filepath.Join(t.TempDir(), "alpaca")
	out, err := run(t, "preprocess", "--input", filepath.Join(ppParquet, "alpaca"), "--format", "alpaca",
		"--tokenizer-name-or-path", ppTokenizer, "--output-prefix", prefix, "--append-eod")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var sets [3]*data.Indexed
	for i, k := range preprocess.AlpacaOutputs {
		if sets[i], err = data.OpenIndexed(prefix + "_packed_" + k + "_document"); err != nil {
			t.Fatal(err)
		}
		defer sets[i].Close()
		if sets[i].DType() != data.DTypeInt32 || sets[i].Len() != 12 {
			t.Fatalf("%s: %d sequences of %v", k, sets[i].Len(), sets[i].DType())
		}
	}
	for d := 0; d < 12; d++ {
		ids, _ := sets[0].Get(nil, d, 0, -1)
		mask, _ := sets[1].Get(nil, d, 0, -1)
		labels, _ := sets[2].Get(nil, d, 0, -1)
		if len(mask) != len(ids) || len(labels) != len(ids) || ids[len(ids)-1] != 2 || labels[0] != -100 || labels[len(ids)-1] != 2 {
			t.Fatalf("record %d: ids %v mask %v labels %v", d, ids, mask, labels)
		}
	}
}

func TestPreprocessFlagErrors(t *testing.T) {
	dir := t.TempDir()
	jsonl := filepath.Join(dir, "in.jsonl")
	os.WriteFile(jsonl, []byte("{\"text\":\"a\"}\n{\"body\":\"b\"}\n"), 0o644)
	base := []string{"preprocess", "--tokenizer-name-or-path", ppTokenizer}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--input", jsonl, "--output-prefix", filepath.Join(dir, "o")}, `in.jsonl:2: no key "text"`},
		{[]string{"--input", jsonl, "--output-prefix", filepath.Join(dir, "o"), "--format", "chat"}, `--format "chat"`},
		{[]string{"--input", filepath.Join(dir, "nope"), "--output-prefix", filepath.Join(dir, "o")}, "--input"},
		{[]string{"--input", jsonl, "--output-prefix", filepath.Join(dir, "no", "o")}, "does not exist"},
		{[]string{"--input", jsonl, "--output-prefix", filepath.Join(dir, "o"), "--tokenizer-type", "GPT2BPETokenizer"}, "PretrainedFromHF"},
		// Megatron's nargs form: title would have been dropped silently.
		{[]string{"--input", jsonl, "--output-prefix", filepath.Join(dir, "o"), "--json-keys", "text", "title"}, "--json-keys text,title"},
	} {
		out, err := run(t, append(base, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err = %v, want %q\n%s", c.args, err, c.want, out)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("files left behind: %v", ents)
	}
}

func TestPreprocessJSONKeys(t *testing.T) {
	dir := t.TempDir()
	jsonl := filepath.Join(dir, "in.jsonl")
	os.WriteFile(jsonl, []byte("{\"text\":\"a b\",\"title\":\"T\"}\n"), 0o644)
	out, err := run(t, "--output", "json", "preprocess", "--input", jsonl, "--tokenizer-name-or-path", ppTokenizer,
		"--output-prefix", filepath.Join(dir, "o"), "--json-keys", "text,title", "--dtype", "int32")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var r preprocessResult
	if err := json.Unmarshal([]byte(out[strings.LastIndex(out[:len(out)-1], "\n")+1:]), &r); err != nil || len(r.Outputs) != 2 {
		t.Fatalf("%v: %s", err, out)
	}
	d, err := data.OpenIndexed(filepath.Join(dir, "o_title_document"))
	if err != nil || d.DType() != data.DTypeInt32 || d.Len() != 1 {
		t.Fatalf("title dataset: %v", err)
	}
	d.Close()
	// Readable by all, as Megatron's files are (another user may train on them).
	for _, f := range []string{data.BinPath(filepath.Join(dir, "o_title_document")), data.IndexPath(filepath.Join(dir, "o_text_document"))} {
		if st, err := os.Stat(f); err != nil || st.Mode().Perm() != 0o644 {
			t.Errorf("%s: %v %v, want -rw-r--r--", f, st.Mode(), err)
		}
	}
}
