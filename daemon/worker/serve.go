package worker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"bloom/npu"
	"bloom/trainer"
	"bloom/trainer/serve"
)

// serveModel runs a serve job's rank. Every rank keeps its part of the
// model of --load on dev (loadPart) in a trainer.Batcher; rank 0 drives:
// trainer/serve's engine and HTTP API on a loopback port of its node, whose
// address it tells the daemon (which proxies the cluster's requests to it),
// and the other ranks follow its batch. It serves until ctx ends (the job
// cancelled), the engine fails (a rank lost: the job restarts), or a node
// of the job asks it to stop (a drain: it then finishes the requests in
// flight, refusing new ones with 503, and every rank reports a planned
// stop so the job moves).
func (w *worker) serveModel(ctx context.Context, dev npu.Device) error {
	s := &w.a.Spec
	inf, hf, tok, closeComms, err := w.loadPart(ctx, dev)
	if err != nil {
		return err
	}
	defer closeComms()
	rows := s.MaxBatch
	if rows == 0 {
		rows = 8
	}
	b, err := trainer.NewBatcher(ctx, inf, trainer.BatchShape{Rows: rows, Positions: s.SeqLength, Capacity: s.KVCacheTokens, KV: s.KVType()})
	if err != nil {
		return fmt.Errorf("%w: %w", errJobInput, err)
	}
	b.Vote = w.link.StopRequested
	if !b.Drives() {
		planned, err := b.Follow()
		if err == nil && planned {
			// A planned stop: the job starts again elsewhere ("step" 1
			// marks it; a serve job has no checkpoints to resume).
			w.link.send(Msg{Type: "stopped", Step: 1})
		}
		return err
	}
	e := &serve.Engine{Decoder: b, Tok: tok, Pad: int32(hf.PadTokenID), EOS: int32(hf.EOSTokenID), Chunk: s.PrefillChunk}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	h := serve.Handler(e, filepath.Base(filepath.Clean(s.Load)))
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	run, stopEngine := context.WithCancel(context.Background())
	defer stopEngine()
	ran := make(chan error, 1)
	go func() { ran <- e.Run(run) }()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	w.link.send(Msg{Type: "serving", Key: "http://" + ln.Addr().String()})
	w.logf("serving %s on %s", s.Load, ln.Addr())
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	stopped := false
wait:
	for {
		select {
		case <-ctx.Done():
			break wait
		case err := <-served:
			return err
		case err := <-ran: // a decoder's error: a rank is lost
			srv.Close()
			return fmt.Errorf("serving: %w", err)
		case <-tick.C:
			if w.link.StopRequested() || b.StopVoted() {
				stopped = true
				break wait
			}
		}
	}
	drain, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	h.Drain(drain)
	srv.Shutdown(drain)
	stopEngine()
	if err := <-ran; err != nil {
		return fmt.Errorf("serving: %w", err)
	}
	if err := b.Stop(stopped); err != nil && ctx.Err() == nil {
		return err
	}
	if stopped {
		w.link.send(Msg{Type: "stopped", Step: 1})
		return nil
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
