package serve

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// TestOfficialClient: OpenAI's own Go client completes, streams, and reads
// the server's errors as API errors with their status codes.
func TestOfficialClient(t *testing.T) {
	ts, m, tok := testServer(t, 4)
	client := openai.NewClient(option.WithBaseURL(ts.URL+"/v1/"), option.WithAPIKey("unused"), option.WithMaxRetries(0))
	ctx := context.Background()
	want := tok.Decode(alone(t, m, tok, "Once upon a time", 8), true)
	params := openai.CompletionNewParams{Model: "tiny", MaxTokens: openai.Int(8), Temperature: openai.Float(0),
		Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("Once upon a time")}}
	c, err := client.Completions.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Choices) != 1 || c.Choices[0].Text != want || c.Choices[0].FinishReason != "length" || c.Usage.CompletionTokens != 8 {
		t.Errorf("completion %+v, want %q", c, want)
	}

	// Streamed, with the usage in a last chunk (stream_options).
	sp := params
	sp.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	stream := client.Completions.NewStreaming(ctx, sp)
	var text strings.Builder
	chunks := 0
	var usage openai.CompletionUsage
	for stream.Next() {
		chunks++
		ch := stream.Current()
		if len(ch.Choices) == 1 {
			text.WriteString(ch.Choices[0].Text)
		}
		if ch.Usage.TotalTokens > 0 {
			usage = ch.Usage
		}
	}
	if err := stream.Err(); err != nil || text.String() != want || chunks < 8 || usage.CompletionTokens != 8 || usage.PromptTokens != 16 {
		t.Errorf("stream: %q in %d chunks, usage %+v, %v; want %q", text.String(), chunks, usage, err, want)
	}

	// Echo with logprobs and no new token: the prompt scored (lm-eval's
	// way to a log-likelihood), the first token's null read as 0. (This
	// client drops top_logprobs whole for the first's null, which the
	// API sends there; TestEchoLogprobs reads them.)
	score := params
	score.MaxTokens, score.Echo, score.Logprobs = openai.Int(0), openai.Bool(true), openai.Int(1)
	c, err = client.Completions.New(ctx, score)
	if err != nil {
		t.Fatal(err)
	}
	if lp := c.Choices[0].Logprobs; c.Choices[0].Text != "Once upon a time" || len(lp.TokenLogprobs) != len(tok.Encode("Once upon a time").IDs) ||
		lp.TokenLogprobs[0] != 0 || !(lp.TokenLogprobs[1] < 0) || !strings.HasPrefix(lp.RawJSON(), `{"tokens":["O","n"`) {
		t.Errorf("echo with logprobs: %+v", c.Choices[0])
	}

	params.Model = "gpt-4"
	_, err = client.Completions.New(ctx, params)
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound || !strings.Contains(apiErr.Message, "does not exist") {
		t.Errorf("unknown model: %v", err)
	}
	params.Model, params.MaxTokens = "tiny", openai.Int(-1)
	if _, err = client.Completions.New(ctx, params); !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest || apiErr.Param != "max_tokens" {
		t.Errorf("negative max_tokens: %v", err)
	}
}
