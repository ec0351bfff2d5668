package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"bloom/api"
	"bloom/collective"
	"bloom/daemon/jobspec"
	"bloom/npu"
	"bloom/npu/acl"   // Ascend NPUs; in a build without cgo and -tags ascend it says how to get them
	_ "bloom/npu/cpu" // the CPU backend is always there
	"bloom/trainer"
	"bloom/trainer/data"
)

// Run is `bloomd worker`: one rank of one attempt of a job, in its
// own process, started and supervised by its node's daemon (DESIGN.md §2).
// It reads its Assignment from the first line of in, reports progress,
// checkpoint shards and errors to ctrl (the daemon's control pipe), writes
// its human-readable log to logw, and trains. It returns when the run is
// done, when it fails, or soon after ctx ends (SIGTERM) or the daemon closes
// in. A nil error means the rank finished its run.
func Run(ctx context.Context, in io.Reader, ctrl, logw io.Writer) error {
	link, a, err := openLink(in, ctrl)
	if err != nil {
		fmt.Fprintln(logw, err)
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { // owned by Run: ends with ctx
		select {
		case <-link.Done():
			cancel()
		case <-ctx.Done():
		}
	}()
	if len(a.Probe) > 0 {
		return link.send(Msg{Type: "devices", Devices: Probe(a.Probe, a.Threads)})
	}
	w := &worker{a: a, link: link, log: logw}
	if err = w.run(ctx); err != nil {
		fmt.Fprintf(logw, "worker: rank %d: %v\n", a.Rank, err)
		m := Msg{Type: "error", Error: err.Error(), Fatal: jobsFault(err), Secondary: secondary(err)}
		if errors.Is(err, errUnusable) {
			m.Unusable = a.FromStep
		}
		link.send(m)
	}
	return err
}

// errJobInput marks errors in what the job gave: its data.
var errJobInput = errors.New("worker: the job's input")

// jobsFault reports whether err is the job's own fault — its spec, data or
// the checkpoint it names do not fit — so that running it again fails the
// same way.
func jobsFault(err error) bool {
	return errors.Is(err, errJobInput) || errors.Is(err, jobspec.ErrInvalid) ||
		errors.Is(err, trainer.ErrConfig) || errors.Is(err, trainer.ErrMismatch)
}

// secondary reports whether err is a consequence of another rank's
// failure: a peer that went away, a communicator aborted because of one,
// or an operation that waited for one in vain.
func secondary(err error) bool {
	return errors.Is(err, collective.ErrPeerLost) || errors.Is(err, collective.ErrAborted) ||
		errors.Is(err, collective.ErrTimeout)
}

// worker is one rank's run.
type worker struct {
	a    Assignment
	link *daemonLink
	log  io.Writer
}

func (w *worker) logf(format string, args ...any) {
	fmt.Fprintf(w.log, time.Now().Format("15:04:05.000")+" "+format+"\n", args...)
}

func (w *worker) run(ctx context.Context) (err error) {
	a := &w.a
	if err := a.Spec.Validate(); err != nil {
		return err
	}
	dev, err := openDevice(a.Device, a.Threads)
	if err != nil {
		return err
	}
	if c, ok := dev.(io.Closer); ok {
		defer c.Close()
	}
	// A device that fails (an NPU's operator or memory) panics with its
	// error, as the device contract has no error returns: the rank ends
	// with it, and the attempt fails and restarts as for any worker.
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(error)
			if !ok || !errors.Is(e, acl.ErrDevice) && !errors.Is(e, acl.ErrNoBF16) {
				panic(r)
			}
			err = fmt.Errorf("worker: device %s failed: %w", a.Device, e)
		}
	}()
	at := trainer.Layout{TP: a.Plan.TP, PP: a.Plan.PP, DP: a.Plan.DP}.Coords(a.Rank)
	w.logf("job %s attempt %d: rank %d of %d (tp %d, dp %d, pp %d) on %s %s, %d threads",
		a.Job, a.Attempt, a.Rank, a.Size(), at.TP, at.DP, at.PP, a.Node, a.Device, dev.Threads())
	if a.Spec.Kind == jobspec.KindServe {
		return w.serveModel(ctx, dev)
	}
	if a.Spec.Inference() {
		return w.infer(ctx, dev)
	}
	return w.train(ctx, dev)
}

// backendOf is the npu backend each kind of --devices runs on.
var backendOf = map[string]string{"cpu": "cpu", "npu": "acl"}

// openDevice opens "cpu:N" or "npu:N" (an Ascend NPU, through npu/acl).
func openDevice(spec string, threads int) (npu.Device, error) {
	kind, idx, ok := strings.Cut(spec, ":")
	n, err := strconv.Atoi(idx)
	if !ok || err != nil || backendOf[kind] == "" {
		return nil, fmt.Errorf("worker: device %q: want cpu:INDEX or npu:INDEX", spec)
	}
	d, err := npu.Open(backendOf[kind], npu.Options{Threads: threads, Index: n})
	if err != nil {
		return nil, fmt.Errorf("worker: open %s (this binary has backends %v): %w", spec, npu.Backends(), err)
	}
	return d, nil
}

// source opens the training samples: --data-path in Megatron's order, or
// the embedded byte-level corpus. close releases it.
func (w *worker) source() (src, valid trainer.Source, close func() error, err error) {
	s := &w.a.Spec
	if s.DataPath == "" {
		c, err := data.NewByteCorpus(data.DemoText(), s.SeqLength, s.Seed)
		return c, nil, func() error { return nil }, err
	}
	if s.InstructionDataset {
		// Padded with BLOOM's <pad> (3); the loss never sees it.
		d, err := data.OpenInstruction(s.DataPath, s.SeqLength, 3, s.Seed)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("%w: --data-path: %w", errJobInput, err)
		}
		return d, nil, d.Close, nil
	}
	samples := s.Steps() * int64(s.GlobalBatch)
	var validSamples int64 // Megatron's: (train_iters // eval_interval + 1) · eval_iters · global batch
	if s.EvalIters > 0 {
		validSamples = (s.Steps()/int64(s.EvalInterval) + 1) * int64(s.EvalIters) * int64(s.GlobalBatch)
	}
	sp, err := data.OpenGPTSplits(s.DataPath, data.GPTSplitConfig{Split: s.Split, NumSamples: [3]int64{samples, validSamples, 0},
		SeqLength: s.SeqLength, Seed: uint32(s.Seed), NoCache: true})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: --data-path: %w", errJobInput, err)
	}
	if sp.Train == nil {
		sp.Close()
		return nil, nil, nil, fmt.Errorf("%w: --data-path %s: --split %s leaves no training documents", errJobInput, s.DataPath, s.Split)
	}
	if s.EvalIters > 0 && sp.Valid == nil {
		sp.Close()
		return nil, nil, nil, fmt.Errorf("%w: --data-path %s: --split %s leaves no validation documents for --eval-iters", errJobInput, s.DataPath, s.Split)
	}
	if sp.Valid != nil {
		valid = sp.Valid
	}
	return sp.Train, valid, sp.Close, nil
}

// reportStep sends a step's progress to the daemon and logs it, every
// LogInterval steps and the last.
func (w *worker) reportStep(p api.StepProgress) {
	p.At = time.Now().UnixMilli()
	if p.Step%int64(w.a.Spec.LogInterval) == 0 || p.Step == p.Steps || p.ValLoss != 0 {
		w.link.send(Msg{Type: "progress", Progress: &p})
		w.logf("%s", p.Line())
	}
}
