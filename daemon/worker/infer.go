package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"bloom/api"
	"bloom/ckpt"
	"bloom/daemon/jobspec"
	"bloom/npu"
	"bloom/trainer"
	"bloom/trainer/bloom"
	"bloom/trainer/eval"
	"bloom/trainer/tokenizer"
)

// infer runs this rank of a generate or evaluate job: it keeps its part
// of the model on dev (loadPart) and answers alongside the other ranks;
// rank 0 sends the answer to the daemon, which keeps it with the job.
func (w *worker) infer(ctx context.Context, dev npu.Device) error {
	a, s := &w.a, &w.a.Spec
	inf, _, tok, closeComms, err := w.loadPart(ctx, dev)
	if err != nil {
		return err
	}
	defer closeComms()
	// Decoding steps of a few rows read every weight once: packed once
	// here (in the products' half type under --fp16/--bf16) instead of by
	// every product.
	if !s.NoPackWeights {
		inf.Model.PackWeights()
	}
	gen := func(prompts [][]int32, pad int32, o bloom.GenerateOptions) ([][]int32, error) {
		return inf.Generate(ctx, prompts, pad, o)
	}
	var result any
	if s.Kind == jobspec.KindGenerate {
		result, err = generate(s, tok, func(prompts [][]int32, pad int32, o bloom.GenerateOptions) ([][]int32, [][]float32, error) {
			return inf.GenerateLogProbs(ctx, prompts, pad, o)
		})
	} else {
		result, err = evaluate(s, tok, inf.Model, gen)
	}
	if err != nil {
		return err
	}
	if a.Rank != 0 {
		return nil
	}
	b, err := json.Marshal(result)
	if err != nil {
		return err
	}
	return w.link.send(Msg{Type: "result", Value: b})
}

// loadPart keeps this rank's part of the job's model (--load) on dev
// (trainer.Infer) and joins the job's communicators: a Hugging Face
// directory is read tensor by tensor into the part (no rank holds the
// whole model); a native checkpoint, of any layout, is reassembled on the
// host first. It checks the model against the job's shape and returns its
// Hugging Face config (its special tokens) and tokenizer too. closeComms
// leaves the communicators.
func (w *worker) loadPart(ctx context.Context, dev npu.Device) (inf *trainer.Infer, hf ckpt.BloomConfig, tok *tokenizer.Tokenizer, closeComms func(), err error) {
	a, s := &w.a, &w.a.Spec
	shape, err := s.ModelConfig()
	if err != nil {
		return nil, hf, nil, nil, err
	}
	if tok, err = jobTokenizer(s); err != nil {
		return nil, hf, nil, nil, err
	}
	layout := trainer.Layout{TP: a.Plan.TP, PP: a.Plan.PP, DP: 1}
	part, err := trainer.Place(shape, layout, a.Rank, s.PartitionLayers)
	if err != nil {
		return nil, hf, nil, nil, err
	}
	env := trainer.Env{Dev: dev}
	rc := trainer.RankConfig{Model: shape, Layout: layout, Rank: a.Rank, PartitionLayers: s.PartitionLayers}
	if closeComms, err = w.connect(ctx, rc, &env); err != nil {
		return nil, hf, nil, nil, err
	}
	defer func() {
		if err != nil {
			closeComms()
		}
	}()
	if _, statErr := os.Stat(filepath.Join(s.Load, "config.json")); statErr == nil {
		if inf, hf, err = trainer.NewInferHF(s.Load, part, env); err != nil {
			return nil, hf, nil, nil, fmt.Errorf("%w: --load %s: %w", errJobInput, s.Load, err)
		}
		if inf.Model.Cfg != shape {
			return nil, hf, nil, nil, fmt.Errorf("%w: --load %s holds a model of %+v, the job says %+v", errJobInput, s.Load, inf.Model.Cfg, shape)
		}
	} else {
		host, err := npu.Open("cpu", npu.Options{Threads: a.Threads})
		if err != nil {
			return nil, hf, nil, nil, err
		}
		full, cfg, err := trainer.LoadModel(host, s.Load)
		if err != nil {
			return nil, hf, nil, nil, fmt.Errorf("%w: --load %s: %w", errJobInput, s.Load, err)
		}
		if full.Cfg != shape {
			return nil, hf, nil, nil, fmt.Errorf("%w: --load %s holds a model of %+v, the job says %+v", errJobInput, s.Load, full.Cfg, shape)
		}
		if inf, err = trainer.NewInfer(full, part, env); err != nil {
			return nil, hf, nil, nil, err
		}
		hf = cfg
	}
	if err := inf.Model.SetPrecision(s.Precision()); err != nil {
		return nil, hf, nil, nil, err
	}
	w.logf("job %s: %s on rank %d (blocks %d-%d of %d, %v products)", a.Job, s.Kind, a.Rank, part.First, part.First+part.Layers-1, shape.Layers, s.Precision())
	return inf, hf, tok, closeComms, nil
}

// pad is BLOOM's <pad>, which left-pads a batch's prompts.
const pad = 3

// jobTokenizer is --tokenizer-name-or-path, or the model's tokenizer.json.
func jobTokenizer(s *jobspec.Spec) (*tokenizer.Tokenizer, error) {
	path := s.TokenizerNameOrPath
	if path == "" {
		path = filepath.Join(s.Load, "tokenizer.json")
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("%w: give --tokenizer-name-or-path: %s has no tokenizer.json", errJobInput, s.Load)
		}
	}
	tok, err := tokenizer.Load(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errJobInput, err)
	}
	return tok, nil
}

// generate continues every prompt, MicroBatch at a time.
func generate(s *jobspec.Spec, tok *tokenizer.Tokenizer, gen func([][]int32, int32, bloom.GenerateOptions) ([][]int32, [][]float32, error)) (api.GenerateResult, error) {
	o := bloom.GenerateOptions{MaxNew: s.MaxNewTokens, EOS: 2, Pick: bloom.Greedy}
	if o.MaxNew == 0 {
		o.MaxNew = 32
	}
	if s.Temperature > 0 {
		topP := s.TopP
		if topP == 0 {
			topP = 1
		}
		o.Pick = bloom.NewSampler(s.Temperature, s.TopK, topP, s.Seed).Pick
	}
	res := api.GenerateResult{Outputs: []api.GenerateOutput{}}
	for lo := 0; lo < len(s.Prompts); lo += s.MicroBatch {
		texts := s.Prompts[lo:min(lo+s.MicroBatch, len(s.Prompts))]
		var ids [][]int32
		for _, t := range texts {
			p := tok.Encode(t).IDs
			if keep := s.SeqLength - o.MaxNew; keep < 1 || len(p) == 0 {
				return res, fmt.Errorf("%w: prompt %q encodes to %d tokens; --seq-length %d leaves %d after %d new ones",
					errJobInput, t, len(p), s.SeqLength, keep, o.MaxNew)
			} else if len(p) > keep {
				p = p[len(p)-keep:]
			}
			ids = append(ids, p)
		}
		out, lps, err := gen(ids, pad, o)
		if err != nil {
			return res, err
		}
		for i, t := range texts {
			res.Outputs = append(res.Outputs, api.GenerateOutput{Prompt: t, Text: tok.Decode(out[i], true), Tokens: out[i], Logprobs: lps[i]})
		}
	}
	return res, nil
}

// evaluate scores the model on the job's task, as bloomctl evaluate does.
func evaluate(s *jobspec.Spec, tok *tokenizer.Tokenizer, part *bloom.Model, gen func([][]int32, int32, bloom.GenerateOptions) ([][]int32, error)) (api.EvaluateResult, error) {
	var qs []eval.Question
	var err error
	if s.Task == eval.BoolQ {
		qs, err = eval.LoadBoolQ(s.TaskDataPath)
	} else {
		qs, err = eval.LoadMMLU(s.TaskDataPath, eval.MMLUOptions{})
	}
	if err != nil {
		return api.EvaluateResult{}, fmt.Errorf("%w: --task-data-path: %w", errJobInput, err)
	}
	if s.Limit > 0 && s.Limit < len(qs) {
		qs = qs[:s.Limit]
	}
	r, err := eval.Run(eval.Config{Model: part, Generate: gen, Tok: tok, Pad: pad, SeqLength: s.SeqLength, Batch: s.MicroBatch}, qs)
	if err != nil {
		return api.EvaluateResult{}, err
	}
	res := api.EvaluateResult{Task: s.Task, Questions: r.N, Correct: r.Correct, Accuracy: r.Accuracy,
		Truncated: r.Truncated, Answers: r.Answers}
	for _, sub := range r.Subjects {
		res.Subjects = append(res.Subjects, api.SubjectScore{Name: sub.Name, Questions: sub.N, Correct: sub.Correct, Accuracy: sub.Accuracy})
	}
	return res, nil
}
