package eval

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"bloom/trainer/bloom"
	"bloom/trainer/tokenizer"
)

// Config is how Run runs the model.
type Config struct {
	// Model is the model, or on a rank of a distributed job its part (its
	// Cfg is the whole model's shape).
	Model *bloom.Model
	// Generate, when set, generates in Model's place: a distributed job's
	// rank passes trainer.Infer's, which every rank calls alike and which
	// returns every rank the same tokens. nil: Model.Generate.
	Generate func(prompts [][]int32, pad int32, o bloom.GenerateOptions) ([][]int32, error)
	Tok      *tokenizer.Tokenizer
	Pad      int32 // the token that left-pads the prompts of a batch
	// SeqLength bounds a prompt plus the tokens the task generates; longer
	// prompts lose their beginning (Result.Truncated). 0: no bound.
	SeqLength int
	Batch     int // questions per forward pass (0: 1)
	// AnswerPrefix goes before "Yes" and "No" when BoolQ encodes them: ""
	// as the seed does, " " for the token that naturally follows "Answer:".
	AnswerPrefix string
	// Progress, when set, is called after every batch.
	Progress func(done, total, correct int)
}

// Score is the accuracy over a set of questions.
type Score struct {
	Name     string  `json:"name"`
	N        int     `json:"questions"`
	Correct  int     `json:"correct"`
	Accuracy float64 `json:"accuracy"`
}

// Result is a task's score: over all its questions and, for MMLU, per
// subject in the order they came.
type Result struct {
	Score
	Truncated int     `json:"truncated"` // prompts cut to fit SeqLength
	Subjects  []Score `json:"subjects,omitempty"`
	// Answers are the predictions, question by question: "T"/"F" for
	// BoolQ, MMLU's first character.
	Answers []string `json:"-"`
}

// newTokens is what each task generates.
var newTokens = map[string]int{BoolQ: 1, MMLU: 2}

// Run answers every question (all of one task) and scores the answers.
func Run(cfg Config, qs []Question) (Result, error) {
	if len(qs) == 0 {
		return Result{}, fmt.Errorf("eval: no questions")
	}
	task := qs[0].Task
	nNew, ok := newTokens[task]
	if !ok {
		return Result{}, fmt.Errorf("eval: unknown task %q (want %s or %s)", task, BoolQ, MMLU)
	}
	if cfg.SeqLength != 0 && cfg.SeqLength <= nNew {
		return Result{}, fmt.Errorf("eval: sequence length %d leaves no room for a prompt", cfg.SeqLength)
	}
	answer, err := answerer(cfg, task, nNew)
	if err != nil {
		return Result{}, err
	}
	res := Result{Score: Score{Name: task}}
	for lo, batch := 0, max(cfg.Batch, 1); lo < len(qs); lo += batch {
		part := qs[lo:min(lo+batch, len(qs))]
		prompts, cut, err := encode(cfg, part, task, nNew)
		if err != nil {
			return Result{}, err
		}
		preds, err := answer(prompts)
		if err != nil {
			return Result{}, err
		}
		res.Truncated += cut
		res.add(part, preds)
		if cfg.Progress != nil {
			cfg.Progress(res.N, len(qs), res.Correct)
		}
	}
	res.Accuracy = float64(res.Correct) / float64(res.N)
	for i := range res.Subjects {
		s := &res.Subjects[i]
		s.Accuracy = float64(s.Correct) / float64(s.N)
	}
	return res, nil
}

// encode turns the questions of a batch (all of task) into prompts of at
// most SeqLength−nNew tokens, cut from the left; cut counts those cut.
func encode(cfg Config, part []Question, task string, nNew int) (prompts [][]int32, cut int, err error) {
	prompts = make([][]int32, len(part))
	for i, q := range part {
		if q.Task != task {
			return nil, 0, fmt.Errorf("eval: a %s question among %s ones", q.Task, task)
		}
		ids := cfg.Tok.Encode(q.Prompt).IDs
		if cfg.SeqLength != 0 && len(ids) > cfg.SeqLength-nNew {
			ids = ids[len(ids)-(cfg.SeqLength-nNew):]
			cut++
		}
		if len(ids) == 0 {
			return nil, 0, fmt.Errorf("eval: a %s question encodes to no tokens", task)
		}
		if top, V := slices.Max(ids), cfg.Model.Cfg.Vocab; top >= int32(V) {
			return nil, 0, fmt.Errorf("eval: the tokenizer gives id %d, outside the model's vocabulary of %d: not this model's tokenizer", top, V)
		}
		prompts[i] = ids
	}
	return prompts, cut, nil
}

// answerer returns the function that answers a batch of prompts: BoolQ's
// "T" when P(Yes) >= P(No) at the first new position (the softmax keeps
// the logits' order: the token picked is Yes or No), MMLU's first character
// of the greedy continuation. Both are read from the tokens generated, so
// every rank of a distributed job answers alike.
func answerer(cfg Config, task string, nNew int) (func(prompts [][]int32) ([]string, error), error) {
	var yes, no int32
	if task == BoolQ {
		var err error
		V := cfg.Model.Cfg.Vocab
		if yes, err = lastID(cfg.Tok, cfg.AnswerPrefix+"Yes", V); err != nil {
			return nil, err
		}
		if no, err = lastID(cfg.Tok, cfg.AnswerPrefix+"No", V); err != nil {
			return nil, err
		}
	}
	generate := cfg.Generate
	if generate == nil {
		generate = cfg.Model.Generate
	}
	return func(prompts [][]int32) ([]string, error) {
		o := bloom.GenerateOptions{MaxNew: nNew, EOS: -1, Pick: bloom.Greedy}
		if task == BoolQ {
			o.Pick = func(_ int, logits []float32) int32 {
				if logits[yes] >= logits[no] {
					return yes
				}
				return no
			}
		}
		out, err := generate(prompts, cfg.Pad, o)
		if err != nil {
			return nil, err
		}
		preds := make([]string, len(prompts))
		for i, ids := range out {
			switch {
			case task == MMLU:
				preds[i] = firstChar(cfg.Tok.Decode(ids, true))
			case ids[0] == yes:
				preds[i] = "T"
			default:
				preds[i] = "F"
			}
		}
		return preds, nil
	}, nil
}

// add scores a batch's answers: in all and, for MMLU, per subject in the
// order subjects first come.
func (res *Result) add(part []Question, preds []string) {
	res.Answers = append(res.Answers, preds...)
	for i, q := range part {
		ok := preds[i] == q.Gold
		if ok {
			res.Correct++
		}
		if q.Task != MMLU {
			continue
		}
		k := slices.IndexFunc(res.Subjects, func(s Score) bool { return s.Name == q.Subject })
		if k < 0 {
			k = len(res.Subjects)
			res.Subjects = append(res.Subjects, Score{Name: q.Subject})
		}
		res.Subjects[k].N++
		if ok {
			res.Subjects[k].Correct++
		}
	}
	res.N += len(part)
}

// lastID is the last token of text's encoding (no special tokens): the
// token the seed compares.
func lastID(tok *tokenizer.Tokenizer, text string, vocab int) (int32, error) {
	ids := tok.AppendIDs(nil, text)
	if len(ids) == 0 || int(ids[len(ids)-1]) >= vocab {
		return 0, fmt.Errorf("eval: %q has no token in the model's vocabulary of %d", text, vocab)
	}
	return ids[len(ids)-1], nil
}

// firstChar is the seed's MMLU answer: the first character of the
// generated text after spaces and newlines ("" if there is none).
func firstChar(s string) string {
	s = strings.TrimLeft(s, " \n")
	if s == "" {
		return ""
	}
	_, n := utf8.DecodeRuneInString(s)
	return s[:n]
}
