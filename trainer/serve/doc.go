// Package serve answers completion requests with a BLOOM model over HTTP:
// OpenAI's completions API (POST /v1/completions with text or token-id
// prompts, max_tokens, temperature, top_p, stop, seed, logprobs, echo, n,
// and stream as server-sent events ending in "data: [DONE]"; GET
// /v1/models), Text Generation Inference's POST /generate and
// /generate_stream, GET /health, and Prometheus metrics at GET /metrics
// (queue depth, running requests, tokens, time to first token and
// inter-token latency histograms). Errors are OpenAI's bodies (TGI's on
// its routes) with their status codes.
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
