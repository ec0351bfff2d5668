// Package serve answers completion requests with a BLOOM model over HTTP:
// OpenAI's completions API (POST /v1/completions with text or token-id
// prompts, max_tokens, temperature, top_p, stop, seed, logprobs, echo, n,
// and stream as server-sent events ending in "data: [DONE]"; GET
// /v1/models), Text Generation Inference's POST /generate and
// /generate_stream (top_k, details with the tokens and, with
// decoder_input_details, the prompt's scored in the prefill, return_full_text; the
// stream's last event carries the last token with the text) and its
// compatibility routes POST / and /invocations, GET /info, GET /health
// (and /ping), and Prometheus metrics at GET /metrics (queue depth,
// running requests, tokens, abandoned requests, time to first token and
// inter-token latency histograms). Errors are OpenAI's bodies (TGI's on
// its routes) with their status codes; settings the server cannot honour
// (penalties, best_of, logit_bias, suffix; TGI's repetition_penalty and
// the like) are refused unless neutral, never ignored. A sampled request
// without a seed draws a fresh one. Echo with logprobs scores the prompt
// (each token's log-probability after the ones before it, the first
// null, as OpenAI gives them; max_tokens 0 scores only): a Decoder that is
// a Scorer does it, trainer.Batcher on every layout. A stream never sends text that a stop
// string then removes (an end that may begin one is held back), and a
// client that goes away frees its row at the next token. Past
// Engine.MaxRequests queued and running (1024) a request is answered 429
// with Retry-After at once.
//
// The Engine batches continuously: requests join the running batch and
// leave it at token boundaries, each with its own sampler, stop strings and
// length, and each gets the tokens it gets alone (Engine.Run says how). It
// drives the model through a Decoder: trainer.Batcher is one, for the
// whole model in one process or for rank 0 of a tensor- and
// pipeline-parallel serve job, whose other ranks follow it.
//
//	d, err := trainer.LocalBatcher(m, trainer.BatchShape{Rows: 8, Positions: 2048})
//	e := &serve.Engine{Decoder: d, Tok: tok, Pad: 3, EOS: 2}
//	err = serve.Serve(ctx, e, "bloom-560m", "127.0.0.1:8000")
//
// Imports: trainer/bloom and trainer/tokenizer; nothing of the cluster.
package serve
