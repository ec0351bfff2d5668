package eval

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"bloom/npu/cpu"
	"bloom/trainer/bloom"
	"bloom/trainer/tokenizer"
)

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadBoolQ(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.jsonl"), `{"question": "is the sky blue", "passage": "The sky is blue.", "answer": true}

{"question":"do cats bark","passage":"Cats meow.\nDogs bark.","answer":false}
`)
	write(t, filepath.Join(dir, "b.jsonl"), `{"question":"is two even","passage":"Two is even.","label":1,"idx":0}
{"question":"is three even","passage":"Three is odd.","label":0}
`)
	write(t, filepath.Join(dir, ".hidden"), "not json")
	qs, err := LoadBoolQ(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, q := range qs {
		got = append(got, q.Gold+"|"+q.Prompt)
	}
	want := []string{
		"T|The sky is blue.\nQuestion: is the sky blue?\nAnswer:",
		"F|Cats meow.\nDogs bark.\nQuestion: do cats bark?\nAnswer:",
		"T|Two is even.\nQuestion: is two even?\nAnswer:",
		"F|Three is odd.\nQuestion: is three even?\nAnswer:",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	for _, c := range []struct{ text, want string }{
		{`{"question":"q","passage":"p"}`, "needs \"answer\""},
		{`{"question":"q","answer":true}`, "needs \"passage\""},
		{"{\"question\":\"q\",\"passage\":\"p\",\"answer\":true}\n[1]", "bad.jsonl:2"},
	} {
		path := filepath.Join(t.TempDir(), "bad.jsonl")
		write(t, path, c.text)
		if _, err := LoadBoolQ(path); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want an error with %q", c.text, err, c.want)
		}
	}
}

func TestLoadMMLU(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "test", "high_school_physics_test.csv"), "\"What is g, roughly, in m/s^2?\",1,9.8,42,0,B\nWhich is a vector?,mass,speed,velocity,time,C\n")
	write(t, filepath.Join(root, "test", "anatomy_test.csv"), "Bones in the adult body?,206,12,1000,3,A\n")
	write(t, filepath.Join(root, "dev", "high_school_physics_dev.csv"), "Unit of force?,newton,joule,watt,volt,A\n\"Speed of light, roughly?\",3e8 m/s,340 m/s,1 m/s,0,A\nThird?,a,b,c,d,D\n")
	write(t, filepath.Join(root, "test", "anatomy_dev.csv"), "Largest organ?,heart,skin,liver,lung,B\n")

	qs, err := LoadMMLU(filepath.Join(root, "test"), MMLUOptions{Shots: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != 3 || qs[0].Subject != "anatomy" || qs[1].Subject != "high_school_physics" || qs[2].Gold != "C" {
		t.Fatalf("questions %+v", qs)
	}
	// The seed's layout (its mmlu_5shot_template.json, built from these dev
	// files): one newline after the header and between examples, two
	// before the question.
	want := "The following are multiple choice questions (with answers) about  high school physics.\n" +
		"Unit of force?\nA. newton\nB. joule\nC. watt\nD. volt\nAnswer: A\n\n" +
		"What is g, roughly, in m/s^2?\nA. 1\nB. 9.8\nC. 42\nD. 0\nAnswer:"
	if qs[1].Prompt != want {
		t.Errorf("prompt\n%q\nwant\n%q", qs[1].Prompt, want)
	}
	if !strings.HasPrefix(qs[0].Prompt, "The following are multiple choice questions (with answers) about  anatomy.\nLargest organ?") {
		t.Errorf("dev beside the test file: %q", qs[0].Prompt)
	}
	zero, err := LoadMMLU(filepath.Join(root, "test", "anatomy_test.csv"), MMLUOptions{})
	if err != nil || zero[0].Prompt != "The following are multiple choice questions (with answers) about  anatomy.\n\nBones in the adult body?\nA. 206\nB. 12\nC. 1000\nD. 3\nAnswer:" {
		t.Errorf("0-shot: %q, %v", zero, err)
	}
	tmpl := filepath.Join(root, "template.json")
	write(t, tmpl, `{"anatomy": "HEADER", "high_school_physics": "PHYS"}`)
	m, err := ReadTemplate(tmpl)
	if err != nil {
		t.Fatal(err)
	}
	if qs, err := LoadMMLU(filepath.Join(root, "test"), MMLUOptions{Shots: 5, Template: m}); err != nil || !strings.HasPrefix(qs[0].Prompt, "HEADER\n\nBones") {
		t.Errorf("template: %v %v", qs, err)
	}
	for _, c := range []struct {
		opt  MMLUOptions
		file string
		want string
	}{
		{MMLUOptions{Shots: 2}, "anatomy_test.csv", "1 dev examples, 2 shots"},
		{MMLUOptions{Shots: 1}, "x_test.csv", "x_dev.csv"},
		{MMLUOptions{Template: map[string]string{}}, "anatomy_test.csv", "no entry for subject \"anatomy\""},
	} {
		if c.file == "x_test.csv" {
			write(t, filepath.Join(root, "test", c.file), "q,a,b,c,d,A\n")
		}
		if _, err := LoadMMLU(filepath.Join(root, "test", c.file), c.opt); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v %s: %v, want %q", c.opt, c.file, err, c.want)
		}
	}
	bad := filepath.Join(t.TempDir(), "s_test.csv")
	write(t, bad, "q,a,b,c,d,A\nq,a,b,c,d,E\n")
	if _, err := LoadMMLU(bad, MMLUOptions{}); err == nil || !strings.Contains(err.Error(), "s_test.csv:2") {
		t.Errorf("bad answer: %v", err)
	}
}

// tinyModel is a random model with the vocabulary of the test tokenizer.
func tinyModel(t *testing.T) (*bloom.Model, *tokenizer.Tokenizer) {
	t.Helper()
	tok, err := tokenizer.Load("../tokenizer/testdata/bloom.json")
	if err != nil {
		t.Fatal(err)
	}
	m, err := bloom.New(cpu.New(1), bloom.Config{Vocab: tok.VocabSize(), Hidden: 32, Heads: 4, Layers: 2, Eps: 1e-5})
	if err != nil {
		t.Fatal(err)
	}
	m.InitRandom(7, 0.5)
	return m, tok
}

// lastLogits runs the whole prompt through Forward (no cache, no padding)
// and returns the last position's logits.
func lastLogits(t *testing.T, m *bloom.Model, ids []int32) []float32 {
	t.Helper()
	buf, err := m.Forward(bloom.Batch{B: 1, T: len(ids), IDs: ids})
	if err != nil {
		t.Fatal(err)
	}
	all := make([]float32, len(ids)*m.Cfg.Vocab)
	m.Dev.Read(all, buf)
	return all[(len(ids)-1)*m.Cfg.Vocab:]
}

func argmax(x []float32) int32 {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return int32(best)
}

// TestRunMatchesTheModel: Run's answers are the ones the model gives when
// each prompt is run alone through Forward, for batches of 1 and of 3
// (left padding), and its counts add up.
func TestRunMatchesTheModel(t *testing.T) {
	m, tok := tinyModel(t)
	var boolq, mmlu []Question
	words := []string{"garden", "river", "stone", "light", "window", "bread", "music", "cloud", "paper", "forest", "salt"}
	for i := range 11 {
		p := strings.Repeat(words[i]+" ", i%4+1)
		boolq = append(boolq, Question{Task: BoolQ, Prompt: boolqPrompt("The "+p+"is here.", "is the "+words[(i+3)%11]+" here"), Gold: "TF"[i%2 : i%2+1]})
		it := mmluItem{q: "Which is " + words[i] + "?", choice: [4]string{words[(i+1)%11], words[i], "both", "none"}, answer: "ABCD"[i%4 : i%4+1]}
		mmlu = append(mmlu, Question{Task: MMLU, Subject: []string{"x", "y"}[i%2], Prompt: mmluHeader("x") + "\n\n" + it.block(), Gold: it.answer})
	}
	yes, no := tok.AppendIDs(nil, "Yes"), tok.AppendIDs(nil, "No")
	for _, batch := range []int{1, 3} {
		cfg := Config{Model: m, Tok: tok, Pad: 3, Batch: batch}
		res, err := Run(cfg, boolq)
		if err != nil {
			t.Fatal(err)
		}
		correct := 0
		for i, q := range boolq {
			l := lastLogits(t, m, tok.Encode(q.Prompt).IDs)
			y, n := l[yes[len(yes)-1]], l[no[len(no)-1]]
			want := map[bool]string{true: "T", false: "F"}[y >= n]
			if d := y - n; d*d > 1e-8 && res.Answers[i] != want {
				t.Errorf("batch %d, BoolQ %d: answered %s; Yes %v, No %v", batch, i, res.Answers[i], y, n)
			}
			if res.Answers[i] == q.Gold {
				correct++
			}
		}
		if res.N != len(boolq) || res.Correct != correct || res.Accuracy != float64(correct)/float64(len(boolq)) {
			t.Errorf("batch %d: BoolQ score %+v, %d correct", batch, res.Score, correct)
		}

		if !slices.Contains(res.Answers, "T") || !slices.Contains(res.Answers, "F") {
			t.Errorf("batch %d: BoolQ answers %v: the test needs a model that answers both", batch, res.Answers)
		}
		res, err = Run(cfg, mmlu)
		if err != nil {
			t.Fatal(err)
		}
		for i, q := range mmlu {
			ids := tok.Encode(q.Prompt).IDs
			a := argmax(lastLogits(t, m, ids))
			b := argmax(lastLogits(t, m, append(slices.Clone(ids), a)))
			if want := firstChar(tok.Decode([]int32{a, b}, true)); res.Answers[i] != want {
				t.Errorf("batch %d, MMLU %d: answered %q, the model's greedy text gives %q", batch, i, res.Answers[i], want)
			}
		}
		if len(res.Subjects) != 2 || res.Subjects[0].Name != "x" || res.Subjects[0].N != 6 || res.Subjects[1].N != 5 ||
			res.Subjects[0].Correct+res.Subjects[1].Correct != res.Correct {
			t.Errorf("batch %d: subjects %+v, total %+v", batch, res.Subjects, res.Score)
		}
	}
}

// TestRunTruncatesAndRefuses: prompts longer than the sequence length lose
// their beginning and are counted; a tokenizer bigger than the model's
// vocabulary, mixed tasks and no room for a prompt are errors.
func TestRunTruncatesAndRefuses(t *testing.T) {
	m, tok := tinyModel(t)
	long := Question{Task: BoolQ, Prompt: boolqPrompt(strings.Repeat("a long passage ", 40), "is it long"), Gold: "T"}
	short := Question{Task: BoolQ, Prompt: boolqPrompt("short", "is it"), Gold: "F"}
	res, err := Run(Config{Model: m, Tok: tok, Pad: 3, SeqLength: 32}, []Question{long, short})
	if err != nil || res.Truncated != 1 || res.N != 2 {
		t.Fatalf("%+v %v", res, err)
	}
	cut := tok.Encode(long.Prompt).IDs
	l := lastLogits(t, m, cut[len(cut)-31:])
	want := map[bool]string{true: "T", false: "F"}[l[tok.AppendIDs(nil, "Yes")[0]] >= l[tok.AppendIDs(nil, "No")[0]]]
	if res.Answers[0] != want {
		t.Errorf("truncated prompt answered %s, its last 31 tokens give %s", res.Answers[0], want)
	}
	small, err := bloom.New(cpu.New(1), bloom.Config{Vocab: 100, Hidden: 16, Heads: 2, Layers: 1, Eps: 1e-5})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		cfg  Config
		qs   []Question
		want string
	}{
		{Config{Model: small, Tok: tok}, []Question{short}, "vocabulary of 100"},
		{Config{Model: m, Tok: tok}, []Question{short, {Task: MMLU, Prompt: "x", Gold: "A"}}, "a mmlu question among boolq"},
		{Config{Model: m, Tok: tok, SeqLength: 1}, []Question{short}, "no room"},
		{Config{Model: m, Tok: tok}, []Question{{Task: "gsm8k"}}, "unknown task"},
	} {
		if _, err := Run(c.cfg, c.qs); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v, want an error with %q", err, c.want)
		}
	}
}

// FuzzTaskFiles: the task readers return an error or questions for any
// bytes, never panic.
func FuzzTaskFiles(f *testing.F) {
	f.Add([]byte(`{"passage":"p","question":"q","answer":true}`), []byte("q,a,b,c,d,A\n"))
	f.Add([]byte(`{"passage":"p","question":"q","label":1}`+"\n\n[]"), []byte("\"q,\"\"x\"\"\",a,b,c,d,D\nq,a,b\n"))
	f.Fuzz(func(t *testing.T, boolq, mmlu []byte) {
		dir := t.TempDir()
		b, m := filepath.Join(dir, "b.jsonl"), filepath.Join(dir, "s_test.csv")
		os.WriteFile(b, boolq, 0o644)
		os.WriteFile(m, mmlu, 0o644)
		if qs, err := LoadBoolQ(b); err == nil && len(qs) == 0 {
			t.Error("no error and no questions")
		}
		if qs, err := LoadMMLU(m, MMLUOptions{}); err == nil {
			for _, q := range qs {
				if len(q.Gold) != 1 || q.Gold[0] < 'A' || q.Gold[0] > 'D' {
					t.Errorf("gold %q", q.Gold)
				}
			}
		}
	})
}
