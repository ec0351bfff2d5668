package eval

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	"bloom/trainer/data"
)

// Question is one item of a task: its prompt and the gold answer, "T" or
// "F" for BoolQ and a letter A-D for MMLU.
type Question struct {
	Task    string // "boolq" or "mmlu"
	Subject string // MMLU's subject; "" for BoolQ
	Prompt  string
	Gold    string
}

// Task names.
const (
	BoolQ = "boolq"
	MMLU  = "mmlu"
)

// boolqPrompt is the seed's BoolQ prompt.
func boolqPrompt(passage, question string) string {
	return passage + "\nQuestion: " + question + "?\nAnswer:"
}

// LoadBoolQ reads BoolQ from path: a JSON lines file, or a directory whose
// every file (not hidden, not in subdirectories) is one, in name order.
func LoadBoolQ(path string) ([]Question, error) {
	files, err := taskFiles(path, func(name string) bool { return true })
	if err != nil {
		return nil, err
	}
	var qs []Question
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("eval: %w", err)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, len(b)+1)
		for line := 1; sc.Scan(); line++ {
			text := bytes.TrimSpace(sc.Bytes())
			if len(text) == 0 {
				continue
			}
			var rec struct {
				Passage  *string         `json:"passage"`
				Question *string         `json:"question"`
				Answer   *bool           `json:"answer"`
				Label    json.RawMessage `json:"label"`
			}
			if err := json.Unmarshal(text, &rec); err != nil {
				return nil, fmt.Errorf("eval: %s:%d: not a JSON object: %w", f, line, err)
			}
			if rec.Passage == nil || rec.Question == nil {
				return nil, fmt.Errorf("eval: %s:%d: a BoolQ record needs \"passage\" and \"question\"", f, line)
			}
			var yes bool
			switch {
			case rec.Answer != nil:
				yes = *rec.Answer
			case string(rec.Label) == "1" || string(rec.Label) == "true":
				yes = true
			case string(rec.Label) == "0" || string(rec.Label) == "false":
			default:
				return nil, fmt.Errorf("eval: %s:%d: a BoolQ record needs \"answer\" (true/false) or \"label\" (1/0)", f, line)
			}
			gold := "F"
			if yes {
				gold = "T"
			}
			qs = append(qs, Question{Task: BoolQ, Prompt: boolqPrompt(*rec.Passage, *rec.Question), Gold: gold})
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("eval: %s: %w", f, err)
		}
	}
	if len(qs) == 0 {
		return nil, fmt.Errorf("eval: %s holds no BoolQ records", path)
	}
	return qs, nil
}

// taskFiles is path itself when it is a file, else the files in the
// directory path that keep accepts (data.ListFiles), at least one.
func taskFiles(path string, keep func(name string) bool) ([]string, error) {
	files, err := data.ListFiles(path, keep)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("eval: %s has no task files", path)
	}
	return files, nil
}
