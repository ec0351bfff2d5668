package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"

	"bloom/api"
	"bloom/daemon/jobspec"
)

func submitCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "submit",
		Args:  true,
		Usage: "submit a job: a job file (YAML or JSON), or `submit pretrain --FLAGS`",
		UsageText: "bloomctl submit [--name NAME] [--watch] job.yaml\n   bloomctl submit pretrain [--name NAME] [--watch] [Megatron flags...]\n" +
			"   bloomctl submit generate --load DIR --model-preset P --prompt TEXT ...\n   bloomctl submit evaluate --load DIR --model-preset P --task boolq --task-data-path PATH",
		Description: "A job file holds the same settings as the flags of `submit pretrain`, named as the\n" +
			"seed's Megatron flags (tensor-model-parallel-size: 2, or with underscores), plus name\n" +
			"and config (a BLOOM config.json, relative to the file). The cluster checks the job\n" +
			"before it accepts it and says what to change when it cannot run.",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "name", Usage: "the job's `NAME` (default: the file's name, or pretrain)"},
			&ucli.BoolFlag{Name: "watch", Usage: "then show progress until the job ends (as bloomctl job ID --watch does; with --output json, stdout has the submitted job, then the ended one, a JSON object a line)"},
		},
		Subcommands: []*ucli.Command{pretrainCommand(), inferCommand(jobspec.KindGenerate), inferCommand(jobspec.KindEvaluate), inferCommand(jobspec.KindServe)},
		Action: func(c *ucli.Context) error {
			if c.NArg() != 1 {
				return errors.New("give one job file (bloomctl submit job.yaml), or use bloomctl submit pretrain --FLAGS")
			}
			jf, err := jobspec.LoadFile(c.Args().First())
			if err != nil {
				return err
			}
			if jf.Name == "" {
				jf.Name = strings.TrimSuffix(filepath.Base(c.Args().First()), filepath.Ext(c.Args().First()))
			}
			if n := c.String("name"); n != "" {
				jf.Name = n
			}
			return submit(c, jf)
		},
	}
}

// pretrainCommand is `submit pretrain`: a job from flags instead of a file.
func pretrainCommand() *ucli.Command {
	flags := []ucli.Flag{
		&ucli.StringFlag{Name: "name", Value: "pretrain", Usage: "the job's `NAME`"},
		&ucli.StringFlag{Name: "config", Usage: "a BLOOM config.json `FILE` for the model's shape (instead of --model-preset)"},
		&ucli.BoolFlag{Name: "watch", Usage: "then show progress until the job ends (with --output json, stdout has the submitted job, then the ended one, a JSON object a line)"},
	}
	flags = append(flags, specFlags(nil)...)
	return &ucli.Command{
		Name:      "pretrain",
		Args:      true, // refused below, with its own hint
		Usage:     "submit a BLOOM pretraining job with Megatron's flag names",
		UsageText: "bloomctl submit pretrain --model-preset bloom-tiny --train-iters 300 [--tensor-model-parallel-size 2 ...]",
		Flags:     flags,
		Action: func(c *ucli.Context) error {
			jf := jobspec.File{Name: c.String("name"), Spec: jobspec.Default()}
			if p := c.String("config"); p != "" {
				if err := jf.Spec.SetConfigFile(p); err != nil {
					return err
				}
			}
			if err := setSpec(c, &jf.Spec); err != nil {
				return err
			}
			if c.NArg() > 0 {
				return fmt.Errorf("unexpected arguments %v: every setting is a --flag", c.Args().Slice())
			}
			if err := jf.Spec.Validate(); err != nil {
				return err
			}
			return submit(c, jf)
		},
	}
}

// inferFields are the settings of generate and evaluate jobs, by kind:
// the model and its placement, and each kind's own.
var inferFields = map[string][]string{
	"": {"model-preset", "load", "tokenizer-name-or-path", "tensor-model-parallel-size", "pipeline-model-parallel-size",
		"partition-layers", "seq-length", "max-restarts", "fp16", "bf16"},
	jobspec.KindGenerate: {"prompt", "max-new-tokens", "temperature", "top-k", "top-p", "seed", "micro-batch-size", "no-pack-weights"},
	jobspec.KindEvaluate: {"task", "task-data-path", "limit", "micro-batch-size", "no-pack-weights"},
	jobspec.KindServe:    {"max-batch", "kv-cache-tokens", "kv-cache-dtype", "prefill-chunk"},
}

// inferUsage is how a field reads in an inference job, where it differs.
var inferUsage = map[string]specFlag{
	"load":             {usage: "the model to run: a Hugging Face directory or a native checkpoint (any layout), on every node"},
	"micro-batch-size": {usage: "prompts or questions per batch"},
	"seed":             {usage: "the sampling seed (with --temperature > 0)"},
	"seq-length":       {usage: "tokens a prompt and its new tokens may take; longer prompts lose their beginning"},
	"fp16":             {usage: "matrix products in fp16, as the seed generates, evaluates and serves (weights and activations rounded as they enter a product, float32 sums)"},
	"bf16":             {usage: "matrix products in bf16 (weights and activations rounded as they enter a product, float32 sums)"},
}

// inferDescription is the help text of `submit KIND` for an inference kind.
func inferDescription(kind string) string {
	shape := "The model's shape comes from --model-preset or --config, and must be the one --load holds."
	if kind == jobspec.KindServe {
		return "The server runs until the job is cancelled (bloomctl cancel ID) or rolled out; clients reach it\n" +
			"through any bloomd at /v1/serve/JOB/ with the cluster's API token. " + shape
	}
	return "The answer is kept with the job: bloomctl job ID (--output json: its result). " + shape
}

// inferCommand is `submit generate`, `submit evaluate` or `submit serve`: the model of
// --load run across the nodes with tensor and pipeline parallelism, its
// answer kept with the job (bloomctl job ID).
func inferCommand(kind string) *ucli.Command {
	only := map[string]specFlag{}
	for _, k := range []string{"", kind} {
		for _, name := range inferFields[k] {
			only[name] = inferUsage[name]
		}
	}
	seq := only["seq-length"]
	seq.defaultText = strconv.Itoa(jobspec.DefaultFor(kind).SeqLength)
	only["seq-length"] = seq
	flags := []ucli.Flag{
		&ucli.StringFlag{Name: "name", Value: kind, Usage: "the job's `NAME`"},
		&ucli.StringFlag{Name: "config", Usage: "the model's config.json `FILE` for its shape (instead of --model-preset)"},
		&ucli.BoolFlag{Name: "watch", Usage: "then show progress until the job ends (with --output json, stdout has the submitted job, then the ended one, a JSON object a line)"},
	}
	usage := "generate from text prompts with a model across the cluster (tensor parallelism inside a node, pipeline across nodes)"
	switch kind {
	case jobspec.KindGenerate:
		flags = append(flags, &ucli.StringFlag{Name: "prompt-file", Usage: "more prompts, one per line of `FILE`"})
	case jobspec.KindEvaluate:
		usage = "score a model on BoolQ or MMLU across the cluster, as bloomctl evaluate does in one process"
	case jobspec.KindServe:
		usage = "serve a model on the cluster (bloomctl serve's API, continuous batching; one device, or TP inside a node and PP across nodes), reached through any bloomd at /v1/serve/JOB/"
	}
	return &ucli.Command{
		Name:        kind,
		Args:        true, // refused below, with its own hint
		Usage:       usage,
		Description: inferDescription(kind),
		Flags:       append(flags, specFlags(only)...),
		Action: func(c *ucli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("unexpected arguments %v: every setting is a --flag (quote a prompt: --prompt \"...\")", c.Args().Slice())
			}
			jf := jobspec.File{Name: c.String("name"), Spec: jobspec.DefaultFor(kind)}
			if p := c.String("config"); p != "" {
				if err := jf.Spec.SetConfigFile(p); err != nil {
					return err
				}
			}
			if err := setSpec(c, &jf.Spec); err != nil {
				return err
			}
			if f := c.String("prompt-file"); f != "" {
				b, err := os.ReadFile(f)
				if err != nil {
					return fmt.Errorf("--prompt-file: %w", err)
				}
				for _, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
					if line != "" {
						jf.Spec.Prompts = append(jf.Spec.Prompts, line)
					}
				}
			}
			if err := jf.Spec.Validate(); err != nil {
				return err
			}
			return submit(c, jf)
		},
	}
}

// submit sends the job and prints its id (or, with --output json, the job).
func submit(c *ucli.Context, jf jobspec.File) error {
	spec, err := jf.Spec.Marshal()
	if err != nil {
		return err
	}
	send := func(cl *api.Client, ctx context.Context) (*api.JobInfo, error) {
		job, err := cl.Submit(ctx, api.SubmitJobRequest{Name: jf.Name, Spec: spec})
		var se *api.StatusError
		if errors.As(err, &se) && se.Code == 400 {
			return nil, fmt.Errorf("the cluster refused the job: %s", se.Message)
		}
		return job, err
	}
	job, err := change(c, send, func(job *api.JobInfo) error {
		fmt.Fprintf(c.App.Writer, "submitted job %s (%s)\n", job.ID, job.Name)
		_, err := fmt.Fprintf(c.App.Writer, "watch it: bloomctl job --watch %s | bloomctl logs -f %s\n", job.ID, job.ID)
		return err
	})
	if err != nil || !c.Bool("watch") {
		return err
	}
	cl, err := ctlClient(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	return watchJob(c, cl, job.ID, true)
}

// retryElection retries a write while the cluster answers 503 (no leader:
// an election is under way), until ctx ends.
func retryElection(ctx context.Context, call func() error) error {
	for {
		err := call()
		var se *api.StatusError
		if !errors.As(err, &se) || se.Code != http.StatusServiceUnavailable {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(250 * time.Millisecond):
		}
	}
}
