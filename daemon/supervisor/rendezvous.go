package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"bloom/api"
	"bloom/daemon/worker"
)

// The rendezvous carries small values between the workers of an attempt
// through their daemons — a communicator's root info from the rank that
// made it to the others (DESIGN.md §2: workers talk to each other only
// through the collective; the daemons set it up). A worker publishes to its
// own daemon; a worker that needs the value asks its daemon, which asks the
// owner's daemon until the value is there.

// maxRendezvousValue bounds one published value.
const maxRendezvousValue = 64 << 10

// rdvPut records a value a local worker published.
func (s *Supervisor) rdvPut(w Key, key string, v []byte) {
	if len(v) > maxRendezvousValue || key == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rdv[rdvKey{w.Job, w.Attempt, key}] = append([]byte(nil), v...)
}

// Rendezvous reads the value a worker here published under key for its
// attempt of job (the API answers other nodes' lookups with it).
func (s *Supervisor) Rendezvous(job string, attempt int, key string) ([]byte, bool) {
	return s.rdvGet(rdvKey{job, attempt, key})
}

// rdvGet reads a value a local worker published.
func (s *Supervisor) rdvGet(k rdvKey) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.rdv[k]
	return v, ok
}

// lookup answers a worker's lookup, in a goroutine of the supervisor's
// that ends when the value is found, the worker exits, the attempt ends,
// or the supervisor stops.
func (s *Supervisor) lookup(p *Worker, m worker.Msg) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		v, err := s.resolve(p, m.Owner, m.Key)
		reply := worker.Msg{Type: "lookup", ID: m.ID, Value: v}
		if err != nil {
			reply.Error = err.Error()
		}
		b, _ := json.Marshal(reply)
		p.write(append(b, '\n'))
	}()
}

func (s *Supervisor) resolve(p *Worker, owner int, key string) ([]byte, error) {
	k := rdvKey{p.key.Job, p.key.Attempt, key}
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		v, err := s.fetch(k, owner)
		if err == nil {
			return v, nil
		}
		if !errors.Is(err, errNotYet) {
			return nil, err
		}
		select {
		case <-p.exited:
			return nil, errors.New("worker exited")
		case <-s.stopC:
			return nil, errors.New("daemon stopping")
		case <-t.C:
		}
	}
}

var errNotYet = errors.New("not published yet")

// fetch reads k from the node that runs rank owner; errNotYet while the
// value is not there.
func (s *Supervisor) fetch(k rdvKey, owner int) ([]byte, error) {
	st := s.View(s.env.State())
	job, ok := current(st, k.job, k.attempt)
	if !ok {
		if j := st.Jobs[k.job]; j != nil && len(j.Attempts) < k.attempt {
			return nil, errNotYet // this node has not heard of the attempt yet
		}
		return nil, errors.New("the attempt is over")
	}
	if owner < 0 || owner >= len(job.Plan.Ranks) {
		return nil, errors.New("no such rank")
	}
	node := job.Plan.Ranks[owner].Node
	if node == s.env.Node {
		if v, ok := s.rdvGet(k); ok {
			return v, nil
		}
		return nil, errNotYet
	}
	m := st.Members[node]
	if m == nil || m.APIAddr == "" {
		return nil, errNotYet
	}
	c, err := s.client(m.APIAddr)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	v, err := c.Rendezvous(ctx, k.job, k.attempt, k.key)
	var se *api.StatusError
	if err != nil && (!errors.As(err, &se) || se.Code == http.StatusNotFound) {
		return nil, errNotYet // not there yet, or the node is briefly unreachable
	}
	return v, err
}
