package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	ucli "github.com/urfave/cli/v2"

	"bloom/api"
)

func logsCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "logs",
		Args:  true,
		Usage: "print a rank's log, from whichever node runs it (or the copy another node kept, when that node is gone)",
		Description: `Prints a rank's log (rank 0 by default) of the latest attempt or --attempt, from
the node that ran it or the copy another node kept; -f follows it until the
attempt ends. --output json prints one JSON object per line of the log, a line
each: {"job", "rank", "attempt", "line"}.`,
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
			asJSON, err := outputJSON(c)
			if err != nil {
				return err
			}
			cl, err := ctlClient(c)
			if err != nil {
				return err
			}
			defer cl.Close()
			q := api.LogQuery{Rank: c.Int("rank"), Attempt: c.Int("attempt"), Follow: c.Bool("follow")}
			if !asJSON {
				return printLogs(c, cl, id, q, rawLog{c.App.Writer})
			}
			lw := &logLines{w: c.App.Writer, job: id, rank: q.Rank}
			err = printLogs(c, cl, id, q, lw)
			if ferr := lw.flush(); err == nil {
				err = ferr
			}
			return err
		},
	}
}

// printLogs copies the log to w: what there is, or with Follow
// everything until the worker exits (waiting for the job to start first).
func printLogs(c *ucli.Context, cl *api.Client, id string, q api.LogQuery, w logWriter) error {
	noted := false
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
		if ch.Copy != nil && !noted {
			noted = true
			fmt.Fprintln(c.App.ErrWriter, copyNote(q.Rank, ch.Copy))
		}
		if err := w.write(ch.Attempt, ch.Data); err != nil {
			return err
		}
		q.Offset, q.Attempt = ch.Next, ch.Attempt // stay with this attempt's log
		if ch.Complete && ch.Copy != nil && !ch.Copy.Exited {
			fmt.Fprintf(c.App.ErrWriter, "bloomctl: the copy ends here: what rank %d wrote after %s was lost with node %s\n",
				q.Rank, ch.Copy.CopiedAt.Local().Format("15:04:05"), ch.Copy.Of)
		}
		if ch.Complete || (!q.Follow && len(ch.Data) == 0) {
			return nil
		}
		if err := c.Context.Err(); err != nil {
			return err
		}
	}
}

// copyNote says that a log comes from a copy, whose and up to when.
func copyNote(rank int, cp *api.LogCopy) string {
	s := fmt.Sprintf("bloomctl: node %s, which ran rank %d, is gone: this is the copy node %s kept, last copied at %s",
		cp.Of, rank, cp.Holder, cp.CopiedAt.Local().Format("2006-01-02 15:04:05"))
	if cp.Start > 0 {
		s += fmt.Sprintf(" (it starts at byte %d: copies keep a log's last bytes only)", cp.Start)
	}
	return s
}

// waiting reports whether the job exists and has not started (pending).
func waiting(c *ucli.Context, cl *api.Client, id string) bool {
	ctx, cancel := context.WithTimeout(c.Context, 10*time.Second)
	defer cancel()
	j, err := cl.Job(ctx, id)
	return err == nil && j.State == api.JobPending
}

// logWriter takes a log's bytes as they come, with the attempt they are of.
type logWriter interface {
	write(attempt int, b []byte) error
}

// rawLog writes the bytes as they are.
type rawLog struct{ w io.Writer }

func (r rawLog) write(_ int, b []byte) error { _, err := r.w.Write(b); return err }

// logLines is --output json: one object per line of the log, the last
// (unterminated) line held until the next bytes or flush.
type logLines struct {
	w       io.Writer
	job     string
	rank    int
	attempt int
	part    []byte
}

// logLine is one line of a rank's log as --output json prints it.
type logLine struct {
	Job     string `json:"job"`
	Rank    int    `json:"rank"`
	Attempt int    `json:"attempt"`
	Line    string `json:"line"`
}

func (l *logLines) write(attempt int, b []byte) error {
	l.attempt = attempt
	l.part = append(l.part, b...)
	for {
		i := bytes.IndexByte(l.part, '\n')
		if i < 0 {
			return nil
		}
		if err := writeJSON(l.w, logLine{Job: l.job, Rank: l.rank, Attempt: attempt, Line: string(l.part[:i])}); err != nil {
			return err
		}
		l.part = l.part[i+1:]
	}
}

// flush writes a last line that had no newline.
func (l *logLines) flush() error {
	if len(l.part) == 0 {
		return nil
	}
	err := writeJSON(l.w, logLine{Job: l.job, Rank: l.rank, Attempt: l.attempt, Line: string(l.part)})
	l.part = nil
	return err
}
