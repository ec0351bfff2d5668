package cli

import (
	"context"
	"fmt"

	ucli "github.com/urfave/cli/v2"

	"bloom/api"
)

func cancelCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "cancel",
		Args:  true,
		Usage: "cancel a job: its workers are stopped on every node",
		Description: `Cancels a queued or running job: the coordinator records it in Raft and every
node stops the job's workers; its checkpoints stay. --output json prints the
job after the change on one line. Exits 1 (409 from the cluster) when the job
has already ended, or when there is no such job.`,
		UsageText: "bloomctl cancel ID",
		Action: func(c *ucli.Context) error {
			id, err := jobArg(c)
			if err != nil {
				return err
			}
			cancelJob := func(cl *api.Client, ctx context.Context) (*api.JobInfo, error) { return cl.Cancel(ctx, id) }
			_, err = change(c, cancelJob, func(job *api.JobInfo) error {
				_, err := fmt.Fprintf(c.App.Writer, "job %s: %s\n", job.ID, job.State)
				return err
			})
			return err
		},
	}
}
