package worker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"bloom/collective"
	"bloom/daemon/identity"
	"bloom/trainer"
)

// rankComms are one rank's communicators, each joined through the
// daemons' rendezvous: Megatron's groups (a group of one is nil) and, per
// neighbouring pipeline stage, one communicator per direction, so a rank
// can send on a link while it receives on it (a communicator runs one
// operation at a time).
type rankComms struct {
	TP, DP, PP, Embed *collective.Comm
	// prevFwd carries activations from the previous stage, prevBwd their
	// gradients back to it; nextFwd and nextBwd the same with the next.
	prevFwd, prevBwd, nextFwd, nextBwd *collective.Comm
}

func (g *rankComms) close() {
	for _, c := range []*collective.Comm{g.nextBwd, g.nextFwd, g.prevBwd, g.prevFwd, g.Embed, g.PP, g.DP, g.TP} {
		if c != nil {
			c.Close()
		}
	}
}

// abort releases every rank blocked in one of this rank's communicators.
func (g *rankComms) abort() {
	for _, c := range []*collective.Comm{g.TP, g.DP, g.PP, g.Embed, g.prevFwd, g.prevBwd, g.nextFwd, g.nextBwd} {
		if c != nil {
			c.Abort()
		}
	}
}

// joinComms joins this rank's communicators — its TP, DP, PP and Embed
// groups and the links to the neighbouring stages — all at once: each join
// waits only for its own members, so no order between them can deadlock,
// and a deep pipeline does not set its links up stage after stage (with
// PP12 that chain was most of a job's start-up). The first failure cancels
// the others.
func (w *worker) joinComms(ctx context.Context, cfg trainer.RankConfig) (*rankComms, error) {
	g := &rankComms{}
	tp, dp, pp, embed := cfg.Groups()
	at := cfg.Coords()
	pr, dr, tr := at.PP, at.DP, at.TP
	prev, next := cfg.Neighbours()
	type join struct {
		dst   **collective.Comm
		name  string
		ranks []int
	}
	joins := []join{
		{&g.TP, fmt.Sprintf("tp-pp%d-dp%d", pr, dr), tp},
		{&g.DP, fmt.Sprintf("dp-pp%d-tp%d", pr, tr), dp},
		{&g.PP, fmt.Sprintf("pp-dp%d-tp%d", dr, tr), pp},
		{&g.Embed, fmt.Sprintf("embed-dp%d-tp%d", dr, tr), embed},
	}
	if prev >= 0 {
		joins = append(joins,
			join{&g.prevFwd, fmt.Sprintf("fwd-%d-%d", prev, cfg.Rank), []int{prev, cfg.Rank}},
			join{&g.prevBwd, fmt.Sprintf("bwd-%d-%d", prev, cfg.Rank), []int{prev, cfg.Rank}})
	}
	if next >= 0 {
		joins = append(joins,
			join{&g.nextFwd, fmt.Sprintf("fwd-%d-%d", cfg.Rank, next), []int{cfg.Rank, next}},
			join{&g.nextBwd, fmt.Sprintf("bwd-%d-%d", cfg.Rank, next), []int{cfg.Rank, next}})
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(joins))
	for i, j := range joins {
		if len(j.ranks) < 2 {
			continue
		}
		wg.Add(1)
		go func() { // ends when the join does; cancel ends a stuck one
			defer wg.Done()
			c, err := w.joinComm(ctx, j.name, j.ranks)
			if err != nil {
				errs[i] = fmt.Errorf("worker: join the %s communicator %v: %w", j.name, j.ranks, err)
				cancel()
				return
			}
			*j.dst = c
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		g.close()
		return nil, err
	}
	return g, nil
}

// joinComm makes this rank a member of the communicator of ranks: the
// first of them makes the root info and publishes it through its daemon,
// the others look it up through theirs (HcclGetRootInfo /
// HcclCommInitRootInfo, with the daemons as the carrier).
func (w *worker) joinComm(ctx context.Context, name string, ranks []int) (*collective.Comm, error) {
	me := -1
	for i, r := range ranks {
		if r == w.a.Rank {
			me = i
		}
	}
	if me < 0 {
		return nil, fmt.Errorf("rank %d is not in group %s %v", w.a.Rank, name, ranks)
	}
	cfg, err := w.collectiveConfig()
	if err != nil {
		return nil, err
	}
	ep, err := collective.Listen(cfg)
	if err != nil {
		return nil, err
	}
	key := "comm/" + name
	var info []byte
	if me == 0 {
		info = ep.RootInfo()
		err = w.link.Publish(key, info)
	} else {
		info, err = w.link.Lookup(ctx, ranks[0], key)
	}
	if err != nil {
		ep.Close()
		return nil, err
	}
	return ep.Join(ctx, info, me, len(ranks))
}

// collectiveConfig is hybrid (shared memory between ranks of this node,
// QUIC across nodes) with a certificate from the cluster secret.
func (w *worker) collectiveConfig() (collective.Config, error) {
	cfg := collective.DefaultConfig()
	cfg.Transport = "hybrid"
	cfg.Host = w.a.Node
	cfg.ListenAddr = net.JoinHostPort(w.a.BindHost, "0")
	cfg.ConnectTimeout = time.Minute
	s, err := identity.ParseSecret(w.a.Secret)
	if err != nil {
		return cfg, fmt.Errorf("worker: the assignment has no usable cluster secret: %w", err)
	}
	id, err := identity.New(s, fmt.Sprintf("%s-rank%d", w.a.Node, w.a.Rank))
	if err != nil {
		return cfg, err
	}
	cfg.TLS = id.ClientTLS("")
	cfg.TLS.NextProtos = nil
	return cfg, nil
}

// connect joins the communicators a job of more than one rank needs and
// puts them in env; close leaves them. A rank that stops (SIGTERM, its
// daemon gone) aborts them, releasing the others at once instead of
// leaving them to time out.
func (w *worker) connect(ctx context.Context, cfg trainer.RankConfig, env *trainer.Env) (close func(), err error) {
	if cfg.World() < 2 {
		return func() {}, nil
	}
	start := time.Now()
	comms, err := w.joinComms(ctx, cfg)
	if err != nil {
		return nil, err
	}
	w.logf("communicators joined in %v", time.Since(start).Round(time.Millisecond))
	stop := context.AfterFunc(ctx, comms.abort)
	comms.env(env)
	return func() {
		stop()
		comms.close()
	}, nil
}

// commGroup is a trainer.Group over a communicator.
type commGroup struct{ c *collective.Comm }

func (g commGroup) Size() int { return g.c.Size() }
func (g commGroup) Rank() int { return g.c.Rank() }

// AllReduce reduces buf in place; the op numbers are HCCL's on both sides.
func (g commGroup) AllReduce(ctx context.Context, buf []float32, op trainer.ReduceOp) error {
	return g.c.AllReduceF32(ctx, buf, buf, collective.ReduceOp(op))
}

// AllReduceF16 sums fp16 values in place through the collective's Float16
// type.
func (g commGroup) AllReduceF16(ctx context.Context, buf []uint16) error {
	return g.c.AllReduceHalf(ctx, buf, buf, collective.Float16, collective.Sum)
}

// stageLink is a trainer.StageLink: sends on one two-rank communicator,
// receives on the other; peer is the neighbour's index in both.
type stageLink struct {
	send, recv *collective.Comm
	peer       int
}

func (l stageLink) Send(ctx context.Context, buf []float32) error {
	return l.send.SendF32(ctx, buf, l.peer)
}

func (l stageLink) Recv(ctx context.Context, buf []float32) error {
	return l.recv.RecvF32(ctx, buf, l.peer)
}

// env fills the trainer's network fields from the communicators.
func (g *rankComms) env(e *trainer.Env) {
	for _, p := range []struct {
		dst *trainer.Group
		c   *collective.Comm
	}{{&e.TP, g.TP}, {&e.DP, g.DP}, {&e.PP, g.PP}, {&e.Embed, g.Embed}} {
		if p.c != nil {
			*p.dst = commGroup{p.c}
		}
	}
	if g.prevFwd != nil {
		e.Prev = stageLink{send: g.prevBwd, recv: g.prevFwd, peer: 0}
	}
	if g.nextFwd != nil {
		e.Next = stageLink{send: g.nextFwd, recv: g.nextBwd, peer: 1}
	}
}
