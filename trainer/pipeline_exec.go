package trainer

import (
	"context"
	"fmt"
	"sync"
	"time"

	"bloom/npu"
	"bloom/trainer/bloom"
)

// pipeline runs one rank's micro-batches of a step through its stage's 1F1B
// schedule: it loads each micro-batch's samples, receives and sends
// activations and gradients over the stage links, and calls the model.
type pipeline struct {
	cfg          RankConfig
	m            *bloom.Model
	dp           int
	first, last  bool
	prev, next   StageLink
	data         Source
	ops          []PipeOp
	micro, slots int

	ids, targets [][]int32 // per slot: (B·T) the first stage's ids, the last stage's targets
	sample       []int32   // (T+1)
	recv         []float32 // (B·T·C) host staging for what arrives

	toPrev, toNext *sender
	wait           time.Duration // time this step spent blocked in Recv
	busy           time.Duration // time this step spent in forward and backward passes
}

func newPipeline(cfg RankConfig, m *bloom.Model, env Env) *pipeline {
	at := cfg.Coords()
	pp := at.PP
	M := cfg.MicroBatches()
	p := &pipeline{cfg: cfg, m: m, dp: at.DP, first: pp == 0, last: pp == cfg.PP-1, prev: env.Prev, next: env.Next,
		data: env.Data, ops: OneFOneB(cfg.PP, pp, M), micro: M, slots: InFlight(cfg.PP, pp, M),
		sample: make([]int32, cfg.SeqLength+1)}
	n := cfg.MicroBatch * cfg.SeqLength
	for range p.slots {
		p.ids = append(p.ids, make([]int32, n))
		p.targets = append(p.targets, make([]int32, n))
	}
	m.PrepareSlots(p.slots, cfg.MicroBatch, cfg.SeqLength)
	return p
}

// start starts the senders and the receive buffer, owned by the run: stop
// ends and frees them. A failed send cancels the run. Buffers are host
// memory the device copies fastest (page-locked where it has it).
func (p *pipeline) start(ctx context.Context, cancel context.CancelFunc) {
	if p.first && p.last {
		return
	}
	n, dev := p.cfg.MicroBatch*p.cfg.SeqLength*p.cfg.Model.Hidden, p.m.Dev
	p.recv = hostFloats(dev, n)
	if !p.first {
		p.toPrev = newSender(ctx, cancel, p.prev, dev, n, 2*p.micro)
	}
	if !p.last {
		p.toNext = newSender(ctx, cancel, p.next, dev, n, 2*p.micro)
	}
}

// stop waits for the senders to deliver what they hold and ends them.
func (p *pipeline) stop() error {
	var err error
	for _, s := range []*sender{p.toPrev, p.toNext} {
		if s != nil {
			if e := s.close(); err == nil {
				err = e
			}
		}
	}
	freeHost(p.m.Dev, p.recv)
	p.recv = nil
	return err
}

// load reads the samples of micro-batch k of the step that starts at
// consumed into slot: Megatron's sampler takes MicroBatch·DP samples per
// micro-batch and gives replica dp the dp-th MicroBatch of them.
func (p *pipeline) load(consumed int64, k, slot int) error {
	if !p.first && !p.last {
		return nil
	}
	mb, T := p.cfg.MicroBatch, p.cfg.SeqLength
	base := consumed + int64(k*mb*p.cfg.DP+p.dp*mb)
	for r := range mb {
		if err := loadSample(p.data, base+int64(r), p.sample, p.ids[slot][r*T:(r+1)*T], p.targets[slot][r*T:(r+1)*T]); err != nil {
			return fmt.Errorf("sample %d: %w", base+int64(r), err)
		}
	}
	return nil
}

// step runs the schedule of a step of batch samples (the global batch:
// a ramp-up makes it smaller than --global-batch-size at first) and
// returns the mean of this rank's micro-batch losses (0 on a stage that is
// not the last). The gradients it leaves are of the mean loss over the
// data-parallel replicas times scale (the fp16 loss scale; 1 otherwise).
// ready goes to the backward of the last micro-batch (see
// bloom.Model.BackwardSlot).
func (p *pipeline) step(ctx context.Context, consumed int64, batch int, scale float32, ready func(off, n int)) (float64, error) {
	p.wait, p.busy = 0, 0
	if M := batch / (p.cfg.MicroBatch * p.cfg.DP); M != p.micro {
		// Fewer micro-batches in flight: the slots made for the full batch
		// hold them (InFlight grows with M).
		p.ops, p.micro = OneFOneB(p.cfg.PP, p.cfg.Coords().PP, M), M
	}
	m, weight, loss := p.m, scale/float32(p.micro*p.cfg.DP), 0.0
	for _, op := range p.ops {
		slot := op.Micro % p.slots
		if op.Kind == Forward {
			if err := p.load(consumed, op.Micro, slot); err != nil {
				return 0, err
			}
			if !p.first {
				if err := p.receive(ctx, p.prev, "activations", op); err != nil {
					return 0, err
				}
				m.Dev.Write(m.Input(slot), p.recv)
			}
			t := time.Now()
			ml, _, err := m.ForwardSlot(slot, p.ids[slot], p.targets[slot], weight)
			p.busy += time.Since(t)
			if err != nil {
				return 0, fmt.Errorf("forward of micro-batch %d: %w", op.Micro, err)
			}
			loss += ml / float64(p.micro)
			if !p.last {
				buf := p.toNext.buffer()
				m.Dev.Read(buf, m.Output(slot))
				if err := p.toNext.send(buf); err != nil {
					return 0, err
				}
			}
			continue
		}
		if !p.last {
			if err := p.receive(ctx, p.next, "gradients", op); err != nil {
				return 0, err
			}
			m.Dev.Write(m.GradBuffer(), p.recv)
		}
		var rd func(int, int)
		if op.Micro == p.micro-1 {
			rd = ready
		}
		t := time.Now()
		err := m.BackwardSlot(slot, p.ids[slot], rd)
		p.busy += time.Since(t)
		if err != nil {
			return 0, fmt.Errorf("backward of micro-batch %d: %w", op.Micro, err)
		}
		if !p.first {
			buf := p.toPrev.buffer()
			m.Dev.Read(buf, m.GradBuffer())
			if err := p.toPrev.send(buf); err != nil {
				return 0, err
			}
		}
	}
	return loss, nil
}

func (p *pipeline) receive(ctx context.Context, l StageLink, what string, op PipeOp) error {
	t := time.Now()
	err := l.Recv(ctx, p.recv)
	p.wait += time.Since(t)
	if err != nil {
		return fmt.Errorf("receive %s of micro-batch %d: %w", what, op.Micro, err)
	}
	return nil
}

// sender sends buffers on a link from its own goroutine, in order, so that a
// stage never waits for its neighbour to take a message before going on
// (which would deadlock 1F1B over links that do not buffer). Buffers come
// back to a free list once sent.
type sender struct {
	link  StageLink
	dev   npu.Device
	all   [][]float32 // every buffer it made, freed by close
	n     int
	queue chan []float32
	free  chan []float32
	done  chan struct{}

	mu  sync.Mutex
	err error
}

func newSender(ctx context.Context, cancel context.CancelFunc, link StageLink, dev npu.Device, n, depth int) *sender {
	s := &sender{link: link, dev: dev, n: n, queue: make(chan []float32, depth), free: make(chan []float32, depth),
		done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for b := range s.queue {
			if s.failed() != nil {
				continue
			}
			if err := s.link.Send(ctx, b); err != nil {
				s.mu.Lock()
				s.err = fmt.Errorf("send to a neighbouring pipeline stage: %w", err)
				s.mu.Unlock()
				cancel() // release this rank's blocked receives
				continue
			}
			select {
			case s.free <- b:
			default:
			}
		}
	}()
	return s
}

func (s *sender) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// buffer returns a free buffer of n values.
func (s *sender) buffer() []float32 {
	select {
	case b := <-s.free:
		return b
	default:
		b := hostFloats(s.dev, s.n)
		s.all = append(s.all, b)
		return b
	}
}

// send queues b; it reports an earlier send's failure.
func (s *sender) send(b []float32) error {
	if err := s.failed(); err != nil {
		return err
	}
	s.queue <- b
	return nil
}

// close waits until every queued buffer is sent (or has failed) and ends
// the goroutine.
func (s *sender) close() error {
	close(s.queue)
	<-s.done
	for _, b := range s.all {
		freeHost(s.dev, b)
	}
	s.all = nil
	return s.err
}

// evaluate runs a forward pass of batch samples of src, from sample
// consumed on, through the stages (no backward, no gradients) and returns
// the mean of this rank's micro-batch losses (0 on a stage that is not the
// last): the validation loss as Megatron's evaluate computes it.
func (p *pipeline) evaluate(ctx context.Context, src Source, consumed int64, batch int) (float64, error) {
	saved := p.data
	p.data = src
	defer func() { p.data = saved }()
	m, M, loss := p.m, batch/(p.cfg.MicroBatch*p.cfg.DP), 0.0
	for k := range M {
		op := PipeOp{Forward, k}
		if err := p.load(consumed, k, 0); err != nil {
			return 0, err
		}
		if !p.first {
			if err := p.receive(ctx, p.prev, "validation activations", op); err != nil {
				return 0, err
			}
			m.Dev.Write(m.Input(0), p.recv)
		}
		ml, _, err := m.ForwardSlot(0, p.ids[0], p.targets[0], 0)
		if err != nil {
			return 0, fmt.Errorf("validation forward of micro-batch %d: %w", k, err)
		}
		loss += ml / float64(M)
		if !p.last {
			buf := p.toNext.buffer()
			m.Dev.Read(buf, m.Output(0))
			if err := p.toNext.send(buf); err != nil {
				return 0, err
			}
		}
	}
	return loss, nil
}
