package cli

import (
	"fmt"

	ucli "github.com/urfave/cli/v2"

	"bloom/npu"
	"bloom/trainer/bloom"
)

// scoreResult is what score prints: logprobs[i] = log p(token i | tokens
// before it), null for the first; loss is the mean of −logprobs[1:].
type scoreResult struct {
	Tokens   []int32    `json:"tokens"`
	Logprobs []*float64 `json:"logprobs"`
	Loss     float64    `json:"loss"`
}

func scoreCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "score",
		Usage:     "log-probabilities of a token sequence under a model",
		UsageText: "bloomctl score --model DIR (--tokens 5,17,42 | [--tokenizer FILE] --text TEXT)",
		Description: `Prints {"tokens":[...],"logprobs":[null,lp1,...],"loss":x}: logprobs[i] is
log p(token i | tokens before it) and loss is the mean of -logprobs[1:].`,
		Flags: append([]ucli.Flag{
			modelFlag,
			&ucli.StringFlag{Name: "tokens", Usage: "comma-separated token ids, at least two"},
			tokenizerFlag,
			&ucli.StringFlag{Name: "text", Usage: "`TEXT` to score, encoded with --tokenizer (default: the --model directory's tokenizer.json)"},
		}, precisionFlags...),
		Action: func(c *ucli.Context) error {
			ids, _, err := textIDs(c, "text", "tokens")
			if err != nil {
				return err
			}
			if len(ids) < 2 {
				return fmt.Errorf("need at least two tokens to score, got %d", len(ids))
			}
			m, _, err := loadModel(c)
			if err != nil {
				return err
			}
			r, err := score(m, ids)
			if err != nil {
				return err
			}
			return writeJSON(c.App.Writer, r)
		},
	}
}

// score is the model's log-probability of each of ids after the ones
// before it, and their mean loss.
func score(m *bloom.Model, ids []int32) (scoreResult, error) {
	T := len(ids)
	targets := make([]int32, T)
	copy(targets, ids[1:])
	targets[T-1] = npu.IgnoreIndex
	losses, err := m.TokenLosses(bloom.Batch{B: 1, T: T, IDs: ids, Targets: targets})
	if err != nil {
		return scoreResult{}, err
	}
	r := scoreResult{Tokens: ids, Logprobs: make([]*float64, T)}
	for i := 1; i < T; i++ {
		lp := -float64(losses[i-1])
		r.Logprobs[i] = &lp
		r.Loss -= lp / float64(T-1)
	}
	return r, nil
}
