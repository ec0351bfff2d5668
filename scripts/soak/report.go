package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// print writes the soak's verdicts and the table of failures.
func (r *result) print(w io.Writer) {
	fmt.Fprintf(w, "\n== soak: %d nodes, %d steps, a checkpoint every %d, seed %d\n", r.Nodes, r.Steps, r.Interval, r.Seed)
	if r.PartitionSkipped != "" {
		fmt.Fprintf(w, "partition skipped: %s\n", r.PartitionSkipped)
	}
	if r.Ref != nil && r.RefTime > 0 {
		fmt.Fprintf(w, "reference: job %s, uninterrupted, %s in %v\n", r.Ref.ID, r.Ref.State, r.RefTime.Round(time.Second))
	}
	if r.Job != nil {
		verdict(w, r.Job.State == jobSucceeded, "job %s %s after %d attempts in %v", r.Job.ID, r.Job.State,
			len(r.Job.Attempts), r.SoakTime.Round(time.Second))
	}
	if r.Err == nil {
		verdict(w, r.Weights == nil, "weights bit-identical to the reference (final shard SHA-256s%s)%s", paren(r.Shards), errNote(r.Weights))
		verdict(w, r.Healthy == nil, "every node alive and Raft healthy at the end%s", errNote(r.Healthy))
		for _, c := range []struct {
			name string
			rep  ckptReport
		}{{"reference", r.RefCkpts}, {"soak", r.Ckpts}} {
			verdict(w, len(c.rep.Problems) == 0, "%s checkpoints: %d committed, each with a manifest whose shards exist with its sizes and SHA-256s; "+
				"%d uncommitted dirs, none loaded%s", c.name, c.rep.Committed, len(c.rep.Uncommitted), listNote(c.rep.Problems))
		}
	} else {
		verdict(w, false, "the soak did not finish: %v", r.Err)
	}
	printFailures(w, r.Failures)
	verdict(w, r.ok(), "soak")
}

func verdict(w io.Writer, ok bool, format string, args ...any) {
	mark := "FAIL"
	if ok {
		mark = "ok  "
	}
	fmt.Fprintf(w, "%s %s\n", mark, fmt.Sprintf(format, args...))
}

func paren(s string) string {
	if s == "" {
		return ""
	}
	return ", " + s
}

func errNote(err error) string {
	if err == nil {
		return ""
	}
	return ": " + err.Error()
}

func listNote(problems []string) string {
	if len(problems) == 0 {
		return ""
	}
	return ":\n\t" + strings.Join(problems, "\n\t")
}

// printFailures writes one row per failure, then the medians and maxima:
// DETECT is fault → the attempt ended, RESUME fault → training again,
// DOWN how long a crashed node stayed down (or a cut node cut) after
// that, BACK its restart or heal (or, with nothing to undo, the attempt's
// end) → training again.
func printFailures(w io.Writer, fs []Failure) {
	fmt.Fprintf(w, "\nfailures: %d\n", len(fs))
	if len(fs) == 0 {
		return
	}
	t0 := fs[0].At
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tKIND\tTARGET\tAT\tSTEP\tDETECT\tRESUME\tDOWN\tBACK\tLOST\tCAUSE")
	var detect, resume []time.Duration
	for i, f := range fs {
		cause := f.Cause
		if f.Err != nil {
			cause = "ERROR: " + f.Err.Error()
		} else {
			detect, resume = append(detect, f.Detect), append(resume, f.Resume)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t+%v\t%d\t%s\t%s\t%s\t%s\t%d\t%.90s\n", i+1, f.Kind, f.Target, f.At.Sub(t0).Round(100*time.Millisecond),
			f.Step, secs(f.Detect), secs(f.Resume), secs(f.Down), secs(f.Back), f.StepsLost, oneLine(cause))
	}
	tw.Flush()
	if len(detect) > 0 {
		fmt.Fprintf(w, "detection: median %s, max %s; kill → training again: median %s, max %s\n",
			secs(median(detect)), secs(slices.Max(detect)), secs(median(resume)), secs(slices.Max(resume)))
	}
}

func secs(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
