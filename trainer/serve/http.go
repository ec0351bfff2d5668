package serve

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Handler serves the engine over HTTP as OpenAI's completions API
// (POST /v1/completions, GET /v1/models) and Text Generation Inference's
// (POST /generate, /generate_stream), with GET /health and GET /metrics.
// name is the model's id in requests and answers.
func Handler(e *Engine, name string) *Server {
	s := &Server{e: e, name: name, created: time.Now().Unix(), mux: http.NewServeMux()}
	s.mux.HandleFunc("POST /v1/completions", s.admit(s.completions))
	s.mux.HandleFunc("GET /v1/models", s.models)
	s.mux.HandleFunc("POST /generate", s.admit(func(w http.ResponseWriter, r *http.Request) { s.tgi(w, r, false) }))
	s.mux.HandleFunc("POST /generate_stream", s.admit(func(w http.ResponseWriter, r *http.Request) { s.tgi(w, r, true) }))
	s.mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		if s.draining.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	s.mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		e.Stats.WriteMetrics(w)
	})
	return s
}

// Server is the HTTP side of an Engine.
type Server struct {
	e        *Engine
	name     string
	created  int64
	mux      *http.ServeMux
	draining atomic.Bool
	inflight sync.WaitGroup
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// admit runs h for a request unless the server drains: then it answers
// 503 with Retry-After, as a client should try again elsewhere or later.
func (s *Server) admit(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.inflight.Add(1)
		defer s.inflight.Done()
		if s.draining.Load() {
			w.Header().Set("Retry-After", "5")
			oaiError(w, http.StatusServiceUnavailable, "server_error", "", "the server is draining: try again in a few seconds")
			return
		}
		h(w, r)
	}
}

// Drain stops taking requests (503 with Retry-After) and waits for the
// ones in flight, or for ctx.
func (s *Server) Drain(ctx context.Context) error {
	s.draining.Store(true)
	done := make(chan struct{})
	go func() {
		s.inflight.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// maxBody bounds a request body.
const maxBody = 4 << 20

// oaiError writes OpenAI's error body.
func oaiError(w http.ResponseWriter, code int, typ, param, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": param, "code": nil}})
}

func (s *Server) models(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, map[string]any{"object": "list", "data": []any{
		map[string]any{"id": s.name, "object": "model", "created": s.created, "owned_by": "bloom"}}})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// completionRequest is OpenAI's POST /v1/completions body.
type completionRequest struct {
	Model       string          `json:"model"`
	Prompt      json.RawMessage `json:"prompt"`
	MaxTokens   *int            `json:"max_tokens"`
	Temperature *float64        `json:"temperature"`
	TopP        *float64        `json:"top_p"`
	N           *int            `json:"n"`
	Stream      bool            `json:"stream"`
	Stop        json.RawMessage `json:"stop"`
	Seed        *uint64         `json:"seed"`
	Logprobs    *int            `json:"logprobs"`
	Echo        bool            `json:"echo"`
}

// prompts reads OpenAI's prompt: a string, strings, token ids, or lists
// of token ids.
func (s *Server) prompts(raw json.RawMessage) ([][]int32, error) {
	var one string
	var many []string
	var ids []int32
	var idss [][]int32
	switch {
	case json.Unmarshal(raw, &one) == nil:
		return [][]int32{s.e.Tok.Encode(one).IDs}, nil
	case json.Unmarshal(raw, &many) == nil && len(many) > 0:
		out := make([][]int32, len(many))
		for i, p := range many {
			out[i] = s.e.Tok.Encode(p).IDs
		}
		return out, nil
	case json.Unmarshal(raw, &ids) == nil && len(ids) > 0:
		return [][]int32{ids}, nil
	case json.Unmarshal(raw, &idss) == nil && len(idss) > 0:
		return idss, nil
	}
	return nil, errors.New("prompt must be a string, a list of strings, a list of token ids or a list of such lists")
}

// stops reads OpenAI's stop: a string or up to 4 strings.
func stops(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil || len(many) > 4 {
		return nil, errors.New("stop must be a string or a list of up to 4 strings")
	}
	return many, nil
}

type choice struct {
	Text         string          `json:"text"`
	Index        int             `json:"index"`
	Logprobs     *choiceLogprobs `json:"logprobs"`
	FinishReason *string         `json:"finish_reason"`
}

type choiceLogprobs struct {
	Tokens        []string             `json:"tokens"`
	TokenLogprobs []float64            `json:"token_logprobs"`
	TopLogprobs   []map[string]float64 `json:"top_logprobs"`
	TextOffset    []int                `json:"text_offset"`
}

func (s *Server) completions(w http.ResponseWriter, r *http.Request) {
	var req completionRequest
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err == nil {
		err = json.Unmarshal(body, &req)
	}
	if err != nil {
		oaiError(w, http.StatusBadRequest, "invalid_request_error", "", "the body is not a completion request: "+err.Error())
		return
	}
	if req.Model != s.name {
		oaiError(w, http.StatusNotFound, "invalid_request_error", "model", fmt.Sprintf("The model `%s` does not exist: this server has %s", req.Model, s.name))
		return
	}
	prompts, err := s.prompts(req.Prompt)
	if err != nil {
		oaiError(w, http.StatusBadRequest, "invalid_request_error", "prompt", err.Error())
		return
	}
	stop, err := stops(req.Stop)
	if err != nil {
		oaiError(w, http.StatusBadRequest, "invalid_request_error", "stop", err.Error())
		return
	}
	base := Request{MaxTokens: 16, Temperature: 1, TopP: 1, Stop: stop}
	if req.MaxTokens != nil {
		base.MaxTokens = *req.MaxTokens
	}
	if req.Temperature != nil {
		base.Temperature = *req.Temperature
	}
	if req.TopP != nil {
		base.TopP = *req.TopP
	}
	if req.Seed != nil {
		base.Seed = *req.Seed
	}
	if req.Logprobs != nil {
		base.Logprobs = *req.Logprobs
	}
	n := 1
	if req.N != nil {
		n = *req.N
	}
	if n < 1 || n > 16 || base.Temperature < 0 || base.Temperature > 2 || base.TopP < 0 || base.TopP > 1 || base.Logprobs < 0 || base.Logprobs > 5 {
		oaiError(w, http.StatusBadRequest, "invalid_request_error", "", "n must be 1-16, temperature 0-2, top_p 0-1, logprobs 0-5")
		return
	}
	var reqs []Request
	for _, p := range prompts {
		for k := range n {
			q := base
			q.Prompt, q.Seed = p, base.Seed+uint64(k)
			if err := s.e.Check(q); err != nil {
				param := "prompt"
				if q.MaxTokens < 1 {
					param = "max_tokens"
				}
				oaiError(w, http.StatusBadRequest, "invalid_request_error", param, err.Error())
				return
			}
			reqs = append(reqs, q)
		}
	}
	id, created := "cmpl-"+randomID(), time.Now().Unix()
	var stream *sse
	if req.Stream {
		stream = newSSE(w)
	}
	results := make([]Result, len(reqs))
	errs := make([]error, len(reqs))
	var wg sync.WaitGroup
	for i := range reqs {
		q := reqs[i]
		if stream != nil {
			q.OnToken = func(t Token) {
				stream.send(map[string]any{"id": id, "object": "text_completion", "created": created, "model": s.name,
					"choices": []choice{{Text: t.Text, Index: i, Logprobs: s.logprobs(req.Logprobs != nil, []Token{t}, 0)}}})
			}
			if req.Echo {
				stream.send(map[string]any{"id": id, "object": "text_completion", "created": created, "model": s.name,
					"choices": []choice{{Text: s.e.Tok.Decode(q.Prompt, false), Index: i}}})
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = s.e.Complete(r.Context(), q)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		if stream != nil {
			stream.send(map[string]any{"error": map[string]any{"message": err.Error(), "type": "server_error"}})
			return
		}
		oaiError(w, http.StatusServiceUnavailable, "server_error", "", err.Error())
		return
	}
	usage, choices := map[string]int{}, []choice{}
	for i, res := range results {
		finish := res.FinishReason
		usage["prompt_tokens"] += len(reqs[i].Prompt)
		usage["completion_tokens"] += len(res.Tokens)
		if stream != nil {
			stream.send(map[string]any{"id": id, "object": "text_completion", "created": created, "model": s.name,
				"choices": []choice{{Text: res.Tail, Index: i, FinishReason: &finish}}})
			continue
		}
		text, offset := res.Text, 0
		if req.Echo {
			echo := s.e.Tok.Decode(reqs[i].Prompt, false)
			text, offset = echo+text, len(echo)
		}
		choices = append(choices, choice{Text: text, Index: i, FinishReason: &finish, Logprobs: s.logprobs(req.Logprobs != nil, res.Tokens, offset)})
	}
	usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
	if stream != nil {
		stream.done()
		return
	}
	writeJSON(w, map[string]any{"id": id, "object": "text_completion", "created": created, "model": s.name,
		"choices": choices, "usage": usage})
}

// logprobs is a choice's logprobs object, or nil when not asked for.
func (s *Server) logprobs(asked bool, toks []Token, offset int) *choiceLogprobs {
	if !asked {
		return nil
	}
	lp := &choiceLogprobs{Tokens: []string{}, TokenLogprobs: []float64{}, TopLogprobs: []map[string]float64{}, TextOffset: []int{}}
	for _, t := range toks {
		lp.Tokens = append(lp.Tokens, s.e.Tok.Decode([]int32{t.ID}, false))
		lp.TokenLogprobs = append(lp.TokenLogprobs, t.Logprob)
		lp.TopLogprobs = append(lp.TopLogprobs, t.Top)
		lp.TextOffset = append(lp.TextOffset, offset)
		offset += len(t.Text)
	}
	return lp
}

// tgiRequest is Text Generation Inference's POST /generate body.
type tgiRequest struct {
	Inputs     string `json:"inputs"`
	Parameters struct {
		MaxNewTokens *int     `json:"max_new_tokens"`
		Temperature  *float64 `json:"temperature"`
		TopP         *float64 `json:"top_p"`
		DoSample     bool     `json:"do_sample"`
		Seed         *uint64  `json:"seed"`
		Stop         []string `json:"stop"`
		Details      bool     `json:"details"`
	} `json:"parameters"`
}

func tgiError(w http.ResponseWriter, code int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": msg, "error_type": typ})
}

func (s *Server) tgi(w http.ResponseWriter, r *http.Request, streaming bool) {
	var req tgiRequest
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err == nil {
		err = json.Unmarshal(body, &req)
	}
	if err != nil || req.Inputs == "" {
		tgiError(w, http.StatusUnprocessableEntity, "validation", "the body needs inputs (a non-empty string)")
		return
	}
	p := req.Parameters
	q := Request{Prompt: s.e.Tok.Encode(req.Inputs).IDs, MaxTokens: 20, Stop: p.Stop}
	if p.MaxNewTokens != nil {
		q.MaxTokens = *p.MaxNewTokens
	}
	if p.DoSample || p.Temperature != nil && *p.Temperature > 0 {
		q.Temperature, q.TopP = 1, 1
		if p.Temperature != nil {
			q.Temperature = *p.Temperature
		}
		if p.TopP != nil {
			q.TopP = *p.TopP
		}
	}
	if p.Seed != nil {
		q.Seed = *p.Seed
	}
	if err := s.e.Check(q); err != nil {
		tgiError(w, http.StatusUnprocessableEntity, "validation", err.Error())
		return
	}
	var stream *sse
	if streaming {
		stream = newSSE(w)
		q.OnToken = func(t Token) {
			stream.send(map[string]any{"token": map[string]any{"id": t.ID, "text": t.Text, "logprob": t.Logprob, "special": false},
				"generated_text": nil, "details": nil})
		}
	}
	res, err := s.e.Complete(r.Context(), q)
	if err != nil {
		if stream != nil {
			stream.send(map[string]any{"error": err.Error(), "error_type": "generation"})
			return
		}
		tgiError(w, http.StatusServiceUnavailable, "generation", err.Error())
		return
	}
	details := map[string]any{"finish_reason": map[string]string{"length": "length", "stop": "eos_token"}[res.FinishReason],
		"generated_tokens": len(res.Tokens), "seed": p.Seed}
	if stream != nil {
		stream.send(map[string]any{"token": nil, "generated_text": res.Text, "details": details})
		return
	}
	out := map[string]any{"generated_text": res.Text}
	if p.Details {
		out["details"] = details
	}
	writeJSON(w, out)
}

// sse writes server-sent events: "data: JSON" lines.
type sse struct {
	mu sync.Mutex
	w  http.ResponseWriter
	f  http.Flusher
}

func newSSE(w http.ResponseWriter) *sse {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	f, _ := w.(http.Flusher)
	return &sse{w: w, f: f}
}

func (s *sse) send(v any) {
	b, _ := json.Marshal(v)
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(s.w, "data: %s\n\n", b)
	if s.f != nil {
		s.f.Flush()
	}
}

// done ends an OpenAI stream.
func (s *sse) done() {
	s.mu.Lock()
	defer s.mu.Unlock()
	io.WriteString(s.w, "data: [DONE]\n\n")
	if s.f != nil {
		s.f.Flush()
	}
}

func randomID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Serve runs the engine and serves it at addr until ctx ends; then it
// drains (new requests get 503 with Retry-After, the ones in flight finish,
// for up to a minute) and stops.
func Serve(ctx context.Context, e *Engine, name string, addr string) error {
	h := Handler(e, name)
	srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	run, stopEngine := context.WithCancel(context.Background())
	defer stopEngine()
	go e.Run(run)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		c, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		h.Drain(c)
		srv.Shutdown(c)
	}()
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	<-stopped
	return nil
}
