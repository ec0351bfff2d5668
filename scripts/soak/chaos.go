package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os/exec"
	"slices"
	"strings"
	"time"
)

// action is one kind of fault. inject picks a target among the nodes of
// the running attempt, does the harm, and says what it did.
type action struct {
	kind   string
	inject func(ctx context.Context, ch *chaos, job *jobInfo) (harm, error)
}

// actions are the faults the soak knows; -actions picks among them by
// kind, and a new fault (a rolling restart, say) is one more entry.
var actions = []action{
	{"kill-daemon", killDaemon}, // a machine that is not the leader crashes, and boots again
	{"kill-leader", killLeader}, // the coordinator's machine crashes, and boots again
	{"reboot", reboot},          // a machine that is not the leader crashes and is back before anyone notices
	{"kill-worker", killWorker}, // one worker process dies; its daemon lives
	{"partition", partition},    // one node's network is cut while it runs, then healed
	{"sigterm", sigterm},        // a node that is not the leader is stopped for maintenance (SIGTERM: its jobs checkpoint first), then started again
	{"rollout", rollout},        // bloomctl rollout: every bloomd restarted in turn, the leader last
}

func actionKinds() []string {
	var out []string
	for _, a := range actions {
		out = append(out, a.kind)
	}
	return out
}

func actionOf(kind string) (action, error) {
	for _, a := range actions {
		if a.kind == kind {
			return a, nil
		}
	}
	return action{}, fmt.Errorf("soak: no action %q (there are %s)", kind, strings.Join(actionKinds(), ", "))
}

// harm is what an action did: whom it hit, when, and how to undo it
// (restart, heal) once the attempt has ended; a nil undo means the
// cluster recovers by itself.
type harm struct {
	target string
	at     time.Time
	undo   func(context.Context) error
}

// chaos is what the actions work on, and how long the soak waits for the
// cluster to notice and to recover.
type chaos struct {
	c   *Cluster
	ns  *netns // nil: no partitions
	rng *rand.Rand
	// Downtime bounds how long a crashed node stays down, or a cut node
	// cut, after its attempt ended: each failure draws from [0, Downtime).
	Downtime time.Duration
	// DetectWithin and ResumeWithin bound the waits for the attempt to
	// end and for training to run again.
	DetectWithin, ResumeWithin time.Duration
}

// Failure is one injected fault and what the cluster did about it.
type Failure struct {
	Kind, Target string
	At           time.Time
	// Step is the job's step when it was hit (as last seen), Attempt the
	// attempt it hit.
	Step    int64
	Attempt int
	// Detect is fault → the attempt's ended_at; Resume is fault → a later
	// attempt seen training past its first step.
	Detect, Resume time.Duration
	// Down is how long the target stayed down or cut after detection;
	// Back is the restart or heal (or, with nothing to undo, the
	// attempt's end) → training again.
	Down, Back time.Duration
	StepsLost  int64
	Cause      string
	Err        error
}

// Inject does one fault to the running job and follows it until training
// runs again; what went wrong is in the Failure's Err.
func (ch *chaos) Inject(ctx context.Context, id string, a action) Failure {
	f := Failure{Kind: a.kind}
	job, err := ch.c.Job(ctx, id)
	if err != nil {
		f.Err = err
		return f
	}
	run := job.running()
	if run == nil {
		f.Err = fmt.Errorf("soak: job %s is not training (%s)", id, job.State)
		return f
	}
	f.Attempt, f.Step = run.N, job.Progress.Step
	h, err := a.inject(ctx, ch, job)
	f.Target, f.At = h.target, h.at
	if err != nil {
		f.Err = err
		return f
	}
	ch.c.logf("%s %s at step %d of attempt %d", a.kind, h.target, f.Step, f.Attempt)
	f.Err = ch.follow(ctx, id, h, &f)
	return f
}

// follow waits for the hit attempt to end, undoes the harm, and waits for
// a later attempt to train.
func (ch *chaos) follow(ctx context.Context, id string, h harm, f *Failure) error {
	n := f.Attempt
	ended, err := ch.c.WaitJob(ctx, id, ch.DetectWithin, fmt.Sprintf("attempt %d to end", n), func(j *jobInfo) bool {
		return len(j.Attempts) >= n && j.Attempts[n-1].EndedAt > 0
	})
	if err == nil {
		a := ended.Attempts[n-1]
		f.Detect, f.Cause = time.UnixMilli(a.EndedAt).Sub(f.At), a.Cause
	}
	undone := time.Now()
	if h.undo != nil {
		if ch.Downtime > 0 {
			err = errors.Join(err, pause(ctx, time.Duration(ch.rng.Int63n(int64(ch.Downtime)))))
		}
		err = errors.Join(err, h.undo(ctx))
		f.Down, undone = time.Since(undone), time.Now()
	}
	if err != nil {
		return err
	}
	back, err := ch.c.WaitJob(ctx, id, ch.ResumeWithin, "training again", func(j *jobInfo) bool {
		r := j.running()
		return (r != nil && r.N > n) || (j.State == jobSucceeded && len(j.Attempts) > n)
	})
	if err != nil {
		return err
	}
	f.Resume, f.Back = time.Since(f.At), time.Since(undone)
	for _, a := range back.Attempts[n-1:] {
		f.StepsLost += a.StepsLost // every attempt that ended on the way
	}
	return nil
}

// planNodes are the nodes of the job's plan, each once, in rank order.
func planNodes(job *jobInfo) []string {
	var out []string
	if job.Plan == nil {
		return nil
	}
	for _, r := range job.Plan.Ranks {
		if !slices.Contains(out, r.Node) {
			out = append(out, r.Node)
		}
	}
	return out
}

func (ch *chaos) pick(names []string) *Node {
	if len(names) == 0 {
		return nil
	}
	return ch.c.Node(names[ch.rng.Intn(len(names))])
}

// crashAndBoot crashes n and undoes it by starting it again.
func (ch *chaos) crashAndBoot(ctx context.Context, n *Node) (harm, error) {
	h := harm{target: n.Name, at: time.Now()}
	if err := ch.c.Crash(ctx, n); err != nil {
		return h, err
	}
	h.undo = func(ctx context.Context) error { return ch.c.Restart(ctx, n) }
	return h, nil
}

func killDaemon(ctx context.Context, ch *chaos, job *jobInfo) (harm, error) {
	leader, err := ch.c.Leader(ctx)
	if err != nil {
		return harm{}, err
	}
	names := slices.DeleteFunc(planNodes(job), func(s string) bool { return s == leader })
	n := ch.pick(names)
	if n == nil {
		return harm{}, errors.New("soak: no node of the job but the leader")
	}
	return ch.crashAndBoot(ctx, n)
}

func reboot(ctx context.Context, ch *chaos, job *jobInfo) (harm, error) {
	h, err := killDaemon(ctx, ch, job)
	if err == nil {
		err, h.undo = h.undo(ctx), nil
	}
	return h, err
}

func killLeader(ctx context.Context, ch *chaos, job *jobInfo) (harm, error) {
	leader, err := ch.c.Leader(ctx)
	if err != nil {
		return harm{}, err
	}
	n := ch.c.Node(leader)
	if n == nil {
		return harm{}, fmt.Errorf("soak: the leader %q is none of ours", leader)
	}
	return ch.crashAndBoot(ctx, n)
}

func killWorker(ctx context.Context, ch *chaos, job *jobInfo) (harm, error) {
	n := ch.pick(planNodes(job))
	if n == nil {
		return harm{}, errors.New("soak: the job has no plan")
	}
	pid, err := ch.c.KillWorker(ctx, n, 10*time.Second)
	return harm{target: fmt.Sprintf("%s worker %d", n.Name, pid), at: time.Now()}, err
}

func partition(ctx context.Context, ch *chaos, job *jobInfo) (harm, error) {
	if ch.ns == nil {
		return harm{}, errors.New("soak: no network namespace, no partition")
	}
	n := ch.c.Node(ch.ns.node)
	if n == nil || !slices.Contains(planNodes(job), n.Name) {
		return harm{}, fmt.Errorf("soak: %s, the node in the namespace, is not in the job", ch.ns.node)
	}
	h := harm{target: n.Name, at: time.Now()}
	if err := ch.ns.Cut(); err != nil {
		return h, err
	}
	n.Partitioned = true
	h.undo = func(context.Context) error {
		err := ch.ns.Heal()
		n.Partitioned = err != nil
		return err
	}
	return h, nil
}

func sigterm(ctx context.Context, ch *chaos, job *jobInfo) (harm, error) {
	leader, err := ch.c.Leader(ctx)
	if err != nil {
		return harm{}, err
	}
	n := ch.pick(slices.DeleteFunc(planNodes(job), func(s string) bool { return s == leader }))
	if n == nil {
		return harm{}, errors.New("soak: no node of the job but the leader")
	}
	h := harm{target: n.Name, at: time.Now()}
	if err := ch.c.Stop(ctx, n); err != nil {
		return h, err
	}
	h.undo = func(ctx context.Context) error { return ch.c.Restart(ctx, n) }
	return h, nil
}

func rollout(ctx context.Context, ch *chaos, _ *jobInfo) (harm, error) {
	h := harm{target: "every node", at: time.Now()}
	n := ch.c.first()
	if n == nil {
		return h, errors.New("soak: no node is up")
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, ch.c.bloomctl(), "--addr", n.API, "--secret-file", ch.c.secret,
		"rollout", "--node-timeout", "3m").CombinedOutput()
	ch.c.logf("bloomctl rollout:\n%s", out)
	if err != nil {
		return h, fmt.Errorf("soak: bloomctl rollout: %w", err)
	}
	return h, nil
}
