package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	ucli "github.com/urfave/cli/v2"

	"bloom/trainer"
	"bloom/trainer/serve"
	"bloom/trainer/tokenizer"
)

func benchServeCommand() *ucli.Command {
	flags := append([]ucli.Flag{
		&ucli.StringFlag{Name: "streams", Value: "1,4,16,64", Usage: "concurrent clients, one row each"},
		&ucli.IntFlag{Name: "requests", Value: 3, Usage: "streamed completions each client sends, one after another"},
		&ucli.IntFlag{Name: "max-tokens", Value: 32, Usage: "tokens per completion"},
		&ucli.IntFlag{Name: "max-batch", Value: 16, Usage: "the engine's batch"},
		&ucli.IntFlag{Name: "kv-cache-tokens", Usage: "positions the key/value cache holds, all requests together (0: max-batch × max-context)"},
		&ucli.IntFlag{Name: "prefill-chunk", Value: 128, Usage: "prompt tokens of joining requests prefilled per step while others decode"},
		kvCacheFlag,
		&ucli.IntFlag{Name: "max-context", Value: 512, Usage: "the engine's KV cache positions: requests join while their tokens fit before it"},
		&ucli.StringFlag{Name: "cpuprofile", Usage: "write a CPU profile of the whole run (server and clients) to this path"},
	}, append(shapeFlags("prompt length in bytes: tokens, to the byte-level tokenizer the server runs with", ""), precisionFlags...)...)
	return &ucli.Command{
		Name:      "serve",
		Usage:     "the completions server under load: aggregate tokens/s, time to first token, inter-token latency, and each level against one stream",
		UsageText: "bloomctl bench serve [--streams 1,4,16,64] [--requests 3] [--max-tokens 32] [--vocab V --hidden C ...]",
		Flags:     flags,
		Action: func(c *ucli.Context) error {
			m, _, shape, err := benchModel(c, 1)
			if err != nil {
				return err
			}
			p, err := precisionOf(c)
			if err != nil {
				return err
			}
			if err := m.SetPrecision(p); err != nil {
				return err
			}
			if path := c.String("cpuprofile"); path != "" {
				stop, err := startCPUProfile(path)
				if err != nil {
					return err
				}
				defer stop()
			}
			tok, err := tokenizer.ByteLevel().Tokenizer()
			if err != nil {
				return err
			}
			kv, err := kvCacheOf(c)
			if err != nil {
				return err
			}
			d, err := trainer.LocalBatcher(m, trainer.BatchShape{Rows: c.Int("max-batch"), Positions: c.Int("max-context"), Capacity: c.Int("kv-cache-tokens"), KV: kv})
			if err != nil {
				return err
			}
			e := &serve.Engine{Decoder: d, Tok: tok, Pad: 3, EOS: -1, Chunk: c.Int("prefill-chunk")}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return err
			}
			// The engine's own token times, exactly: the clients share the
			// cores with it, and one that is not scheduled for a while reads
			// several tokens at once, which its own clock sees as gaps of ~0.
			var rec engineTimes
			e.Stats.Record = rec.add
			ctx, cancel := context.WithCancel(c.Context)
			defer cancel()
			go e.Run(ctx)
			srv := &http.Server{Handler: serve.Handler(e, "bench")}
			go srv.Serve(ln)
			defer srv.Close()
			url := "http://" + ln.Addr().String() + "/v1/completions"
			asJSON, err := outputJSON(c)
			if err != nil {
				return err
			}
			var one *serveResult
			for _, f := range strings.Split(c.String("streams"), ",") {
				n, err := strconv.Atoi(strings.TrimSpace(f))
				if err != nil || n < 1 {
					return fmt.Errorf("--streams %q: want counts such as 1,4,16", c.String("streams"))
				}
				rec.reset()
				r, err := loadServer(url, n, c.Int("requests"), c.Int("max-tokens"), c.Int("seq"))
				if err != nil {
					return err
				}
				r.EngineTTFTp50, r.EngineTTFTp99, r.EngineITLp50, r.EngineITLp99 = rec.quantiles()
				r.Shape, r.Threads = shape[:5], m.Dev.Threads() // vocab hidden heads layers seq
				if n == 1 {
					one = &r
				}
				if asJSON {
					if err := writeJSON(c.App.Writer, r); err != nil {
						return err
					}
					continue
				}
				fmt.Fprintf(c.App.Writer, "serve %d streams: %.0f tokens/s; time to first token p50 %.1f ms p99 %.1f ms; inter-token p50 %.1f ms p99 %.1f ms\n",
					r.Streams, r.TokensPerSec, r.TTFTp50*1e3, r.TTFTp99*1e3, r.ITLp50*1e3, r.ITLp99*1e3)
				fmt.Fprintf(c.App.Writer, "  the engine's token times: first token p50 %.1f ms p99 %.1f ms; inter-token p50 %.2f ms p99 %.1f ms\n",
					r.EngineTTFTp50*1e3, r.EngineTTFTp99*1e3, r.EngineITLp50*1e3, r.EngineITLp99*1e3)
				if one != nil && n > 1 && one.TokensPerSec > 0 && one.EngineITLp50 > 0 {
					fmt.Fprintf(c.App.Writer, "  %d streams against 1: %.2f× the tokens/s; p99 inter-token %.1f ms = %.1f× one stream's p50 (%.2f ms; the engine's times)\n",
						n, r.TokensPerSec/one.TokensPerSec, r.EngineITLp99*1e3, r.EngineITLp99/one.EngineITLp50, one.EngineITLp50*1e3)
				}
			}
			return nil
		},
	}
}

// serveResult is one load level's figures.
type serveResult struct {
	Kind         string  `json:"kind"`
	Streams      int     `json:"streams"`
	Threads      int     `json:"threads"`
	Shape        []int   `json:"shape"`
	TokensPerSec float64 `json:"tokens_per_s"`
	TTFTp50      float64 `json:"ttft_p50_s"`
	TTFTp99      float64 `json:"ttft_p99_s"`
	ITLp50       float64 `json:"itl_p50_s"`
	ITLp99       float64 `json:"itl_p99_s"`
	// The same from the engine's token times (serve.Stats.Record).
	EngineTTFTp50 float64 `json:"engine_ttft_p50_s"`
	EngineTTFTp99 float64 `json:"engine_ttft_p99_s"`
	EngineITLp50  float64 `json:"engine_itl_p50_s"`
	EngineITLp99  float64 `json:"engine_itl_p99_s"`
}

// engineTimes collects the engine's token times of one load level.
type engineTimes struct {
	mu        sync.Mutex
	ttft, itl []float64
}

func (t *engineTimes) add(first bool, seconds float64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if first {
		t.ttft = append(t.ttft, seconds)
	} else {
		t.itl = append(t.itl, seconds)
	}
}

func (t *engineTimes) reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.ttft, t.itl = t.ttft[:0], t.itl[:0]
}

func (t *engineTimes) quantiles() (ttft50, ttft99, itl50, itl99 float64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return quantile(t.ttft, 0.5), quantile(t.ttft, 0.99), quantile(t.itl, 0.5), quantile(t.itl, 0.99)
}

// loadServer runs n clients that each stream requests completions of
// maxTokens from a prompt of prompt bytes, and measures them.
func loadServer(url string, n, requests, maxTokens, prompt int) (serveResult, error) {
	var mu sync.Mutex
	var ttft, itl []float64
	tokens := 0
	errs := make([]error, n)
	start := time.Now()
	var wg sync.WaitGroup
	for k := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range requests {
				body, _ := json.Marshal(map[string]any{"model": "bench", "prompt": strings.Repeat(string(rune('a'+(k+i)%26)), prompt),
					"max_tokens": maxTokens, "temperature": 0, "stream": true})
				t0 := time.Now()
				res, err := http.Post(url, "application/json", bytes.NewReader(body))
				if err != nil {
					errs[k] = err
					return
				}
				var mine, gaps []float64
				last, got := t0, 0
				sc := bufio.NewScanner(res.Body)
				for sc.Scan() {
					line, ok := strings.CutPrefix(sc.Text(), "data: ")
					if !ok || line == "[DONE]" || strings.Contains(line, `"finish_reason":"`) {
						continue
					}
					now := time.Now()
					if got == 0 {
						mine = append(mine, now.Sub(t0).Seconds())
					} else {
						gaps = append(gaps, now.Sub(last).Seconds())
					}
					last, got = now, got+1
				}
				res.Body.Close()
				mu.Lock()
				ttft, itl, tokens = append(ttft, mine...), append(itl, gaps...), tokens+got
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return serveResult{}, err
		}
	}
	sec := time.Since(start).Seconds()
	return serveResult{Kind: "serve", Streams: n, TokensPerSec: float64(tokens) / sec,
		TTFTp50: quantile(ttft, 0.5), TTFTp99: quantile(ttft, 0.99), ITLp50: quantile(itl, 0.5), ITLp99: quantile(itl, 0.99)}, nil
}

// quantile is x's q-quantile (nearest rank); 0 for none.
func quantile(x []float64, q float64) float64 {
	if len(x) == 0 {
		return 0
	}
	s := slices.Clone(x)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}
