package cli

import (
	"context"
	"fmt"
	"time"

	ucli "github.com/urfave/cli/v2"

	"bloom/api"
)

func cancelCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "cancel",
		Usage:     "cancel a job: its workers are stopped on every node",
		UsageText: "bloomctl cancel ID",
		Action: func(c *ucli.Context) error {
			id, err := jobArg(c)
			if err != nil {
				return err
			}
			asJSON, err := outputJSON(c)
			if err != nil {
				return err
			}
			cl, err := ctlClient(c)
			if err != nil {
				return err
			}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(c.Context, 30*time.Second)
			defer cancel()
			var job *api.JobInfo
			err = retryElection(ctx, func() error {
				job, err = cl.Cancel(ctx, id)
				return err
			})
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(c.App.Writer, job)
			}
			fmt.Fprintf(c.App.Writer, "job %s: %s\n", job.ID, job.State)
			return nil
		},
	}
}
