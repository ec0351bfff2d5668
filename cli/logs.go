package cli

import (
	"context"
	"errors"
	"time"

	ucli "github.com/urfave/cli/v2"

	"bloom/api"
)

func logsCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "logs",
		Usage:     "print a rank's log, from whichever node runs it",
		UsageText: "bloomctl logs ID [--rank R] [--attempt N] [-f]",
		Flags: []ucli.Flag{
			&ucli.IntFlag{Name: "rank", Aliases: []string{"r"}, Usage: "the `RANK` whose log to print"},
			&ucli.IntFlag{Name: "attempt", Usage: "the attempt `N` (default: the latest)"},
			&ucli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep printing until the rank's worker exits"},
		},
		Action: func(c *ucli.Context) error {
			id, err := jobArg(c)
			if err != nil {
				return err
			}
			cl, err := ctlClient(c)
			if err != nil {
				return err
			}
			defer cl.Close()
			q := api.LogQuery{Rank: c.Int("rank"), Attempt: c.Int("attempt"), Follow: c.Bool("follow")}
			return printLogs(c, cl, id, q)
		},
	}
}

// printLogs copies the log to the writer: what there is, or with Follow
// everything until the worker exits (waiting for the job to start first).
func printLogs(c *ucli.Context, cl *api.Client, id string, q api.LogQuery) error {
	for {
		ctx, cancel := context.WithTimeout(c.Context, 20*time.Second)
		ch, err := cl.Logs(ctx, id, q)
		cancel()
		var se *api.StatusError
		if err != nil && q.Follow && errors.As(err, &se) && se.Code == 404 && q.Offset == 0 && waiting(c, cl, id) {
			// No attempt yet: wait for the job to start.
			select {
			case <-c.Context.Done():
				return c.Context.Err()
			case <-time.After(500 * time.Millisecond):
				continue
			}
		}
		if err != nil {
			return err
		}
		c.App.Writer.Write(ch.Data)
		q.Offset, q.Attempt = ch.Next, ch.Attempt // stay with this attempt's log
		if ch.Complete || (!q.Follow && len(ch.Data) == 0) {
			return nil
		}
		if err := c.Context.Err(); err != nil {
			return err
		}
	}
}

// waiting reports whether the job exists and has not started (pending).
func waiting(c *ucli.Context, cl *api.Client, id string) bool {
	ctx, cancel := context.WithTimeout(c.Context, 10*time.Second)
	defer cancel()
	j, err := cl.Job(ctx, id)
	return err == nil && j.State == api.JobPending
}
