package cli

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	ucli "github.com/urfave/cli/v2"

	"bloom/api"
)

func jobsCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "jobs",
		Usage: "list the jobs: state, layout, step, loss, tokens/s",
		UsageText: "bloomctl jobs [--output table|json]\n" +
			"   bloomctl jobs -o json | jq -r '.jobs[] | select(.state == \"running\") | .id'",
		Description: `Lists every job the cluster knows, oldest first: id, name, state, TP × PP × DP,
step of steps, loss, tokens/s. Any node answers (the coordinator's view, from
Raft). --output json prints GET /v1/jobs's answer, {"jobs": [...]}, on one line.
Exits 1 with the reason on stderr when no node can be reached.`,
		Action: func(c *ucli.Context) error {
			list := func(cl *api.Client, ctx context.Context) (api.JobInfoList, error) {
				jobs, err := cl.JobList(ctx)
				return api.JobInfoList{Jobs: jobs}, err
			}
			return query(c, list, func(l api.JobInfoList) error { return writeJobs(c, l.Jobs) })
		},
	}
}

// writeJobs prints one table row per job.
func writeJobs(c *ucli.Context, jobs []api.JobInfo) error {
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSTATE\tTP×PP×DP\tSTEP\tLOSS\tTOKENS/S\tSUBMITTED")
	for _, j := range jobs {
		step, loss, tps := "-", "-", "-"
		if p := j.Progress; p != nil && p.Step > 0 {
			step, loss, tps = fmt.Sprintf("%d/%d", p.Step, p.Steps), fmt.Sprintf("%.4f", p.Loss), fmt.Sprintf("%.0f", p.TokensPerSec)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", j.ID, printable(j.Name), j.State, layout(j.Plan), step, loss, tps,
			time.UnixMilli(j.SubmittedAt).Format(time.DateTime))
	}
	return tw.Flush()
}

// layout is a plan's TP×PP×DP, "-" before the job is placed.
func layout(p *api.Plan) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf("%d×%d×%d", p.TP, p.PP, p.DP)
}
