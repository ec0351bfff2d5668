package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"

	"bloom/api"
	"bloom/daemon/jobspec"
)

func submitCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "submit",
		Usage:     "submit a job: a job file (YAML or JSON), or `submit pretrain --FLAGS`",
		UsageText: "bloomctl submit [--name NAME] [--watch] job.yaml\n   bloomctl submit pretrain [--name NAME] [--watch] [Megatron flags...]",
		Description: "A job file holds the same settings as the flags of `submit pretrain`, named as the\n" +
			"seed's Megatron flags (tensor-model-parallel-size: 2, or with underscores), plus name\n" +
			"and config (a BLOOM config.json, relative to the file). The cluster checks the job\n" +
			"before it accepts it and says what to change when it cannot run.",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "name", Usage: "the job's `NAME` (default: the file's name, or pretrain)"},
			&ucli.BoolFlag{Name: "watch", Usage: "then show progress until the job ends (as `bloomctl job ID --watch`)"},
		},
		Subcommands: []*ucli.Command{pretrainCommand()},
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
		&ucli.BoolFlag{Name: "watch", Usage: "then show progress until the job ends"},
	}
	flags = append(flags, specFlags(nil)...)
	return &ucli.Command{
		Name:      "pretrain",
		Usage:     "submit a BLOOM pretraining job with Megatron's flag names",
		UsageText: "bloomctl submit pretrain --model-preset bloom-tiny --train-iters 300 [--tensor-model-parallel-size 2 ...]",
		Flags:     flags,
		Action: func(c *ucli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("unexpected arguments %v: every setting is a --flag", c.Args().Slice())
			}
			jf := jobspec.File{Name: c.String("name"), Spec: jobspec.Default()}
			if p := c.String("config"); p != "" {
				if err := jf.Spec.SetConfigFile(p); err != nil {
					return err
				}
			}
			if err := setSpec(c, &jf.Spec); err != nil {
				return err
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
	return watchJob(c, cl, job.ID)
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
