package cli

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	ucli "github.com/urfave/cli/v2"

	"bloom/trainer/eval"
)

func evaluateCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "evaluate",
		Usage:     "score a model on BoolQ or MMLU as the seed's evaluation does",
		UsageText: "bloomctl evaluate --model DIR --task boolq|mmlu --task-data-path PATH [--tokenizer FILE] [--shots 5] [--micro-batch-size 8]",
		Description: `Accuracy of --model on a task, computed as AscendSpeed's tasks/evaluation does, so
it compares with the seed's published figures (Bloom-7B: BoolQ 0.614, MMLU 0.251):

  boolq  --task-data-path: JSON lines files (passage, question, answer true/false, or
         label 1/0), a file or a directory of them. Prompt "{passage}\nQuestion:
         {question}?\nAnswer:"; the answer is yes when the next token is at least as
         likely to be "Yes" as "No" (--answer-prefix " " compares " Yes" and " No").
  mmlu   --task-data-path: {subject}_test.csv files (question, A, B, C, D, answer; no
         header), a file or a directory of them. The prompt starts with --shots solved
         examples from {subject}_dev.csv (beside the test files, or in ../dev as MMLU
         ships them), laid out as the seed's template lays them out (a newline
         between them), or with the seed's --fewshot-template; the answer is the first
         character the model writes after "Answer:" (greedy, two tokens).

Prints the accuracy (per MMLU subject and in all); progress goes to standard error.
  bloomctl evaluate --model bloom-7b1 --task mmlu --task-data-path mmlu/data/test --shots 5`,
		Flags: append([]ucli.Flag{
			modelFlag,
			&ucli.StringFlag{Name: "task", Usage: "boolq or mmlu"},
			&ucli.StringFlag{Name: "task-data-path", Aliases: []string{"data"}, Usage: "the task's `PATH`: a file or a directory of files"},
			&ucli.StringFlag{Name: "tokenizer", Usage: "Hugging Face tokenizer.json `FILE`, or a directory holding one (default: --model's)", EnvVars: []string{"BLOOM_TOKENIZER"}},
			&ucli.IntFlag{Name: "shots", Value: 5, Usage: "mmlu: solved examples from each subject's dev split before every question"},
			&ucli.StringFlag{Name: "fewshot-template", Usage: "mmlu: the seed's few-shot template `FILE` (JSON, subject to header text); replaces --shots"},
			&ucli.IntFlag{Name: "seq-length", Value: 1024, Usage: "longest prompt plus answer in tokens; longer prompts lose their beginning (counted in the output)"},
			&ucli.IntFlag{Name: "micro-batch-size", Value: 1, Usage: "questions per forward pass"},
			&ucli.IntFlag{Name: "limit", Usage: "score only the first N questions (0: all)"},
			&ucli.StringFlag{Name: "answer-prefix", Usage: "boolq: text before \"Yes\" and \"No\" when they are encoded (the seed: none)"},
			packFlag,
		}, precisionFlags...),
		Action: func(c *ucli.Context) error {
			asJSON, err := outputJSON(c)
			if err != nil {
				return err
			}
			qs, err := evalQuestions(c)
			if err != nil {
				return err
			}
			tok, err := modelTokenizerFlag(c)
			if err != nil {
				return err
			}
			m, hf, err := loadModel(c)
			if err != nil {
				return err
			}
			packWeights(c, m)
			start, last := time.Now(), time.Now()
			cfg := eval.Config{Model: m, Tok: tok, Pad: int32(hf.PadTokenID), SeqLength: c.Int("seq-length"),
				Batch: c.Int("micro-batch-size"), AnswerPrefix: c.String("answer-prefix"),
				Progress: func(done, total, correct int) {
					if time.Since(last) < 2*time.Second && done < total {
						return
					}
					last = time.Now()
					fmt.Fprintf(c.App.ErrWriter, "%s: %d/%d questions, %d correct (%.3f), %.1f questions/s\n", qs[0].Task,
						done, total, correct, float64(correct)/float64(done), float64(done)/time.Since(start).Seconds())
				}}
			res, err := eval.Run(cfg, qs)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(c.App.Writer, res)
			}
			return printEval(c.App.Writer, res, c.Int("seq-length"))
		},
	}
}

// evalQuestions loads --task's questions from --task-data-path, the first
// --limit of them.
func evalQuestions(c *ucli.Context) ([]eval.Question, error) {
	path := c.String("task-data-path")
	if path == "" {
		return nil, fmt.Errorf("--task-data-path PATH is required: the task's files")
	}
	if c.Int("micro-batch-size") < 1 || c.Int("limit") < 0 {
		return nil, fmt.Errorf("--micro-batch-size must be at least 1 and --limit not negative")
	}
	var qs []eval.Question
	var err error
	switch task := c.String("task"); task {
	case eval.BoolQ:
		qs, err = eval.LoadBoolQ(path)
	case eval.MMLU:
		o := eval.MMLUOptions{Shots: c.Int("shots")}
		if f := c.String("fewshot-template"); f != "" {
			if o.Template, err = eval.ReadTemplate(f); err != nil {
				return nil, err
			}
		}
		qs, err = eval.LoadMMLU(path, o)
	default:
		return nil, fmt.Errorf("--task %q: use boolq or mmlu", task)
	}
	if n := c.Int("limit"); err == nil && n > 0 && n < len(qs) {
		qs = qs[:n]
	}
	return qs, err
}

// printEval prints the accuracies as a table: each MMLU subject, then the
// task in all.
func printEval(out io.Writer, res eval.Result, seqLength int) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "TASK\tQUESTIONS\tCORRECT\tACCURACY")
	for _, s := range res.Subjects {
		fmt.Fprintf(w, "%s/%s\t%d\t%d\t%.4f\n", res.Name, s.Name, s.N, s.Correct, s.Accuracy)
	}
	fmt.Fprintf(w, "%s\t%d\t%d\t%.4f\n", res.Name, res.N, res.Correct, res.Accuracy)
	if err := w.Flush(); err != nil {
		return err
	}
	if res.Truncated > 0 {
		_, err := fmt.Fprintf(out, "%d prompts were longer than --seq-length %d and lost their beginning\n", res.Truncated, seqLength)
		return err
	}
	return nil
}
