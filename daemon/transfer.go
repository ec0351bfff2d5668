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

// ckptRoot is the checkpoint root of a job on this node, for xfer.
func (d *Daemon) ckptRoot(id string) (string, bool) {
	var spec []byte
	d.fsm.read(func(s *coord.State) {
		if j := s.Jobs[id]; j != nil {
			spec = append([]byte(nil), j.Spec...)
		}
	})
	if spec == nil {
		return "", false
	}
	return d.paths.ckptRoot(id, spec)
}

// jobRoot is job's checkpoint root on this node ("" when its spec does not
// decode), for the API.
func (d *Daemon) jobRoot(job *coord.Job) string {
	root, _ := d.paths.ckptRoot(job.ID, job.Spec)
	return root
}
