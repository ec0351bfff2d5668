package eval

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// MMLUOptions says how the few-shot header of each MMLU prompt is made.
type MMLUOptions struct {
	// Shots is the number of solved examples from the subject's dev split
	// ({subject}_dev.csv beside the test file, or in a sibling dev/
	// directory, as MMLU's release lays them out); 0: the header line alone.
	Shots int
	// Template, when set, is the seed's few-shot template (subject → the
	// whole header with its examples; ReadTemplate) and replaces Shots.
	Template map[string]string
}

// mmluItem is one CSV row: question, four choices, answer letter.
type mmluItem struct {
	q      string
	choice [4]string
	answer string
}

// block is the item as a prompt shows it, up to "Answer:".
func (it mmluItem) block() string {
	var b strings.Builder
	b.WriteString(it.q)
	for i, c := range it.choice {
		fmt.Fprintf(&b, "\n%c. %s", 'A'+i, c)
	}
	b.WriteString("\nAnswer:")
	return b.String()
}

// mmluHeader is MMLU's reference header: the subject's words, each after a
// space (hence "about  high school physics.").
func mmluHeader(subject string) string {
	return "The following are multiple choice questions (with answers) about " +
		" " + strings.Join(strings.Split(subject, "_"), " ") + "."
}

// LoadMMLU reads MMLU from path: a {subject}_test.csv file or a directory
// of them, subjects in name order.
func LoadMMLU(path string, o MMLUOptions) ([]Question, error) {
	if o.Shots < 0 {
		return nil, fmt.Errorf("eval: %d shots", o.Shots)
	}
	files, err := taskFiles(path, func(name string) bool { return strings.HasSuffix(name, "_test.csv") })
	if err != nil {
		return nil, err
	}
	var qs []Question
	for _, f := range files {
		base := filepath.Base(f)
		if !strings.HasSuffix(base, "_test.csv") {
			return nil, fmt.Errorf("eval: %s: MMLU files are named {subject}_test.csv", f)
		}
		subject := strings.TrimSuffix(base, "_test.csv")
		header, err := fewShot(f, subject, o)
		if err != nil {
			return nil, err
		}
		items, err := readMMLU(f)
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			qs = append(qs, Question{Task: MMLU, Subject: subject, Prompt: header + "\n\n" + it.block(), Gold: it.answer})
		}
	}
	return qs, nil
}

// fewShot is the header of subject's prompts.
func fewShot(testFile, subject string, o MMLUOptions) (string, error) {
	if o.Template != nil {
		h, ok := o.Template[subject]
		if !ok {
			return "", fmt.Errorf("eval: the few-shot template has no entry for subject %q", subject)
		}
		return h, nil
	}
	h := mmluHeader(subject)
	if o.Shots == 0 {
		return h, nil
	}
	dir := filepath.Dir(testFile)
	var devs []mmluItem
	var err error
	for _, p := range []string{filepath.Join(dir, subject+"_dev.csv"), filepath.Join(filepath.Dir(dir), "dev", subject+"_dev.csv")} {
		if devs, err = readMMLU(p); !errors.Is(err, os.ErrNotExist) {
			break
		}
	}
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("eval: %d-shot MMLU needs %s_dev.csv beside %s or in ../dev (or give the seed's template, or 0 shots)", o.Shots, subject, testFile)
	}
	if err != nil {
		return "", err
	}
	if len(devs) < o.Shots {
		return "", fmt.Errorf("eval: %s has %d dev examples, %d shots asked for", subject, len(devs), o.Shots)
	}
	var b strings.Builder
	b.WriteString(h)
	for _, it := range devs[:o.Shots] {
		b.WriteString("\n" + it.block() + " " + it.answer) // one newline, as the seed's template (Hendrycks' had two)
	}
	return b.String(), nil
}

// readMMLU reads one MMLU CSV file.
func readMMLU(path string) ([]mmluItem, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = 6
	var items []mmluItem
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("eval: %s: want rows of question, A, B, C, D, answer: %w", path, err)
		}
		line, _ := r.FieldPos(0)
		ans := strings.TrimSpace(rec[5])
		if len(ans) != 1 || ans[0] < 'A' || ans[0] > 'D' {
			return nil, fmt.Errorf("eval: %s:%d: answer %q is not A, B, C or D", path, line, rec[5])
		}
		items = append(items, mmluItem{q: rec[0], choice: [4]string{rec[1], rec[2], rec[3], rec[4]}, answer: ans})
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("eval: %s has no questions", path)
	}
	return items, nil
}

// ReadTemplate reads the seed's MMLU few-shot template: a JSON object from
// subject to the header text of its prompts.
func ReadTemplate(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	var t map[string]string
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("eval: %s: want a JSON object from subject to text: %w", path, err)
	}
	return t, nil
}
