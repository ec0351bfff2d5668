package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	ucli "github.com/urfave/cli/v2"

	"bloom/api"
	"bloom/daemon/jobspec"
	"bloom/trainer"
)

func jobCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "job",
		Args:  true,
		Usage: "show a job: state, plan, progress (step, loss, tokens/s), attempts, checkpoints",
		Description: `Shows one job in full: its state, its plan (every rank's node and device),
progress and throughput, each attempt and why it ended, and its checkpoints.
--watch prints a line per step until the job ends and fails unless it
succeeded. --output json prints GET /v1/jobs/ID's answer on one line (with
--watch: the ended job, the lines going to stderr).`,
		UsageText: "bloomctl job ID [--watch]",
		Flags: []ucli.Flag{
			&ucli.BoolFlag{Name: "watch", Aliases: []string{"w"}, Usage: "print a line per step until the job ends; fail unless it succeeds (with --output json the lines go to stderr and the ended job to stdout, as JSON)"},
		},
		Action: func(c *ucli.Context) error {
			id, err := jobArg(c)
			if err != nil {
				return err
			}
			if !c.Bool("watch") {
				get := func(cl *api.Client, ctx context.Context) (*api.JobInfo, error) { return cl.Job(ctx, id) }
				return query(c, get, func(job *api.JobInfo) error { return writeJob(c.App.Writer, job) })
			}
			cl, err := ctlClient(c)
			if err != nil {
				return err
			}
			defer cl.Close()
			return watchJob(c, cl, id, false)
		},
	}
}

// writeJob prints one job in full: state, plan with every rank's place,
// progress, attempts and checkpoints.
func writeJob(w io.Writer, j *api.JobInfo) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "job:\t%s (%s)\n", j.ID, printable(j.Name))
	state := j.State
	if j.Reason != "" {
		state += ": " + j.Reason
	}
	fmt.Fprintf(tw, "state:\t%s\n", state)
	fmt.Fprintf(tw, "submitted:\t%s\n", time.UnixMilli(j.SubmittedAt).Format(time.DateTime))
	if p := j.Plan; p != nil {
		fmt.Fprintf(tw, "plan:\tTP %d × PP %d × DP %d = %d ranks\n", p.TP, p.PP, p.DP, len(p.Ranks))
		l := trainer.Layout{TP: p.TP, PP: p.PP, DP: p.DP}
		for _, r := range p.Ranks {
			at := l.Coords(r.Rank)
			fmt.Fprintf(tw, "\trank %d on %s %s (tp %d, dp %d, pp %d)\n", r.Rank, r.Node, r.Device, at.TP, at.DP, at.PP)
		}
	}
	if p := j.Progress; p != nil {
		fmt.Fprintf(tw, "progress:\t%s\n", progressLine(p))
		if t := p.Throughput; t.SecondsPerStep > 0 {
			mfu := "-"
			if t.MFU > 0 {
				mfu = fmt.Sprintf("%.1f%%", 100*t.MFU)
			}
			fmt.Fprintf(tw, "throughput:\tsamples/s %.4g | tokens/s/device %.4g | s/step %.4g | TFLOPs/device %.4g | MFU %s (step %d)\n",
				t.SamplesPerSec, t.TokensPerSecPerDevice, t.SecondsPerStep, t.TFLOPs, mfu, p.Step)
		}
	}
	for _, a := range j.Attempts {
		end := "running"
		if a.EndedAt > 0 {
			end = "ended " + time.UnixMilli(a.EndedAt).Format(time.TimeOnly)
			if a.Planned {
				end = "stopped as planned " + time.UnixMilli(a.EndedAt).Format(time.TimeOnly) + ", not a failure"
			}
			if a.Cause != "" {
				end += ": " + a.Cause
			}
			if a.LastStep > 0 {
				end += fmt.Sprintf(" (last step %d, %d steps lost)", a.LastStep, a.StepsLost)
			} else if a.StepsLost > 0 {
				end += fmt.Sprintf(" (%d steps lost)", a.StepsLost)
			}
		}
		from := "fresh start"
		if a.FromStep > 0 {
			from = fmt.Sprintf("from the checkpoint of step %d", a.FromStep)
			if a.FromDir != "" {
				from += " in " + a.FromDir
			}
		}
		fmt.Fprintf(tw, "attempt %d:\tstarted %s, %s; %s\n", a.N, time.UnixMilli(a.StartedAt).Format(time.TimeOnly), from, end)
	}
	for _, k := range j.Checkpoints {
		fmt.Fprintf(tw, "checkpoint:\tstep %d in %s (manifest %.12s)\n", k.Step, k.Dir, k.Manifest)
	}
	writeResult(tw, j.Result)
	if spec, err := jobspec.Unmarshal(j.Spec); err == nil && spec.Kind == jobspec.KindServe {
		fmt.Fprintf(tw, "serving:\tthrough any bloomd at /v1/serve/%s/ (OpenAI base URL: https://NODE/v1/serve/%s/v1/)\n", j.ID, j.ID)
	}
	return tw.Flush()
}

// writeResult prints a generate or evaluate job's answer.
func writeResult(w io.Writer, raw json.RawMessage) {
	if len(raw) == 0 {
		return
	}
	var g api.GenerateResult
	var e api.EvaluateResult
	switch {
	case json.Unmarshal(raw, &e) == nil && e.Task != "":
		fmt.Fprintf(w, "result:\t%s accuracy %.4f (%d of %d; %d prompts cut)\n", e.Task, e.Accuracy, e.Correct, e.Questions, e.Truncated)
		for _, s := range e.Subjects {
			fmt.Fprintf(w, "\t%s: %.4f (%d of %d)\n", s.Name, s.Accuracy, s.Correct, s.Questions)
		}
	case json.Unmarshal(raw, &g) == nil:
		for _, o := range g.Outputs {
			fmt.Fprintf(w, "result:\t%q → %q\n", o.Prompt, o.Text)
		}
	}
}

// progressLine is a job's latest step as one line, with the checkpoint it
// is writing, if any.
func progressLine(p *api.JobProgress) string {
	s := p.Line()
	if p.Checkpointing > 0 {
		s += fmt.Sprintf(" | checkpointing step %d", p.Checkpointing)
	}
	return s
}

// watchJob prints a line per new step (and per state change) until the
// job ends; it fails unless the job succeeded. With --output json the
// lines go to stderr and stdout gets the ended job as JSON (as bloomctl
// job ID -o json prints it). A failed poll is retried (a leader election,
// a node restarting in a rollout) once the cluster has answered, which
// answered says it already has (submit --watch); before that, it is the
// error: a job --watch at an address where no bloomd answers fails, as job
// ID does, instead of retrying forever.
func watchJob(c *ucli.Context, cl *api.Client, id string, answered bool) error {
	asJSON, err := outputJSON(c)
	if err != nil {
		return err
	}
	w := c.App.Writer
	if asJSON {
		w = c.App.ErrWriter
	}
	var lastStep int64 = -1
	lastState := ""
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		ctx, cancel := context.WithTimeout(c.Context, 10*time.Second)
		j, err := cl.Job(ctx, id)
		cancel()
		var se *api.StatusError
		switch {
		case errors.As(err, &se) && se.Code == 404:
			return err
		case err != nil && !answered:
			return err
		case err != nil:
			fmt.Fprintf(c.App.ErrWriter, "(%v; retrying)\n", err)
		default:
			answered = true
			end := api.JobTerminal(j.State)
			if !end {
				lastState = printState(w, j, lastState)
			}
			if p := j.Progress; p != nil && p.Step != lastStep && p.Step > 0 {
				fmt.Fprintln(w, progressLine(p))
				lastStep = p.Step
			}
			if end {
				printState(w, j, lastState)
				err := watchEnd(w, j)
				if asJSON {
					if werr := writeJSON(c.App.Writer, j); werr != nil {
						return werr
					}
				}
				return err
			}
		}
		select {
		case <-c.Context.Done():
			return c.Context.Err()
		case <-t.C:
		}
	}
}

// printState prints the job's state when it differs from last (running
// and checkpointing count as one) and returns the state now.
func printState(w io.Writer, j *api.JobInfo, last string) string {
	norm := func(s string) string {
		if s == api.JobCheckpointing {
			return api.JobRunning
		}
		return s
	}
	if norm(j.State) == norm(last) {
		return last
	}
	line := "job " + j.ID + ": " + j.State
	if j.Reason != "" {
		line += ": " + j.Reason
	}
	if j.State == api.JobRunning && j.Plan != nil {
		line += fmt.Sprintf(" (TP %d × PP %d × DP %d on %s)", j.Plan.TP, j.Plan.PP, j.Plan.DP, nodesOf(j.Plan))
	}
	fmt.Fprintln(w, line)
	return j.State
}

// watchEnd prints where the ended job j left its last checkpoint and
// fails, with the cause, unless it succeeded.
func watchEnd(w io.Writer, j *api.JobInfo) error {
	if len(j.Checkpoints) > 0 {
		k := j.Checkpoints[len(j.Checkpoints)-1]
		fmt.Fprintf(w, "last checkpoint: step %d in %s\n", k.Step, k.Dir)
	}
	if j.State == api.JobSucceeded {
		return nil
	}
	cause := j.Reason
	if n := len(j.Attempts); n > 0 && j.Attempts[n-1].Cause != "" {
		cause = j.Attempts[n-1].Cause
	}
	return fmt.Errorf("job %s %s: %s", j.ID, j.State, cause)
}

// nodesOf is the nodes the plan places ranks on, in rank order, once each.
func nodesOf(p *api.Plan) string {
	var names []string
	seen := map[string]bool{}
	for _, r := range p.Ranks {
		if !seen[r.Node] {
			seen[r.Node] = true
			names = append(names, r.Node)
		}
	}
	return strings.Join(names, ",")
}

// jobArg is the one job ID a command takes. urfave/cli reads flags only
// before the arguments; flags after the ID (bloomctl logs ID --rank 1 -f)
// are parsed here, so both orders work.
func jobArg(c *ucli.Context) (string, error) {
	if c.NArg() == 0 {
		return "", errors.New("give the job's ID (bloomctl jobs lists them)")
	}
	if c.NArg() > 1 {
		if err := parseTrailingFlags(c); err != nil {
			return "", err
		}
	}
	return c.Args().First(), nil
}

// parseTrailingFlags sets the command's flags found after its first argument.
func parseTrailingFlags(c *ucli.Context) error {
	fs := flag.NewFlagSet(c.Command.Name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	canonical := map[string]string{}
	for _, f := range c.Command.Flags {
		if err := f.Apply(fs); err != nil {
			return err
		}
		for _, n := range f.Names() {
			canonical[n] = f.Names()[0]
		}
	}
	name := c.Command.HelpName // bloomctl checkpoints fetch
	if name == "" {
		name = "bloomctl " + c.Command.Name
	}
	if err := fs.Parse(c.Args().Tail()); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s takes one job ID, got also %q", name, fs.Args())
	}
	var err error
	fs.Visit(func(f *flag.Flag) {
		if e := c.Set(canonical[f.Name], f.Value.String()); e != nil && err == nil {
			err = e
		}
	})
	return err
}
