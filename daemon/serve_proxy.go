package daemon

import (
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"

	"bloom/api"
	"bloom/daemon/coord"
	"bloom/daemon/jobspec"
)

// A serve job answers HTTP through any bloomd, authenticated as the rest
// of the API: /v1/serve/JOB/... (for OpenAI's client, the base URL
// https://NODE/v1/serve/JOB/v1/). The node whose worker serves proxies to
// its loopback address; any other node forwards to that node's API with
// its own certificate. A job that is not serving (starting, restarting,
// gone) answers 503 with Retry-After, never a hang.

func (d *Daemon) handleServe(w http.ResponseWriter, r *http.Request) {
	id, rest := r.PathValue("job"), r.PathValue("rest")
	if addr := d.sup.Serving(id); addr != "" {
		target, err := url.Parse(addr)
		if err != nil {
			writeError(w, http.StatusInternalServerError, err)
			return
		}
		r.URL.Path = "/" + rest
		d.proxy(target, nil).ServeHTTP(w, r)
		return
	}
	unavailable := func(format string, a ...any) {
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, fmt.Errorf(format, a...))
	}
	st := d.State()
	job := st.Jobs[id]
	if job == nil {
		writeError(w, http.StatusNotFound, fmt.Errorf("no job %s", id))
		return
	}
	if spec, err := jobspec.Unmarshal(job.Spec); err != nil || spec.Kind != jobspec.KindServe {
		writeError(w, http.StatusNotFound, fmt.Errorf("job %s does not serve (submit a serve job: bloomctl submit serve)", id))
		return
	}
	if job.State != coord.JobRunning || job.Plan == nil || len(job.Plan.Ranks) == 0 {
		unavailable("job %s is %v, not serving", id, job.State)
		return
	}
	node := job.Plan.Ranks[0].Node
	m := st.Members[node]
	if node == d.cfg.Name || r.Header.Get(api.HeaderForwarded) != "" || m == nil {
		unavailable("job %s's server on %s is not answering yet", id, node)
		return
	}
	target := &url.URL{Scheme: "https", Host: m.APIAddr}
	d.proxy(target, d.forwardClient().Transport).ServeHTTP(w, r)
}

// proxy forwards requests to target as they are, streaming answers as
// they come (server-sent events); a target that fails answers 503.
func (d *Daemon) proxy(target *url.URL, transport http.RoundTripper) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Header.Set(api.HeaderForwarded, d.cfg.Name)
			pr.Out.Header.Del("Authorization") // the hop is the node's own
		},
		Transport:     transport,
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			w.Header().Set("Retry-After", "5")
			writeError(w, http.StatusServiceUnavailable, fmt.Errorf("the serving rank did not answer: %w", err))
		},
	}
}
