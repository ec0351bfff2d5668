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

// serveModel runs a serve job's rank: the model of --load on dev behind
// trainer/serve's HTTP API on a loopback port of this node, whose address
// it tells the daemon (which proxies the cluster's requests to it). It
// serves until ctx ends (the job cancelled) or the daemon asks it to stop
// (a drain: it then finishes the requests in flight, refusing new ones
// with 503, and reports a planned stop so the job moves to another node).
func (w *worker) serveModel(ctx context.Context, dev npu.Device) error {
	s := &w.a.Spec
	shape, err := s.ModelConfig()
	if err != nil {
		return err
	}
	m, hf, err := trainer.LoadModel(dev, s.Load)
	if err != nil {
		return fmt.Errorf("%w: --load %s: %w", errJobInput, s.Load, err)
	}
	if m.Cfg != shape {
		return fmt.Errorf("%w: --load %s holds a model of %+v, the job says %+v", errJobInput, s.Load, m.Cfg, shape)
	}
	tok, err := jobTokenizer(s)
	if err != nil {
		return err
	}
	e := &serve.Engine{Model: m, Tok: tok, MaxBatch: s.MaxBatch, MaxContext: s.SeqLength,
		Pad: int32(hf.PadTokenID), EOS: int32(hf.EOSTokenID)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	h := serve.Handler(e, filepath.Base(filepath.Clean(s.Load)))
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	run, stopEngine := context.WithCancel(context.Background())
	defer stopEngine()
	go e.Run(run)
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
		case <-tick.C:
			if w.link.StopRequested() {
				stopped = true
				break wait
			}
		}
	}
	drain, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	h.Drain(drain)
	srv.Shutdown(drain)
	if stopped {
		// A planned stop: the job starts again elsewhere ("step" 1 marks
		// it; a serve job has no checkpoints to resume).
		w.link.send(Msg{Type: "stopped", Step: 1})
		return nil
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
