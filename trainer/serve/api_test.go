package serve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
)

// TestAbandonedStream: a client that goes away mid-stream (its request's
// context cancelled) gets no more tokens delivered — before the fix the
// engine kept writing into the finished handler's response and the server
// crashed — and its row leaves at the next token: the engine counts it
// abandoned, generates far fewer than its max_tokens, and serves the next
// request. Over HTTP, a streaming client that hangs up after the first
// event leaves a server that answers the next request.
func TestAbandonedStream(t *testing.T) {
	ts, m, tok := testServer(t, 1)
	e := newEngine(t, m, tok, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go e.Run(ctx)

	rctx, hangUp := context.WithCancel(ctx)
	var waited, late atomic.Bool
	q := Request{Prompt: tok.Encode("Once upon a time").IDs, MaxTokens: 40}
	q.OnToken = func(Token) {
		if waited.Load() {
			late.Store(true)
		}
		hangUp() // the client goes away at its first token
	}
	if _, err := e.Complete(rctx, q); !errors.Is(err, context.Canceled) {
		t.Fatalf("an abandoned request: %v", err)
	}
	waited.Store(true)
	// One row: the next request runs only once the abandoned one left it.
	r, err := e.Complete(ctx, Request{Prompt: tok.Encode("Hello").IDs, MaxTokens: 4})
	if err != nil || len(r.Tokens) != 4 {
		t.Fatalf("the next request: %+v %v", r, err)
	}
	if e.Stats.abandoned.Load() != 1 {
		t.Errorf("%d requests abandoned, want 1", e.Stats.abandoned.Load())
	}
	if late.Load() {
		t.Error("a token reached OnToken after Wait returned")
	}
	if n := e.Stats.tokens.Load() - 4; n > 5 {
		t.Errorf("the abandoned request generated %d tokens (max_tokens 40)", n)
	}

	for _, route := range []struct{ path, body string }{
		{"/v1/completions", `{"model":"tiny","prompt":"Once upon a time","max_tokens":40,"stream":true,"temperature":0}`},
		{"/generate_stream", `{"inputs":"Once upon a time","parameters":{"max_new_tokens":40}}`},
	} {
		hctx, hang := context.WithCancel(ctx)
		req, _ := http.NewRequestWithContext(hctx, "POST", ts.URL+route.path, strings.NewReader(route.body))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if !bufio.NewScanner(res.Body).Scan() {
			t.Fatalf("%s: no first event", route.path)
		}
		hang()
		res.Body.Close()
		res, body := post(t, ts.URL+"/v1/completions", map[string]any{"model": "tiny", "prompt": "Hello", "max_tokens": 3, "temperature": 0})
		if res.StatusCode != 200 {
			t.Fatalf("after a client hung up on %s: %d %s", route.path, res.StatusCode, body)
		}
	}
}

// streamText posts an OpenAI streaming request and returns the text its
// chunks add up to.
func streamText(t *testing.T, url string, body map[string]any) string {
	t.Helper()
	body["stream"] = true
	b, _ := json.Marshal(body)
	res, err := http.Post(url+"/v1/completions", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var text strings.Builder
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "data: ")
		var ch struct{ Choices []struct{ Text string } }
		if ok && line != "[DONE]" && json.Unmarshal([]byte(line), &ch) == nil && len(ch.Choices) == 1 {
			text.WriteString(ch.Choices[0].Text)
		}
	}
	return text.String()
}

// TestStopStringStreamed: a stop string that spans tokens ends the text
// before it, streamed or not: the stream holds back an end that may begin
// the stop string (it sent the string's first characters before), and
// sends what turns out not to be one.
func TestStopStringStreamed(t *testing.T) {
	ts, m, tok := testServer(t, 2)
	full := tok.Decode(alone(t, m, tok, "Once upon a time", 12), true)
	runes := []rune(full)
	stop := string(runes[3:6]) // three characters of the continuation, over several tokens
	want := full[:strings.Index(full, stop)]
	req := map[string]any{"model": "tiny", "prompt": "Once upon a time", "max_tokens": 12, "temperature": 0, "stop": stop}
	res, body := post(t, ts.URL+"/v1/completions", req)
	var c struct {
		Choices []struct {
			Text         string
			FinishReason string `json:"finish_reason"`
		}
	}
	if res.StatusCode != 200 || json.Unmarshal(body, &c) != nil || c.Choices[0].Text != want || c.Choices[0].FinishReason != "stop" {
		t.Fatalf("stop %q in %q: %d %s (want %q)", stop, full, res.StatusCode, body, want)
	}
	if got := streamText(t, ts.URL, req); got != want {
		t.Errorf("streamed with stop %q: %q, want %q", stop, got, want)
	}
	// A stop string that begins like the text but never completes: the
	// held-back characters are sent at the end.
	req["stop"] = string(runes[len(runes)-2:]) + "\x01never"
	if got := streamText(t, ts.URL, req); got != full {
		t.Errorf("streamed with a stop string never met: %q, want %q", got, full)
	}
}

// TestSeeds: sampling without a seed differs from request to request (it
// repeated one sample for every request); with a seed it repeats.
func TestSeeds(t *testing.T) {
	ts, _, _ := testServer(t, 2)
	texts := map[string]bool{}
	for range 4 {
		res, body := post(t, ts.URL+"/v1/completions", map[string]any{"model": "tiny", "prompt": "Once", "max_tokens": 16, "temperature": 2})
		var c struct{ Choices []struct{ Text string } }
		if res.StatusCode != 200 || json.Unmarshal(body, &c) != nil {
			t.Fatalf("%d %s", res.StatusCode, body)
		}
		texts[c.Choices[0].Text] = true
	}
	if len(texts) < 2 {
		t.Errorf("4 samples without a seed gave %d text(s): %v", len(texts), texts)
	}
	var seeded []string
	for range 2 {
		_, body := post(t, ts.URL+"/v1/completions", map[string]any{"model": "tiny", "prompt": "Once", "max_tokens": 16, "temperature": 2, "seed": 7})
		var c struct{ Choices []struct{ Text string } }
		json.Unmarshal(body, &c)
		seeded = append(seeded, c.Choices[0].Text)
	}
	if seeded[0] != seeded[1] {
		t.Errorf("seed 7 twice: %s\n%s", seeded[0], seeded[1])
	}
}

// TestUnsupportedParameters: settings the server cannot honour are refused
// (400, naming the parameter), not ignored; their neutral values, as
// clients send by default, are accepted.
func TestUnsupportedParameters(t *testing.T) {
	ts, _, _ := testServer(t, 2)
	for _, tc := range []struct {
		set   map[string]any
		param string // "" accepted
	}{
		{map[string]any{"presence_penalty": 0.5}, "presence_penalty"},
		{map[string]any{"frequency_penalty": -1}, "frequency_penalty"},
		{map[string]any{"best_of": 3}, "best_of"},
		{map[string]any{"logit_bias": map[string]any{"120": -100}}, "logit_bias"},
		{map[string]any{"suffix": "end"}, "suffix"},
		{map[string]any{"presence_penalty": 0, "frequency_penalty": 0, "best_of": 1, "logit_bias": map[string]any{}}, ""},
	} {
		body := map[string]any{"model": "tiny", "prompt": "Once", "max_tokens": 2}
		for k, v := range tc.set {
			body[k] = v
		}
		res, out := post(t, ts.URL+"/v1/completions", body)
		var e struct{ Error struct{ Param, Type string } }
		json.Unmarshal(out, &e)
		if tc.param == "" && res.StatusCode != 200 || tc.param != "" && (res.StatusCode != 400 || e.Error.Param != tc.param || e.Error.Type != "invalid_request_error") {
			t.Errorf("%v: %d %s", tc.set, res.StatusCode, out)
		}
	}
}

// TestTGI: Text Generation Inference's schema as its client reads it: a
// stream's events numbered from 1, the last carrying the last token with
// the generated text and (asked for) the details; details with the
// generated tokens and an empty prefill; finish reasons length, eos_token
// and stop_sequence; POST / answering a list of one, or streaming when the
// body says so; top_k 1 sampling greedily; return_full_text; 422 for
// TGI's invalid parameters and for what the server does not support.
func TestTGI(t *testing.T) {
	ts, m, tok := testServer(t, 2)
	want := tok.Decode(alone(t, m, tok, "Once upon a time", 6), true)
	res, body := post(t, ts.URL+"/generate_stream", map[string]any{"inputs": "Once upon a time", "parameters": map[string]any{"max_new_tokens": 6, "details": true}})
	type token struct {
		ID      int32
		Text    string
		Special bool
	}
	type event struct {
		Index         int
		Token         *token
		GeneratedText *string `json:"generated_text"`
		Details       *struct {
			FinishReason    string `json:"finish_reason"`
			GeneratedTokens int    `json:"generated_tokens"`
		}
	}
	var evs []event
	var text strings.Builder
	for _, line := range strings.Split(string(body), "\n") {
		if l, ok := strings.CutPrefix(line, "data: "); ok {
			var ev event
			if err := json.Unmarshal([]byte(l), &ev); err != nil || ev.Token == nil {
				t.Fatalf("event %s: %v", l, err)
			}
			text.WriteString(ev.Token.Text)
			evs = append(evs, ev)
		}
	}
	if res.StatusCode != 200 || len(evs) != 6 || evs[0].Index != 1 || evs[5].Index != 6 || evs[4].GeneratedText != nil ||
		evs[5].GeneratedText == nil || *evs[5].GeneratedText != want || text.String() != want ||
		evs[5].Details == nil || evs[5].Details.FinishReason != "length" || evs[5].Details.GeneratedTokens != 6 {
		t.Fatalf("stream (want %q): %d %s", want, res.StatusCode, body)
	}

	var g struct {
		GeneratedText string `json:"generated_text"`
		Details       struct {
			FinishReason    string `json:"finish_reason"`
			GeneratedTokens int    `json:"generated_tokens"`
			Prefill         []any
			Tokens          []token
		}
	}
	res, body = post(t, ts.URL+"/generate", map[string]any{"inputs": "Once upon a time", "parameters": map[string]any{"max_new_tokens": 6, "details": true}})
	if res.StatusCode != 200 || json.Unmarshal(body, &g) != nil || g.GeneratedText != want || len(g.Details.Tokens) != 6 ||
		g.Details.Prefill == nil || g.Details.Tokens[0].ID != evs[0].Token.ID {
		t.Errorf("details: %d %s", res.StatusCode, body)
	}
	runes := []rune(want)
	stop := string(runes[2:4])
	res, body = post(t, ts.URL+"/generate", map[string]any{"inputs": "Once upon a time", "parameters": map[string]any{"max_new_tokens": 6, "details": true, "stop": []string{stop}}})
	if json.Unmarshal(body, &g) != nil || g.Details.FinishReason != "stop_sequence" || g.GeneratedText != want[:strings.Index(want, stop)] {
		t.Errorf("stop %q: %d %s", stop, res.StatusCode, body)
	}

	var list []struct {
		GeneratedText string `json:"generated_text"`
	}
	res, body = post(t, ts.URL+"/", map[string]any{"inputs": "Once upon a time", "parameters": map[string]any{"max_new_tokens": 6, "do_sample": true, "top_k": 1}})
	if res.StatusCode != 200 || json.Unmarshal(body, &list) != nil || len(list) != 1 || list[0].GeneratedText != want {
		t.Errorf("POST / with top_k 1 (want %q): %d %s", want, res.StatusCode, body)
	}
	res, body = post(t, ts.URL+"/", map[string]any{"inputs": "Once", "stream": true, "parameters": map[string]any{"max_new_tokens": 3, "return_full_text": true}})
	if res.StatusCode != 200 || strings.Count(string(body), "data: ") != 3 || !strings.Contains(string(body), `"generated_text":"Once`) {
		t.Errorf("POST / streaming the full text: %d %s", res.StatusCode, body)
	}
	// decoder_input_details: the prompt's tokens in the prefill, scored
	// as the OpenAI route's echo scores them.
	var pd struct {
		Details struct {
			Prefill []struct {
				ID      int32
				Logprob *float64
			}
		}
	}
	_, body = post(t, ts.URL+"/generate", map[string]any{"inputs": "Once upon", "parameters": map[string]any{"max_new_tokens": 1, "details": true, "decoder_input_details": true}})
	var oai struct {
		Choices []struct {
			Logprobs struct {
				TokenLogprobs []*float64 `json:"token_logprobs"`
			}
		}
	}
	_, ob := post(t, ts.URL+"/v1/completions", map[string]any{"model": "tiny", "prompt": "Once upon", "max_tokens": 0, "echo": true, "logprobs": 0})
	if json.Unmarshal(body, &pd) != nil || json.Unmarshal(ob, &oai) != nil || len(pd.Details.Prefill) != 9 || pd.Details.Prefill[0].Logprob != nil ||
		pd.Details.Prefill[8].Logprob == nil || *pd.Details.Prefill[8].Logprob != *oai.Choices[0].Logprobs.TokenLogprobs[8] {
		t.Errorf("decoder_input_details: %s\nOpenAI's echo: %s", body, ob)
	}
	for _, params := range []map[string]any{
		{"temperature": -1, "do_sample": true}, {"top_p": 7}, {"top_k": 0}, {"repetition_penalty": 1.2}, {"best_of": 2},
	} {
		res, body := post(t, ts.URL+"/generate", map[string]any{"inputs": "Once", "parameters": params})
		if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(body), `"error_type":"validation"`) {
			t.Errorf("%v: %d %s", params, res.StatusCode, body)
		}
	}
	for _, path := range []string{"/info", "/ping"} {
		r, err := http.Get(ts.URL + path)
		if err != nil || r.StatusCode != 200 {
			t.Errorf("GET %s: %v %v", path, r, err)
		}
		r.Body.Close()
	}
}

// TestEchoLogprobs: echo with logprobs scores the prompt as OpenAI does
// (lm-eval's local-completions reads token_logprobs[ctxlen:] this way):
// every prompt token after the first gets its log-probability after the
// ones before it — here against the model decoding each prefix alone —
// the first null, text offsets from 0; max_tokens 0 scores the prompt only,
// max_tokens 1 appends the new token; a stream's echo chunk carries them.
func TestEchoLogprobs(t *testing.T) {
	ts, m, tok := testServer(t, 2)
	prompt := tok.Encode("Once upon a time there").IDs
	want := make([]float64, len(prompt)) // want[i]: log p(prompt[i] | prompt[:i])
	for i := 1; i < len(prompt); i++ {
		c := m.NewCache(1, len(prompt))
		logits, err := m.Decode(c, prompt[:i], nil)
		if err != nil {
			t.Fatal(err)
		}
		row := make([]float32, m.Cfg.Vocab)
		m.Dev.Read(row, logits)
		top, sum := math.Inf(-1), 0.0
		for _, v := range row {
			top = max(top, float64(v))
		}
		for _, v := range row {
			sum += math.Exp(float64(v) - top)
		}
		want[i] = float64(row[prompt[i]]) - top - math.Log(sum)
	}
	type lps struct {
		Tokens        []string
		TokenLogprobs []*float64       `json:"token_logprobs"`
		TopLogprobs   []map[string]any `json:"top_logprobs"`
		TextOffset    []int            `json:"text_offset"`
	}
	for _, maxTokens := range []int{0, 1} {
		res, body := post(t, ts.URL+"/v1/completions", map[string]any{"model": "tiny", "prompt": prompt, "max_tokens": maxTokens,
			"echo": true, "logprobs": 1, "temperature": 0})
		var c struct {
			Choices []struct {
				Text     string
				Logprobs lps
			}
			Usage map[string]int
		}
		if res.StatusCode != 200 || json.Unmarshal(body, &c) != nil {
			t.Fatalf("max_tokens %d: %d %s", maxTokens, res.StatusCode, body)
		}
		lp := c.Choices[0].Logprobs
		if len(lp.TokenLogprobs) != len(prompt)+maxTokens || lp.TokenLogprobs[0] != nil || lp.TopLogprobs[0] != nil ||
			lp.TextOffset[0] != 0 || lp.TextOffset[len(prompt)-1] != len(tok.Decode(prompt[:len(prompt)-1], false)) ||
			!strings.HasPrefix(c.Choices[0].Text, "Once upon a time there") || c.Usage["completion_tokens"] != maxTokens {
			t.Fatalf("max_tokens %d: %s", maxTokens, body)
		}
		for i := 1; i < len(prompt); i++ {
			if g := lp.TokenLogprobs[i]; g == nil || math.Abs(*g-want[i]) > 1e-4 || len(lp.TopLogprobs[i]) != 1 {
				t.Errorf("max_tokens %d: prompt token %d's logprob %v top %v, decoding alone %v", maxTokens, i, g, lp.TopLogprobs[i], want[i])
			}
		}
	}
	// Offsets count characters, as a Python string indexes the text.
	res, body := post(t, ts.URL+"/v1/completions", map[string]any{"model": "tiny", "prompt": "café au lait", "max_tokens": 0, "echo": true, "logprobs": 0})
	var cafe struct{ Choices []struct{ Logprobs lps } }
	if json.Unmarshal(body, &cafe) != nil || res.StatusCode != 200 || cafe.Choices[0].Logprobs.TextOffset[len(cafe.Choices[0].Logprobs.TextOffset)-1] != 11 {
		t.Errorf("café au lait's offsets (the last token's at 11): %s", body)
	}
	b, _ := json.Marshal(map[string]any{"model": "tiny", "prompt": prompt, "max_tokens": 2, "echo": true, "logprobs": 0, "temperature": 0, "stream": true})
	sres, err := http.Post(ts.URL+"/v1/completions", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer sres.Body.Close()
	sc := bufio.NewScanner(sres.Body)
	sc.Scan()
	var first struct {
		Choices []struct {
			Text     string
			Logprobs lps
		}
	}
	if line, _ := strings.CutPrefix(sc.Text(), "data: "); json.Unmarshal([]byte(line), &first) != nil || len(first.Choices) != 1 ||
		first.Choices[0].Text != "Once upon a time there" || len(first.Choices[0].Logprobs.TokenLogprobs) != len(prompt) ||
		math.Abs(*first.Choices[0].Logprobs.TokenLogprobs[3]-want[3]) > 1e-4 {
		t.Errorf("the stream's echo chunk: %s", sc.Text())
	}
}

// TestTGIEOS: a generation the EOS token ends counts it, as TGI does:
// generated_tokens includes it, details' tokens end with it (special, no
// text), and the stream's last event carries it with the text.
func TestTGIEOS(t *testing.T) {
	_, m, tok := testServer(t, 2)
	greedy := alone(t, m, tok, "Once upon a time", 6)
	eos := greedy[3]
	if slices.Contains(greedy[:3], eos) {
		t.Skipf("the greedy tokens %v repeat their fourth before it", greedy)
	}
	e := newEngine(t, m, tok, 2)
	e.EOS = eos // the model's fourth token ends the generation
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go e.Run(ctx)
	ts := httptest.NewServer(Handler(e, "tiny"))
	defer ts.Close()
	want := tok.Decode(greedy[:3], true)
	var g struct {
		GeneratedText string `json:"generated_text"`
		Details       struct {
			FinishReason    string `json:"finish_reason"`
			GeneratedTokens int    `json:"generated_tokens"`
			Tokens          []struct {
				ID      int32
				Special bool
			}
		}
	}
	res, body := post(t, ts.URL+"/generate", map[string]any{"inputs": "Once upon a time", "parameters": map[string]any{"max_new_tokens": 6, "details": true}})
	if res.StatusCode != 200 || json.Unmarshal(body, &g) != nil || g.GeneratedText != want || g.Details.FinishReason != "eos_token" ||
		g.Details.GeneratedTokens != 4 || len(g.Details.Tokens) != 4 || g.Details.Tokens[3].ID != eos || !g.Details.Tokens[3].Special {
		t.Errorf("ended by EOS %d (want %q): %s", eos, want, body)
	}
	res, body = post(t, ts.URL+"/generate_stream", map[string]any{"inputs": "Once upon a time", "parameters": map[string]any{"max_new_tokens": 6, "details": true}})
	lines := strings.Split(strings.TrimSpace(string(body)), "\n\n")
	if res.StatusCode != 200 || len(lines) != 4 || !strings.Contains(lines[3], fmt.Sprintf(`"id":%d`, eos)) ||
		!strings.Contains(lines[3], `"special":true`) || !strings.Contains(lines[3], `"generated_tokens":4`) || strings.Contains(lines[2], "generated_tokens") {
		t.Errorf("stream ended by EOS %d: %s", eos, body)
	}
}

// TestOverloaded: past MaxRequests queued and running, Start answers
// ErrOverloaded at once and the HTTP routes 429 with Retry-After (OpenAI's
// error body, TGI's "overloaded") instead of holding the client; once the
// engine runs them down, requests are taken again.
func TestOverloaded(t *testing.T) {
	_, m, tok := testServer(t, 2)
	e := newEngine(t, m, tok, 2)
	e.MaxRequests = 2
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var held []*Pending
	for range 2 { // queued, the engine not yet running
		p, err := e.Start(ctx, Request{Prompt: tok.Encode("Hello").IDs, MaxTokens: 3})
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, p)
	}
	if _, err := e.Start(ctx, Request{Prompt: tok.Encode("Hi").IDs, MaxTokens: 3}); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("a third request: %v, want ErrOverloaded", err)
	}
	ts := httptest.NewServer(Handler(e, "tiny"))
	defer ts.Close()
	res, body := post(t, ts.URL+"/v1/completions", map[string]any{"model": "tiny", "prompt": "x", "max_tokens": 2})
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" || !strings.Contains(string(body), `"error"`) {
		t.Errorf("OpenAI route while full: %d %q %s", res.StatusCode, res.Header.Get("Retry-After"), body)
	}
	res, body = post(t, ts.URL+"/generate", map[string]any{"inputs": "x", "parameters": map[string]any{"max_new_tokens": 2}})
	if res.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(body), `"error_type":"overloaded"`) {
		t.Errorf("TGI route while full: %d %s", res.StatusCode, body)
	}
	go e.Run(ctx)
	for _, p := range held {
		if _, err := p.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if res, body := post(t, ts.URL+"/v1/completions", map[string]any{"model": "tiny", "prompt": "x", "max_tokens": 2}); res.StatusCode != 200 {
		t.Errorf("after the queue ran down: %d %s", res.StatusCode, body)
	}
}
