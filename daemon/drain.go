package daemon

import (
	"context"
	"fmt"
	"time"

	"bloom/membership"
)

// Drain is the first half of a graceful stop (SIGTERM, a rolling restart):
// every worker on this node is asked to checkpoint at the next step
// boundary its job's ranks agree on and exit, and nothing new is placed
// here. It returns once each of those jobs has ended its attempt — with the
// checkpoint committed, so the job resumes from it without losing a step —
// or with ctx's error when that takes too long; Stop does the rest either
// way. A job that cannot checkpoint in time resumes from its last committed
// checkpoint, as after a crash.
func (d *Daemon) Drain(ctx context.Context) error {
	// Gossip first: every node, and whoever leads next, keeps new
	// attempts off this node.
	if err := d.ml.UpdateMeta(func(m *membership.NodeMeta) { m.Draining = true }, time.Second); err != nil {
		d.log.Warn("advertise draining", "err", err)
	}
	keys := d.sup.Drain()
	if len(keys) == 0 {
		return nil
	}
	d.log.Info("draining: checkpointing and stopping this node's workers", "workers", len(keys))
	start := time.Now()
	d.poke()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		st := d.State()
		left := 0
		for _, k := range keys {
			if k.Running(st) {
				left++
			}
		}
		if left == 0 {
			d.log.Info("drained: every job of this node checkpointed and stopped", "took", time.Since(start).Round(time.Millisecond))
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("daemon: drain: %d workers' jobs still running after %v: %w", left, time.Since(start).Round(time.Millisecond), ctx.Err())
		case <-d.stop:
			return fmt.Errorf("daemon: drain: stopped")
		case <-t.C:
		}
	}
}

// RestartRequested is closed when a rolling restart (bloomctl rollout)
// asks this daemon to restart: its owner drains it, stops it and starts it
// again (bloomd re-executes itself).
func (d *Daemon) RestartRequested() <-chan struct{} { return d.restart }

// requestRestart closes RestartRequested once.
func (d *Daemon) requestRestart() {
	d.restartOnce.Do(func() { close(d.restart) })
}
