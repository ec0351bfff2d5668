package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/raft"

	"bloom/api"
	"bloom/daemon/identity"
)

func (d *Daemon) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+api.PathMembers, d.handleMembers)
	mux.HandleFunc("GET "+api.PathStatus, d.handleStatus)
	mux.HandleFunc("POST "+api.PathRestart, d.handleRestart)
	d.jobRoutes(mux)
	mux.HandleFunc("GET "+api.PathMetrics, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		d.writeMetrics(w)
	})
	top := http.NewServeMux()
	top.HandleFunc("GET "+pathDashboard+"{$}", handleDashboard)
	top.Handle("/", d.authenticate(mux))
	return top
}

// authenticate lets in a client certificate issued by the cluster CA
// (verified during the handshake) or the cluster's bearer token.
func (d *Daemon) authenticate(next http.Handler) http.Handler {
	token := d.cfg.Secret.Token()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
			next.ServeHTTP(w, r)
			return
		}
		if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && identity.TokenEqual(bearer, token) {
			next.ServeHTTP(w, r)
			return
		}
		writeError(w, http.StatusUnauthorized, errors.New("authenticate with a client certificate from the cluster secret (--secret-file) or the cluster token (--token)"))
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, api.ErrorBody{Error: err.Error()})
}

func (d *Daemon) raftView() (raft.Configuration, raft.ServerID, raft.ServerAddress) {
	addr, leader := d.raft.LeaderWithID()
	var conf raft.Configuration
	if f := d.raft.GetConfiguration(); f.Error() == nil {
		conf = f.Configuration()
	}
	return conf, leader, addr
}

// Members lists gossip's members with their Raft roles, as this node sees them.
func (d *Daemon) Members() api.MembersResponse {
	conf, leader, _ := d.raftView()
	out := api.MembersResponse{Node: d.cfg.Name, Members: []api.Member{}}
	for _, m := range d.ml.Members() {
		out.Members = append(out.Members, api.Member{
			Name: m.Name, Addr: m.Addr, API: m.Meta.API, State: string(m.State),
			Role: roleOf(conf, m.Name, leader), Devices: m.Meta.Devices, DevicesHealthy: m.Meta.DevicesHealthy, DeviceIPs: m.Meta.DeviceIPs, Version: m.Meta.Version,
			RaftError: m.Meta.RaftErr,
		})
	}
	return out
}

// Status reports cluster id, leader, Raft indices, voters and health.
func (d *Daemon) Status() api.Status {
	conf, leader, addr := d.raftView()
	r := d.raft
	st := api.Status{ClusterID: d.clusterID(), Node: d.cfg.Name, Leader: string(leader), LeaderAddr: string(addr),
		Term: r.CurrentTerm(), CommitIndex: r.CommitIndex(), AppliedIndex: r.AppliedIndex(), LastIndex: r.LastIndex(),
		Voters: []string{}, Nonvoters: []string{}, StartedAt: d.started.UnixMilli(), Instance: d.nonce, Draining: d.sup.Draining(),
		Devices: d.Devices()}
	alive := d.aliveNodes()
	stuck := map[string]string{} // nodes whose Raft log refuses appends
	for _, m := range d.ml.Members() {
		if m.Meta.RaftErr != "" && alive[m.Name] {
			stuck[m.Name] = m.Meta.RaftErr
		}
	}
	liveVoters := 0
	for _, s := range conf.Servers {
		if s.Suffrage == raft.Voter {
			st.Voters = append(st.Voters, string(s.ID))
			if alive[string(s.ID)] && stuck[string(s.ID)] == "" {
				liveVoters++
			}
		} else {
			st.Nonvoters = append(st.Nonvoters, string(s.ID))
		}
	}
	sort.Strings(st.Voters)
	sort.Strings(st.Nonvoters)
	quorum := len(st.Voters)/2 + 1
	st.Health.FailureTolerance = max(0, liveVoters-quorum)
	switch {
	case len(st.Voters) == 0:
		st.Health.Reason = "no Raft configuration yet: waiting for --bootstrap-expect servers, or to be added by the leader"
	case leader == "":
		st.Health.Reason = "no leader"
	case liveVoters < quorum:
		st.Health.Reason = fmt.Sprintf("%d of %d voters alive, quorum is %d", liveVoters, len(st.Voters), quorum)
	case len(stuck) > 0:
		var say []string
		for _, n := range slices.Sorted(maps.Keys(stuck)) {
			say = append(say, fmt.Sprintf("%s's Raft log refuses appends (%s)", n, stuck[n]))
		}
		st.Health.Reason = strings.Join(say, "; ") + ": free or replace its disk"
	default:
		st.Health.Healthy = true
	}
	return st
}

func (d *Daemon) handleMembers(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, d.Members())
}

func (d *Daemon) handleStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, d.Status())
}

// handleRestart asks this daemon's owner to restart it; it answers at
// once, and the drain, stop and start follow.
func (d *Daemon) handleRestart(w http.ResponseWriter, r *http.Request) {
	if !d.cfg.Restartable {
		writeError(w, http.StatusNotImplemented, fmt.Errorf("bloomd %s cannot restart itself (it was not started by `bloomd join`): restart it with its service manager", d.cfg.Name))
		return
	}
	d.log.Info("restart requested through the API", "from", r.RemoteAddr)
	d.requestRestart()
	writeJSON(w, http.StatusAccepted, api.RestartReply{Node: d.cfg.Name, Instance: d.nonce})
}

// leaderOnly runs a write on the leader, and forwards it there from any
// other node (once: a forwarded request that lands on a non-leader fails
// with 503 and the client retries).
// nodeOnly lets in holders of the cluster secret only: a client
// certificate of the cluster CA (every node has one; so does an operator's
// bloomctl --secret-file). The user token may not reach the endpoints
// nodes talk to each other through.
func (d *Daemon) nodeOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if certNode(r) == "" {
			writeError(w, http.StatusForbidden, errors.New("only the cluster's nodes (a certificate from the cluster secret) may use this endpoint, not the API token"))
			return
		}
		h(w, r)
	}
}

// certNode is the name in the request's verified client certificate ("":
// none).
func certNode(r *http.Request) string {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return ""
	}
	return r.TLS.VerifiedChains[0][0].Subject.CommonName
}

func (d *Daemon) leaderOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if d.IsLeader() {
			h(w, r)
			return
		}
		addr, leader := d.raft.LeaderWithID()
		if addr == "" || r.Header.Get(api.HeaderForwarded) != "" {
			writeError(w, http.StatusServiceUnavailable, errors.New("no leader at the moment (an election is under way): retry in a second"))
			return
		}
		d.forward(w, r, string(addr), string(leader))
	}
}

// forwardToLeader answers r with the leader's answer when this node is a
// follower and r was not forwarded already; it reports whether it did.
func (d *Daemon) forwardToLeader(w http.ResponseWriter, r *http.Request) bool {
	if d.IsLeader() || r.Header.Get(api.HeaderForwarded) != "" {
		return false
	}
	addr, leader := d.raft.LeaderWithID()
	if addr == "" {
		return false
	}
	d.forward(w, r, string(addr), string(leader))
	return true
}

func (d *Daemon) forward(w http.ResponseWriter, r *http.Request, addr, leader string) {
	body, err := io.ReadAll(io.LimitReader(r.Body, api.MaxRequestBody+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), d.cfg.ApplyTimeout+5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, r.Method, "https://"+addr+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	req.Header.Set("Content-Type", r.Header.Get("Content-Type"))
	req.Header.Set(api.HeaderForwarded, d.cfg.Name)
	resp, err := d.forwardClient().Do(req)
	if err != nil {
		writeError(w, http.StatusBadGateway, fmt.Errorf("forward to leader %s: %w", leader, err))
		return
	}
	defer resp.Body.Close()
	w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

// forwardClient talks to the leader with this node's own certificate.
func (d *Daemon) forwardClient() *http.Client {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fwd == nil {
		d.fwd = &http.Client{Transport: &http.Transport{TLSClientConfig: d.id.ClientTLS(identity.ALPNHTTP), MaxIdleConnsPerHost: 2}}
	}
	return d.fwd
}
