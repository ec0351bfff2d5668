package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	ucli "github.com/urfave/cli/v2"

	"bloom/api"
)

func rolloutCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "rollout",
		Usage: "restart every bloomd, one at a time and the leader last; running jobs checkpoint before each stop and resume after it",
		Description: "For each node in turn: ask it to restart (or run --command), wait until a new bloomd process\n" +
			"answers under the same name, is alive in gossip and has caught up with the Raft log, and\n" +
			"until every job that had workers there is training again from the checkpoint it took when\n" +
			"the node drained. The leader goes last, after handing over leadership. The rollout stops at\n" +
			"the first node that does not come back within --node-timeout; nothing later is touched.\n\n" +
			"Without --command, the node restarts itself: `bloomd join` drains, stops and executes its\n" +
			"binary again (a new binary at the same path is picked up). With --command, bloomctl runs it\n" +
			"with sh -c for each node, with {node} and {api} replaced (and BLOOM_NODE, BLOOM_NODE_API\n" +
			"set), e.g. --command 'ssh {node} sudo systemctl restart bloomd': SIGTERM drains the same way.",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "command", Usage: "restart each node with this shell `COMMAND` instead of asking it to restart itself"},
			&ucli.DurationFlag{Name: "node-timeout", Value: 5 * time.Minute, Usage: "give up when a node is not back, caught up and its jobs training again after this long"},
			&ucli.StringSliceFlag{Name: "nodes", Usage: "restart only these `NAMES` (still the leader last)"},
		},
		Action: runRollout,
	}
}

// rolloutStep is what the rollout did to one node, as --output json prints it.
type rolloutStep struct {
	Node     string       `json:"node"`
	Leader   bool         `json:"leader"`
	Before   string       `json:"version_before"` // the version gossip advertised before the restart
	After    string       `json:"version_after"`  // the version the new process advertises
	Down     float64      `json:"down_s"`         // restart asked → the new process answers
	CaughtUp float64      `json:"caught_up_s"`    // → alive in gossip and its Raft log applied up to the leader's commit
	Resumed  float64      `json:"resumed_s"`      // → every job that ran here trains again (0: none ran here)
	Jobs     []rolloutJob `json:"jobs,omitempty"`
}

// rolloutJob is one job the node's restart interrupted.
type rolloutJob struct {
	ID        string `json:"id"`
	FromStep  int64  `json:"from_step"`  // the checkpoint it resumed from
	StepsLost int64  `json:"steps_lost"` // steps reported but not checkpointed (0 when the drain checkpointed)
}

// runRollout restarts the nodes one by one and prints what each restart
// did; it stops at the first node that does not come back.
func runRollout(c *ucli.Context) error {
	asJSON, err := outputJSON(c)
	if err != nil {
		return err
	}
	r := &rollout{c: c, timeout: c.Duration("node-timeout"), command: c.String("command"), clients: map[string]*api.Client{}}
	defer r.close()
	order, err := r.plan(c.StringSlice("nodes"))
	if err != nil {
		return err
	}
	var steps []rolloutStep
	for _, m := range order {
		step, err := r.restart(m)
		if err != nil {
			return fmt.Errorf("rollout stopped at %s: %w (nodes after it were not touched)", m.Name, err)
		}
		steps = append(steps, step)
		if !asJSON {
			fmt.Fprintln(c.App.ErrWriter, step.line())
		}
	}
	if asJSON {
		return writeJSON(c.App.Writer, steps)
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tVERSION BEFORE\tVERSION AFTER\tDOWN\tCAUGHT UP\tJOBS RESUMED\tJOBS")
	for _, s := range steps {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.1fs\t%.1fs\t%s\t%s\n", s.Node+map[bool]string{true: " (leader)"}[s.Leader],
			versionOr(s.Before), versionOr(s.After), s.Down, s.CaughtUp, secs(s.Resumed), s.jobs())
	}
	return tw.Flush()
}

// versionOr is v, "-" when a node advertised none.
func versionOr(v string) string {
	if v == "" {
		return "-"
	}
	return v
}

// secs prints a duration of s seconds, "-" for none.
func secs(s float64) string {
	if s == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fs", s)
}

// jobs lists the interrupted jobs and where each resumed, "-" for none.
func (s rolloutStep) jobs() string {
	var out []string
	for _, j := range s.Jobs {
		out = append(out, fmt.Sprintf("%s from step %d (lost %d)", j.ID, j.FromStep, j.StepsLost))
	}
	if len(out) == 0 {
		return "-"
	}
	return strings.Join(out, ", ")
}

// line is the progress line printed when a node is done.
func (s rolloutStep) line() string {
	return fmt.Sprintf("%s: %s -> %s, back in %.1fs, caught up at %.1fs, jobs training again at %s: %s", s.Node, versionOr(s.Before), versionOr(s.After), s.Down, s.CaughtUp, secs(s.Resumed), s.jobs())
}

// rollout is one rolling restart: its settings, the cluster's members as
// the plan found them, and the API clients it holds open until close.
type rollout struct {
	c       *ucli.Context
	timeout time.Duration
	command string
	members []api.Member
	clients map[string]*api.Client // by node API address, for the whole rollout
}

// client is a client of the node at addr, made once.
func (r *rollout) client(addr string) (*api.Client, error) {
	if cl := r.clients[addr]; cl != nil {
		return cl, nil
	}
	cl, err := ctlClientAt(r.c, addr)
	if err == nil {
		r.clients[addr] = cl
	}
	return cl, err
}

// close closes the rollout's clients.
func (r *rollout) close() {
	for _, cl := range r.clients {
		cl.Close()
	}
}

// plan checks the cluster is whole and orders the nodes: by name, the
// leader last.
func (r *rollout) plan(only []string) ([]api.Member, error) {
	ms, st, err := r.view(globalString(r.c, "addr"))
	if err != nil {
		return nil, err
	}
	if !st.Health.Healthy {
		return nil, fmt.Errorf("the cluster is not healthy (%s): fix it before a rolling restart", st.Health.Reason)
	}
	var order []api.Member
	var leader *api.Member
	for _, m := range ms.Members {
		if m.State != api.StateAlive {
			return nil, fmt.Errorf("node %s is %s: a rolling restart needs every node alive", m.Name, m.State)
		}
		if len(only) > 0 && !slices.Contains(only, m.Name) {
			continue
		}
		if m.Name == st.Leader {
			leader = &m
			continue
		}
		order = append(order, m)
	}
	slices.SortFunc(order, func(a, b api.Member) int { return strings.Compare(a.Name, b.Name) })
	if leader != nil {
		order = append(order, *leader)
	}
	if len(order) == 0 {
		return nil, errors.New("no node to restart (check --nodes)")
	}
	r.members = ms.Members
	return order, nil
}

// view is the members and status as the node at addr sees them.
func (r *rollout) view(addr string) (*api.MembersResponse, *api.Status, error) {
	cl, err := r.client(addr)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(r.c.Context, queryTimeout)
	defer cancel()
	ms, err := cl.Members(ctx)
	if err != nil {
		return nil, nil, err
	}
	st, err := cl.Status(ctx)
	return ms, st, err
}

// restart restarts one node and waits until it and its jobs are back.
func (r *rollout) restart(m api.Member) (rolloutStep, error) {
	step := rolloutStep{Node: m.Name, Before: m.Version}
	cl, err := r.client(m.API)
	if err != nil {
		return step, err
	}
	ctx, cancel := context.WithTimeout(r.c.Context, r.timeout)
	defer cancel()
	before, err := cl.Status(ctx)
	if err != nil {
		return step, fmt.Errorf("status: %w", err)
	}
	step.Leader = before.Leader == m.Name
	jobs, err := r.jobsOn(ctx, cl, m.Name)
	if err != nil {
		return step, err
	}
	start := time.Now()
	if err := r.trigger(ctx, cl, m); err != nil {
		return step, err
	}
	if err := waitUntil(ctx, "a new bloomd answers", func() bool {
		st, err := cl.Status(ctx)
		return err == nil && st.Instance != before.Instance
	}); err != nil {
		return step, err
	}
	step.Down = time.Since(start).Seconds()
	if err := r.waitCaughtUp(ctx, m); err != nil {
		return step, err
	}
	step.CaughtUp = time.Since(start).Seconds()
	step.After = r.versionOf(m)
	if len(jobs) == 0 {
		return step, nil
	}
	if step.Jobs, err = r.waitJobs(ctx, m, jobs); err != nil {
		return step, err
	}
	step.Resumed = time.Since(start).Seconds()
	return step, nil
}

// versionOf is the version m advertises in gossip, as m itself sees it
// ("" when it does not answer).
func (r *rollout) versionOf(m api.Member) string {
	ms, _, err := r.view(m.API)
	if err != nil {
		return ""
	}
	for _, x := range ms.Members {
		if x.Name == m.Name {
			return x.Version
		}
	}
	return ""
}

// jobsOn lists the running jobs with ranks on node, with their attempt count.
func (r *rollout) jobsOn(ctx context.Context, cl *api.Client, node string) (map[string]int, error) {
	list, err := cl.JobList(ctx)
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	out := map[string]int{}
	for _, j := range list {
		if j.State != api.JobRunning && j.State != api.JobCheckpointing || j.Plan == nil {
			continue
		}
		if slices.ContainsFunc(j.Plan.Ranks, func(rk api.PlanRank) bool { return rk.Node == node }) {
			out[j.ID] = len(j.Attempts)
		}
	}
	return out, nil
}

// trigger asks the node to restart, or runs --command for it.
func (r *rollout) trigger(ctx context.Context, cl *api.Client, m api.Member) error {
	if r.command == "" {
		if _, err := cl.Restart(ctx); err != nil {
			return fmt.Errorf("ask it to restart: %w", err)
		}
		return nil
	}
	cmdline := strings.NewReplacer("{node}", m.Name, "{api}", m.API).Replace(r.command)
	cmd := exec.CommandContext(ctx, "sh", "-c", cmdline)
	cmd.Env = append(os.Environ(), "BLOOM_NODE="+m.Name, "BLOOM_NODE_API="+m.API)
	cmd.Stdout, cmd.Stderr = r.c.App.ErrWriter, r.c.App.ErrWriter
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("--command %q: %w", cmdline, err)
	}
	return nil
}

// waitCaughtUp waits until the leader sees m alive in gossip and m has
// applied the Raft log up to the leader's commit index.
func (r *rollout) waitCaughtUp(ctx context.Context, m api.Member) error {
	return waitUntil(ctx, "it is alive in gossip and caught up with the Raft log", func() bool {
		_, mine, err := r.view(m.API)
		if err != nil || mine.LeaderAddr == "" {
			return false
		}
		ms, lead, err := r.view(mine.LeaderAddr)
		if err != nil {
			return false
		}
		alive := slices.ContainsFunc(ms.Members, func(x api.Member) bool { return x.Name == m.Name && x.State == api.StateAlive })
		return alive && mine.AppliedIndex >= lead.CommitIndex
	})
}

// waitJobs waits until every job in jobs (id → attempts before) runs a
// later attempt that has made a step, or has ended.
func (r *rollout) waitJobs(ctx context.Context, m api.Member, jobs map[string]int) ([]rolloutJob, error) {
	var out []rolloutJob
	for id, attempts := range jobs {
		var info *api.JobInfo
		err := waitUntil(ctx, "job "+id+" trains again", func() bool {
			cl, err := r.client(globalString(r.c, "addr"))
			if err != nil {
				return false
			}
			j, err := cl.Job(ctx, id)
			if err != nil {
				return false
			}
			info = j
			if api.JobTerminal(j.State) {
				return true
			}
			n := len(j.Attempts)
			return n > attempts && j.Progress != nil && j.Progress.Attempt == n && j.Progress.Step > j.Attempts[n-1].FromStep
		})
		if err != nil {
			return out, err
		}
		rj := rolloutJob{ID: id}
		if n := len(info.Attempts); n > attempts {
			rj.FromStep = info.Attempts[n-1].FromStep
			rj.StepsLost = info.Attempts[attempts-1].StepsLost
		}
		out = append(out, rj)
	}
	slices.SortFunc(out, func(a, b rolloutJob) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// waitUntil polls cond every 200 ms until it holds or ctx ends.
func waitUntil(ctx context.Context, what string, cond func() bool) error {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting until %s: %w", what, ctx.Err())
		case <-t.C:
		}
	}
	return nil
}
