package serve

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Handler serves the engine over HTTP as OpenAI's completions API
// (POST /v1/completions, GET /v1/models) and Text Generation Inference's
// (POST /generate, /generate_stream), with GET /health and GET /metrics.
// name is the model's id in requests and answers.
func Handler(e *Engine, name string) *Server {
	s := &Server{e: e, name: name, created: time.Now().Unix(), mux: http.NewServeMux()}
	s.mux.HandleFunc("POST /v1/completions", s.admit(s.completions))
	s.mux.HandleFunc("GET /v1/models", s.models)
	s.mux.HandleFunc("POST /generate", s.admit(func(w http.ResponseWriter, r *http.Request) { s.tgi(w, r, tgiGenerate) }))
	s.mux.HandleFunc("POST /generate_stream", s.admit(func(w http.ResponseWriter, r *http.Request) { s.tgi(w, r, tgiStream) }))
	// TGI's compatibility routes: POST / and /invocations stream or not as
	// the body's "stream" says, a generation answered as a list of one.
	compat := s.admit(func(w http.ResponseWriter, r *http.Request) { s.tgi(w, r, tgiCompat) })
	s.mux.HandleFunc("POST /{$}", compat)
	s.mux.HandleFunc("POST /invocations", compat)
	s.mux.HandleFunc("GET /info", s.info)
	health := func(w http.ResponseWriter, r *http.Request) {
		if s.draining.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}
	s.mux.HandleFunc("GET /health", health)
	s.mux.HandleFunc("GET /ping", health)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		oaiError(w, http.StatusNotFound, "invalid_request_error", "", fmt.Sprintf("no route %s %s on this server", r.Method, r.URL.Path))
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

// maxN is the most choices a prompt may ask for (OpenAI's n limit).
const maxN = 128

// maxBody bounds a request body.
const maxBody = 4 << 20

// oaiError writes OpenAI's error body (param "" and errCode "" as null).
func oaiError(w http.ResponseWriter, code int, typ, param, msg string) {
	oaiErrorCode(w, code, typ, param, "", msg)
}

func oaiErrorCode(w http.ResponseWriter, code int, typ, param, errCode, msg string) {
	null := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": null(param), "code": null(errCode)}})
}

func (s *Server) models(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, map[string]any{"object": "list", "data": []any{
		map[string]any{"id": s.name, "object": "model", "created": s.created, "owned_by": "bloom"}}})
}

// info is TGI's GET /info: the model and the server's limits.
func (s *Server) info(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, map[string]any{"model_id": s.name, "model_dtype": "float32", "model_device_type": "cpu",
		"max_input_length": s.e.Decoder.Context() - 1, "max_total_tokens": s.e.Decoder.Context(),
		"max_concurrent_requests": cap(s.e.queue), "max_best_of": 1, "max_stop_sequences": 4,
		"waiting_served_ratio": waitingServed, "validation_workers": 1, "version": "bloom"})
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
	// StreamOptions.IncludeUsage adds a last chunk with the usage.
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	Stop     json.RawMessage `json:"stop"`
	Seed     *int64          `json:"seed"`
	Logprobs *int            `json:"logprobs"`
	Echo     bool            `json:"echo"`
	// Not supported: refused unless neutral, rather than ignored.
	BestOf           *int               `json:"best_of"`
	PresencePenalty  *float64           `json:"presence_penalty"`
	FrequencyPenalty *float64           `json:"frequency_penalty"`
	LogitBias        map[string]float64 `json:"logit_bias"`
	Suffix           *string            `json:"suffix"`
}

// unsupported names the first setting of r this server cannot honour
// (a neutral value is fine: clients send defaults).
func (r *completionRequest) unsupported() string {
	switch {
	case r.BestOf != nil && *r.BestOf > 1:
		return "best_of"
	case r.PresencePenalty != nil && *r.PresencePenalty != 0:
		return "presence_penalty"
	case r.FrequencyPenalty != nil && *r.FrequencyPenalty != 0:
		return "frequency_penalty"
	case len(r.LogitBias) > 0:
		return "logit_bias"
	case r.Suffix != nil && *r.Suffix != "":
		return "suffix"
	}
	return ""
}

// randomSeed is the seed of a sampled request that names none: each such
// request samples afresh.
func randomSeed() uint64 {
	var b [8]byte
	rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:])
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
	TokenLogprobs []*float64           `json:"token_logprobs"` // the prompt's first: null`
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
	switch req.Model {
	case s.name:
	case "":
		oaiError(w, http.StatusBadRequest, "invalid_request_error", "model", "you must provide a model parameter: this server has "+s.name)
		return
	default:
		oaiErrorCode(w, http.StatusNotFound, "invalid_request_error", "model", "model_not_found",
			fmt.Sprintf("The model `%s` does not exist: this server has %s", req.Model, s.name))
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
	if p := req.unsupported(); p != "" {
		oaiError(w, http.StatusBadRequest, "invalid_request_error", p, p+" is not supported by this server")
		return
	}
	base := Request{MaxTokens: 16, Temperature: 1, TopP: 1, Stop: stop, Seed: randomSeed()}
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
		base.Seed = uint64(*req.Seed) // OpenAI's seed is any integer
	}
	if req.Logprobs != nil {
		base.Logprobs = *req.Logprobs
		base.PromptLogprobs = req.Echo // the prompt's tokens scored too, as OpenAI echoes them
	}
	n := 1
	if req.N != nil {
		n = *req.N
	}
	for _, c := range []struct {
		bad   bool
		param string
		want  string
	}{
		{n < 1 || n > maxN, "n", fmt.Sprintf("1 to %d", maxN)}, {base.Temperature < 0 || base.Temperature > 2, "temperature", "0 to 2"},
		{base.TopP < 0 || base.TopP > 1, "top_p", "0 to 1"}, {base.Logprobs < 0 || base.Logprobs > 5, "logprobs", "0 to 5"},
	} {
		if c.bad {
			oaiError(w, http.StatusBadRequest, "invalid_request_error", c.param, c.param+" must be "+c.want)
			return
		}
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
				if q.PromptLogprobs && strings.Contains(err.Error(), "score") {
					param = "echo"
				}
				oaiError(w, http.StatusBadRequest, "invalid_request_error", param, err.Error())
				return
			}
			reqs = append(reqs, q)
		}
	}
	if !s.e.Room(len(reqs)) {
		w.Header().Set("Retry-After", "1")
		oaiError(w, http.StatusTooManyRequests, "server_error", "", ErrOverloaded.Error())
		return
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
			off := 0 // characters the choice's text has so far
			if req.Echo {
				off = utf8.RuneCountInString(s.e.Tok.Decode(q.Prompt, false))
			}
			q.OnToken = func(t Token) {
				stream.send(map[string]any{"id": id, "object": "text_completion", "created": created, "model": s.name,
					"choices": []choice{{Text: t.Text, Index: i, Logprobs: s.logprobs(req.Logprobs != nil, []Token{t}, off)}}})
				off += utf8.RuneCountInString(t.Text)
			}
			echo := func(scored []Token) {
				stream.send(map[string]any{"id": id, "object": "text_completion", "created": created, "model": s.name,
					"choices": []choice{{Text: s.e.Tok.Decode(q.Prompt, false), Index: i, Logprobs: s.promptLogprobs(q, scored)}}})
			}
			switch {
			case q.PromptLogprobs:
				q.OnPrompt = echo // once scored, before the tokens
			case req.Echo:
				echo(nil)
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
		if stream == nil && errors.Is(err, ErrOverloaded) {
			w.Header().Set("Retry-After", "1")
			oaiError(w, http.StatusTooManyRequests, "server_error", "", err.Error())
			return
		}
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
		if i%n == 0 { // a prompt counts once, whatever its choices
			usage["prompt_tokens"] += len(reqs[i].Prompt)
		}
		usage["completion_tokens"] += len(res.Tokens)
		if stream != nil {
			stream.send(map[string]any{"id": id, "object": "text_completion", "created": created, "model": s.name,
				"choices": []choice{{Text: res.Tail, Index: i, FinishReason: &finish}}})
			continue
		}
		text, offset := res.Text, 0
		if req.Echo {
			echo := s.e.Tok.Decode(reqs[i].Prompt, false)
			text, offset = echo+text, utf8.RuneCountInString(echo)
		}
		lp := s.logprobs(req.Logprobs != nil, res.Tokens, offset)
		if p := s.promptLogprobs(reqs[i], res.Prompt); p != nil {
			lp.Tokens, lp.TokenLogprobs = append(p.Tokens, lp.Tokens...), append(p.TokenLogprobs, lp.TokenLogprobs...)
			lp.TopLogprobs, lp.TextOffset = append(p.TopLogprobs, lp.TopLogprobs...), append(p.TextOffset, lp.TextOffset...)
		}
		choices = append(choices, choice{Text: text, Index: i, FinishReason: &finish, Logprobs: lp})
	}
	usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
	if stream != nil {
		if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
			stream.send(map[string]any{"id": id, "object": "text_completion", "created": created, "model": s.name,
				"choices": []choice{}, "usage": usage})
		}
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
	lp := &choiceLogprobs{Tokens: []string{}, TokenLogprobs: []*float64{}, TopLogprobs: []map[string]float64{}, TextOffset: []int{}}
	for _, t := range toks {
		lp.Tokens = append(lp.Tokens, s.e.Tok.Decode([]int32{t.ID}, false))
		lp.TokenLogprobs = append(lp.TokenLogprobs, &t.Logprob)
		lp.TopLogprobs = append(lp.TopLogprobs, t.Top)
		lp.TextOffset = append(lp.TextOffset, offset)
		offset += utf8.RuneCountInString(t.Text)
	}
	return lp
}

// promptLogprobs is the logprobs object of q's echoed prompt, its tokens
// after the first scored (scored: Result.Prompt) as OpenAI gives them (the
// first with null), or nil when q did not ask for them.
func (s *Server) promptLogprobs(q Request, scored []Token) *choiceLogprobs {
	if !q.PromptLogprobs || len(scored) != len(q.Prompt)-1 {
		return nil
	}
	lp := &choiceLogprobs{}
	for i, id := range q.Prompt {
		lp.Tokens = append(lp.Tokens, s.e.Tok.Decode([]int32{id}, false))
		lp.TextOffset = append(lp.TextOffset, utf8.RuneCountInString(s.e.Tok.Decode(q.Prompt[:i], false)))
		if i == 0 {
			lp.TokenLogprobs, lp.TopLogprobs = append(lp.TokenLogprobs, nil), append(lp.TopLogprobs, nil)
			continue
		}
		lp.TokenLogprobs, lp.TopLogprobs = append(lp.TokenLogprobs, &scored[i-1].Logprob), append(lp.TopLogprobs, scored[i-1].Top)
	}
	return lp
}

// tgiRequest is Text Generation Inference's POST /generate body (with
// the compatibility routes' stream).
type tgiRequest struct {
	Inputs     string `json:"inputs"`
	Stream     bool   `json:"stream"`
	Parameters struct {
		MaxNewTokens *int     `json:"max_new_tokens"`
		Temperature  *float64 `json:"temperature"`
		TopK         *int     `json:"top_k"`
		TopP         *float64 `json:"top_p"`
		DoSample     bool     `json:"do_sample"`
		Seed         *uint64  `json:"seed"`
		Stop         []string `json:"stop"`
		Details      bool     `json:"details"`
		// return_full_text puts the prompt before the generated text.
		ReturnFullText *bool `json:"return_full_text"`
		// Not supported: refused unless neutral, rather than ignored.
		RepetitionPenalty *float64 `json:"repetition_penalty"`
		FrequencyPenalty  *float64 `json:"frequency_penalty"`
		TypicalP          *float64 `json:"typical_p"`
		BestOf            *int     `json:"best_of"`
		Truncate          *int     `json:"truncate"`
		Watermark         bool     `json:"watermark"`
		TopNTokens        *int     `json:"top_n_tokens"`
		// decoder_input_details puts the prompt's tokens, scored, in the
		// details' prefill.
		DecoderInputDetails bool `json:"decoder_input_details"`
	} `json:"parameters"`
}

// check is TGI's validation of the parameters (422 with its message).
func (q *tgiRequest) check() string {
	p := q.Parameters
	switch {
	case q.Inputs == "":
		return "the body needs inputs (a non-empty string)"
	case p.Temperature != nil && *p.Temperature <= 0:
		return "`temperature` must be strictly positive"
	case p.TopP != nil && (*p.TopP <= 0 || *p.TopP >= 1):
		return "`top_p` must be > 0.0 and < 1.0"
	case p.TopK != nil && *p.TopK <= 0:
		return "`top_k` must be strictly positive"
	case len(p.Stop) > 4:
		return "`stop` supports up to 4 stop sequences"
	case p.RepetitionPenalty != nil && *p.RepetitionPenalty != 1, p.FrequencyPenalty != nil && *p.FrequencyPenalty != 0,
		p.TypicalP != nil && *p.TypicalP < 1, p.BestOf != nil && *p.BestOf > 1, p.Truncate != nil, p.Watermark,
		p.TopNTokens != nil && *p.TopNTokens > 0:
		return "repetition_penalty, frequency_penalty, typical_p, best_of, truncate, watermark and top_n_tokens are not supported by this server"
	}
	return ""
}

func tgiError(w http.ResponseWriter, code int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": msg, "error_type": typ})
}

// The TGI routes: /generate, /generate_stream, and the compatibility
// routes (POST /, /invocations) that do either as the body says.
type tgiRoute int

const (
	tgiGenerate tgiRoute = iota
	tgiStream
	tgiCompat
)

// prefill is TGI's details.prefill: with decoder_input_details, the
// prompt's tokens, the first without a logprob, the others with theirs
// after the ones before (scored: Result.Prompt); else empty.
func (s *Server) prefill(q Request, scored []Token) []map[string]any {
	out := []map[string]any{}
	if !q.PromptLogprobs || len(scored) != len(q.Prompt)-1 {
		return out
	}
	for i, id := range q.Prompt {
		var lp any
		if i > 0 {
			lp = scored[i-1].Logprob
		}
		out = append(out, map[string]any{"id": id, "text": s.e.Tok.Decode([]int32{id}, false), "logprob": lp})
	}
	return out
}

// tgiSpecial is TGI's Token for the EOS token t (special, no text).
func tgiSpecial(t *Token) map[string]any {
	return map[string]any{"id": t.ID, "text": "", "logprob": t.Logprob, "special": true}
}

// tgiToken is TGI's Token.
func tgiToken(t Token) map[string]any {
	return map[string]any{"id": t.ID, "text": t.Text, "logprob": t.Logprob, "special": false}
}

func (s *Server) tgi(w http.ResponseWriter, r *http.Request, route tgiRoute) {
	var req tgiRequest
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err == nil {
		err = json.Unmarshal(body, &req)
	}
	if err != nil {
		tgiError(w, http.StatusUnprocessableEntity, "validation", "the body is not a generate request: "+err.Error())
		return
	}
	if msg := req.check(); msg != "" {
		tgiError(w, http.StatusUnprocessableEntity, "validation", msg)
		return
	}
	p := req.Parameters
	q := Request{Prompt: s.e.Tok.Encode(req.Inputs).IDs, MaxTokens: 20, Stop: p.Stop, PromptLogprobs: p.DecoderInputDetails && p.Details}
	if p.MaxNewTokens != nil {
		q.MaxTokens = *p.MaxNewTokens
	}
	var seed *uint64
	if p.DoSample || p.Temperature != nil && *p.Temperature != 1 || p.TopK != nil || p.TopP != nil {
		// TGI samples when asked to or when a sampling parameter is set.
		q.Temperature, q.TopP, q.Seed = 1, 1, randomSeed()
		if p.Temperature != nil {
			q.Temperature = *p.Temperature
		}
		if p.TopP != nil {
			q.TopP = *p.TopP
		}
		if p.TopK != nil {
			q.TopK = *p.TopK
		}
		if p.Seed != nil {
			q.Seed = *p.Seed
		}
		seed = &q.Seed
	}
	if err := s.e.Check(q); err != nil {
		tgiError(w, http.StatusUnprocessableEntity, "validation", err.Error())
		return
	}
	if !s.e.Room(1) {
		w.Header().Set("Retry-After", "1")
		tgiError(w, http.StatusTooManyRequests, "overloaded", ErrOverloaded.Error())
		return
	}
	prefix := ""
	if p.ReturnFullText != nil && *p.ReturnFullText {
		prefix = req.Inputs
	}
	// A stream's last event carries the last token with the generated
	// text (and the details when asked for), so each token is held until
	// the next one shows it was not the last.
	var stream *sse
	var held *Token
	index := 0
	event := func(t Token, last map[string]any) {
		index++
		ev := map[string]any{"index": index, "token": tgiToken(t), "top_tokens": nil, "generated_text": nil, "details": nil}
		for k, v := range last {
			ev[k] = v
		}
		stream.send(ev)
	}
	if route == tgiStream || route == tgiCompat && req.Stream {
		stream = newSSE(w)
		q.OnToken = func(t Token) {
			if held != nil {
				event(*held, nil)
			}
			held = &t
		}
	}
	res, err := s.e.Complete(r.Context(), q)
	if err != nil {
		if stream != nil {
			stream.send(map[string]any{"error": err.Error(), "error_type": "generation"})
			return
		}
		if errors.Is(err, ErrOverloaded) {
			w.Header().Set("Retry-After", "1")
			tgiError(w, http.StatusTooManyRequests, "overloaded", err.Error())
			return
		}
		tgiError(w, http.StatusFailedDependency, "generation", err.Error())
		return
	}
	finish := map[string]string{"length": "length", "stop": "eos_token"}[res.FinishReason]
	if res.StopString {
		finish = "stop_sequence"
	}
	generated := len(res.Tokens) // TGI counts the EOS token, which ends the stream
	if res.EOS != nil {
		generated++
	}
	if stream != nil {
		var details any
		if p.Details {
			details = map[string]any{"finish_reason": finish, "generated_tokens": generated, "seed": seed, "input_length": len(q.Prompt)}
		}
		end := map[string]any{"generated_text": prefix + res.Text, "details": details}
		if held != nil {
			held.Text += res.Tail
			if res.EOS == nil {
				event(*held, end)
				return
			}
			event(*held, nil)
		}
		eos := res.EOS
		if eos == nil { // no token at all: not for max_new_tokens ≥ 1
			eos = &Token{ID: s.e.EOS}
		}
		index++ // the EOS token carries the end
		stream.send(map[string]any{"index": index, "token": tgiSpecial(eos), "top_tokens": nil,
			"generated_text": prefix + res.Text, "details": details})
		return
	}
	out := map[string]any{"generated_text": prefix + res.Text}
	if p.Details {
		toks := make([]map[string]any, len(res.Tokens))
		for i, t := range res.Tokens {
			toks[i] = tgiToken(t)
		}
		if res.EOS != nil {
			toks = append(toks, tgiSpecial(res.EOS))
		}
		out["details"] = map[string]any{"finish_reason": finish, "generated_tokens": generated, "seed": seed,
			"prefill": s.prefill(q, res.Prompt), "tokens": toks}
	}
	if route == tgiCompat {
		writeJSON(w, []any{out})
		return
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
