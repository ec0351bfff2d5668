package daemon

import (
	"net"

	"bloom/daemon/coord"
	"bloom/daemon/xfer"
)

// startXfer listens for checkpoint transfers on the API's host and port
// number (UDP), or any port when that one is taken, and returns the
// address to advertise.
func (d *Daemon) startXfer(apiListen string) (*xfer.Endpoint, string, error) {
	host, port, _ := net.SplitHostPort(apiListen)
	x, err := xfer.Listen(d.id, net.JoinHostPort(host, port), d.ckptRoot, d.log)
	if err != nil {
		x, err = xfer.Listen(d.id, net.JoinHostPort(host, "0"), d.ckptRoot, d.log)
	}
	if err != nil {
		return nil, "", err
	}
	advHost, _, _ := net.SplitHostPort(d.apiAddr)
	_, xport, _ := net.SplitHostPort(x.Addr())
	return x, net.JoinHostPort(advHost, xport), nil
}

// ckptRoot is the checkpoint root of a job on this node, for xfer and the
// supervisor.
func (d *Daemon) ckptRoot(id string) (string, bool) {
	var job *coord.Job
	d.fsm.read(func(s *coord.State) {
		if j := s.Jobs[id]; j != nil {
			job = &coord.Job{ID: j.ID, Spec: append([]byte(nil), j.Spec...)}
		}
	})
	if job == nil {
		return "", false
	}
	return d.paths.ckptRoot(job)
}
