package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	ucli "github.com/urfave/cli/v2"

	"bloom/trainer/tokenizer"
)

// tokenizerFlag is --tokenizer of the commands that read text (loadTokenizer).
var tokenizerFlag = &ucli.StringFlag{Name: "tokenizer", Usage: "Hugging Face tokenizer.json `FILE`, or a directory holding one", EnvVars: []string{"BLOOM_TOKENIZER"}}

func tokenizeCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "tokenize",
		Usage:     "encode or decode text with a Hugging Face tokenizer.json (BPE)",
		UsageText: "bloomctl tokenize --tokenizer FILE|DIR [--decode] < lines",
		Description: `Reads standard input one JSON value per line and writes one JSON object per line.

Encoding (default): each line is a JSON string; the answer is {"ids":[...],"tokens":[...]},
with the post-processor's special tokens unless --no-special-tokens.
  echo '"Hello world"' | bloomctl tokenize --tokenizer bloom/tokenizer.json

Decoding (--decode): each line is {"ids":[...]}; the answer is {"text":"..."},
special tokens skipped with --skip-special-tokens.
  echo '{"ids":[59414,8876]}' | bloomctl tokenize --tokenizer bloom --decode

A line that is not what the mode expects stops the command with its line number.`,
		Flags: []ucli.Flag{
			tokenizerFlag,
			&ucli.BoolFlag{Name: "decode", Usage: `decode {"ids":[...]} lines instead of encoding strings`},
			&ucli.BoolFlag{Name: "no-special-tokens", Usage: "encode without the special tokens the post-processor adds"},
			&ucli.BoolFlag{Name: "skip-special-tokens", Usage: "leave special tokens out of decoded text"},
		},
		Action: func(c *ucli.Context) error {
			tok, err := loadTokenizer(c)
			if err != nil {
				return err
			}
			if tok == nil {
				return errors.New("--tokenizer is required: a tokenizer.json file or a directory that holds one")
			}
			line := encodeLine(tok, tokenizer.EncodeOptions{NoSpecialTokens: c.Bool("no-special-tokens")})
			if c.Bool("decode") {
				line = decodeLine(tok, c.Bool("skip-special-tokens"))
			}
			return eachLine(c.App.Reader, c.App.Writer, line)
		},
	}
}

// loadTokenizer opens --tokenizer, or returns nil when it is not set.
func loadTokenizer(c *ucli.Context) (*tokenizer.Tokenizer, error) {
	path := c.String("tokenizer")
	if path == "" {
		return nil, nil
	}
	return tokenizer.Load(path)
}

// modelTokenizerFlag opens --tokenizer, or else the tokenizer.json of the
// --model directory; a model without one needs the flag.
func modelTokenizerFlag(c *ucli.Context) (*tokenizer.Tokenizer, error) {
	path := c.String("tokenizer")
	if path == "" && c.String("model") == "" {
		return nil, errNoModel
	}
	if path == "" {
		path = filepath.Join(c.String("model"), "tokenizer.json")
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("--tokenizer FILE is required: %s has no tokenizer.json", c.String("model"))
		}
	}
	return tokenizer.Load(path)
}

// encodeLine turns a JSON string into {"ids":[...],"tokens":[...]}.
func encodeLine(tok *tokenizer.Tokenizer, opt tokenizer.EncodeOptions) func([]byte) (any, error) {
	return func(b []byte) (any, error) {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return nil, fmt.Errorf(`want a JSON string such as "Hello world": %v`, err)
		}
		e := tok.EncodeWith(s, opt)
		return struct {
			IDs    []int32  `json:"ids"`
			Tokens []string `json:"tokens"`
		}{nonNil(e.IDs), nonNil(e.Tokens)}, nil
	}
}

// decodeLine turns {"ids":[...]} into {"text":"..."}.
func decodeLine(tok *tokenizer.Tokenizer, skipSpecial bool) func([]byte) (any, error) {
	return func(b []byte) (any, error) {
		var in struct {
			IDs *[]int32 `json:"ids"`
		}
		if err := json.Unmarshal(b, &in); err != nil || in.IDs == nil {
			var ute *json.UnmarshalTypeError
			switch {
			case err == nil:
				err = errors.New(`no "ids" key`)
			case errors.As(err, &ute) && ute.Field == "":
				err = fmt.Errorf("got a JSON %s", ute.Value)
			case errors.As(err, &ute):
				err = fmt.Errorf("%q holds a JSON %s, not token ids", ute.Field, ute.Value)
			}
			return nil, fmt.Errorf(`want an object such as {"ids":[5,17,42]}: %v`, err)
		}
		return struct {
			Text string `json:"text"`
		}{tok.Decode(*in.IDs, skipSpecial)}, nil
	}
}

// nonNil is s, or an empty slice for nil, so that JSON prints [] not null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// eachLine runs f on every line of r and writes its answers to w as JSON
// lines, flushing whenever the input has nothing more buffered.
func eachLine(r io.Reader, w io.Writer, f func([]byte) (any, error)) error {
	br := bufio.NewReaderSize(r, 1<<16)
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for n := 1; ; n++ {
		b, err := br.ReadBytes('\n')
		if len(b) > 0 {
			v, ferr := f(bytes.TrimRight(b, "\r\n"))
			if ferr != nil {
				bw.Flush()
				return fmt.Errorf("line %d: %v", n, ferr)
			}
			if err := enc.Encode(v); err != nil {
				return err
			}
		}
		if err == io.EOF {
			return bw.Flush()
		}
		if err != nil {
			return err
		}
		if br.Buffered() == 0 {
			if err := bw.Flush(); err != nil {
				return err
			}
		}
	}
}

// textIDs returns the ids of --textFlag encoded with --tokenizer, or the
// ids listed in --idsFlag; exactly one of the two must be set. tok is nil
// without --tokenizer.
func textIDs(c *ucli.Context, textFlag, idsFlag string) (ids []int32, tok *tokenizer.Tokenizer, err error) {
	if tok, err = loadTokenizer(c); err != nil {
		return nil, nil, err
	}
	if text := c.String(textFlag); text != "" && tok == nil && c.String("model") != "" {
		// No --tokenizer: the model directory's own, as serve and evaluate use it.
		p := filepath.Join(c.String("model"), "tokenizer.json")
		if _, err := os.Stat(p); err == nil {
			if tok, err = tokenizer.Load(p); err != nil {
				return nil, nil, err
			}
		}
	}
	switch text := c.String(textFlag); {
	case text != "" && c.String(idsFlag) != "":
		return nil, nil, fmt.Errorf("give --%s or --%s, not both", textFlag, idsFlag)
	case text != "" && tok == nil:
		return nil, nil, fmt.Errorf("--%s needs --tokenizer FILE|DIR to encode it (--model has no tokenizer.json)", textFlag)
	case text != "":
		if ids = tok.AppendIDs(nil, text); len(ids) == 0 {
			return nil, nil, fmt.Errorf("--%s encodes to no tokens", textFlag)
		}
		return ids, tok, nil
	case c.String(idsFlag) == "":
		return nil, nil, fmt.Errorf("give --%s TEXT (with --tokenizer) or --%s with comma-separated token ids", textFlag, idsFlag)
	}
	ids, err = parseTokens(idsFlag, c.String(idsFlag))
	return ids, tok, err
}

// generated is what generate prints with --output json.
type generated struct {
	Tokens []int32 `json:"tokens"`
	Text   *string `json:"text,omitempty"`
}

// decodeIDs decodes ids, or is nil without a tokenizer.
func decodeIDs(tok *tokenizer.Tokenizer, ids []int32) *string {
	if tok == nil {
		return nil
	}
	s := tok.Decode(ids, false)
	return &s
}
