package tokenizer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// tokenizerFile is the top level of a Hugging Face tokenizer.json. Truncation
// and padding are read but not applied.
type tokenizerFile struct {
	Version       *string         `json:"version"`
	AddedTokens   []addedToken    `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
	Model         json.RawMessage `json:"model"`
}

// component is the part every pipeline component shares: its type and,
// for Sequence, its members under one of these keys.
type component struct {
	Type          string            `json:"type"`
	PreTokenizers []json.RawMessage `json:"pretokenizers"`
	Normalizers   []json.RawMessage `json:"normalizers"`
	Processors    []json.RawMessage `json:"processors"`
	Decoders      []json.RawMessage `json:"decoders"`

	// ByteLevel
	AddPrefixSpace *bool `json:"add_prefix_space"`
	TrimOffsets    *bool `json:"trim_offsets"`
	UseRegex       *bool `json:"use_regex"`

	// Split
	Pattern  map[string]string `json:"pattern"`
	Behavior string            `json:"behavior"`
	Invert   bool              `json:"invert"`

	// Roberta and Bert processing
	Sep []json.RawMessage `json:"sep"`
	Cls []json.RawMessage `json:"cls"`

	// TemplateProcessing
	Single        []map[string]templateRef `json:"single"`
	SpecialTokens map[string]templateSpec  `json:"special_tokens"`
}

type templateRef struct {
	ID string `json:"id"`
}

type templateSpec struct {
	IDs    []int32  `json:"ids"`
	Tokens []string `json:"tokens"`
}

// isNull reports whether a JSON value is absent or null.
func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

func parseComponent(raw json.RawMessage, what string) (component, error) {
	var c component
	if err := json.Unmarshal(raw, &c); err != nil {
		return c, fmt.Errorf("%s: %v", what, err)
	}
	return c, nil
}

func boolOr(p *bool, def bool) bool {
	if p == nil {
		return def
	}
	return *p
}

// unsupported is the error for a component this package does not implement.
func unsupported(what, typ string, have string) error {
	if typ == "" {
		typ = "(no type)"
	}
	return fmt.Errorf("%s %s is not supported (supported: %s)", what, typ, have)
}

// parseNormalizer builds the normalizer, or nil for none.
func parseNormalizer(raw json.RawMessage) (normalizer, error) {
	if isNull(raw) {
		return nil, nil
	}
	c, err := parseComponent(raw, "normalizer")
	if err != nil {
		return nil, err
	}
	switch c.Type {
	case "Lowercase":
		return lowercaseNorm{}, nil
	case "Sequence":
		var seq sequenceNorm
		for _, m := range c.Normalizers {
			n, err := parseNormalizer(m)
			if err != nil {
				return nil, err
			}
			if n != nil {
				seq = append(seq, n)
			}
		}
		return seq, nil
	}
	return nil, unsupported("normalizer", c.Type, "Lowercase, Sequence")
}

// preTokenizers flattens the pre-tokenizer into a list; byteLevel reports
// whether ByteLevel is in it (it must come last).
func parsePreTokenizer(raw json.RawMessage) (list []preTokenizer, byteLevel bool, err error) {
	if isNull(raw) {
		return nil, false, nil
	}
	c, err := parseComponent(raw, "pre_tokenizer")
	if err != nil {
		return nil, false, err
	}
	switch c.Type {
	case "Sequence":
		for _, m := range c.PreTokenizers {
			sub, bl, err := parsePreTokenizer(m)
			if err != nil {
				return nil, false, err
			}
			if byteLevel && len(sub) > 0 {
				return nil, false, fmt.Errorf("pre_tokenizer: nothing may follow ByteLevel in a Sequence")
			}
			list, byteLevel = append(list, sub...), bl
		}
		return list, byteLevel, nil
	case "ByteLevel":
		return []preTokenizer{&byteLevelPre{addPrefixSpace: boolOr(c.AddPrefixSpace, true), useRegex: boolOr(c.UseRegex, true)}}, true, nil
	case "Split":
		sp, err := parseSplit(c)
		if err != nil {
			return nil, false, err
		}
		return []preTokenizer{sp}, false, nil
	}
	return nil, false, unsupported("pre_tokenizer", c.Type, "ByteLevel, Split, Sequence")
}

func parseSplit(c component) (*splitPre, error) {
	b, ok := splitBehaviors[c.Behavior]
	if !ok {
		return nil, fmt.Errorf("pre_tokenizer Split: unknown behavior %q (want Removed, Isolated, MergedWithPrevious, MergedWithNext or Contiguous)", c.Behavior)
	}
	sp := &splitPre{behavior: b, invert: c.Invert}
	if s, ok := c.Pattern["String"]; ok && len(c.Pattern) == 1 {
		sp.m = literalMatcher(s)
		return sp, nil
	}
	re, ok := c.Pattern["Regex"]
	if !ok || len(c.Pattern) != 1 {
		return nil, fmt.Errorf(`pre_tokenizer Split: pattern must be {"String": ...} or {"Regex": ...}`)
	}
	m, err := newMatcher(re)
	if err != nil {
		return nil, fmt.Errorf("pre_tokenizer Split: %v", err)
	}
	sp.m = m
	return sp, nil
}

// parseDecoder builds the decoder, or nil for none (tokens joined by spaces).
func parseDecoder(raw json.RawMessage) (decoder, error) {
	if isNull(raw) {
		return nil, nil
	}
	c, err := parseComponent(raw, "decoder")
	if err != nil {
		return nil, err
	}
	switch c.Type {
	case "ByteLevel":
		return byteLevelDecoder{}, nil
	case "Sequence":
		var seq sequenceDecoder
		for _, m := range c.Decoders {
			d, err := parseDecoder(m)
			if err != nil {
				return nil, err
			}
			if d != nil {
				seq = append(seq, d)
			}
		}
		return seq, nil
	}
	return nil, unsupported("decoder", c.Type, "ByteLevel, Sequence")
}

// parsePostProcessor builds the post-processor, or nil for none.
func parsePostProcessor(raw json.RawMessage) (postProcessor, error) {
	if isNull(raw) {
		return nil, nil
	}
	c, err := parseComponent(raw, "post_processor")
	if err != nil {
		return nil, err
	}
	switch c.Type {
	case "ByteLevel":
		return byteLevelPost{trimOffsets: boolOr(c.TrimOffsets, true), addPrefixSpace: boolOr(c.AddPrefixSpace, true)}, nil
	case "RobertaProcessing", "BertProcessing":
		return parsePairProcessing(c)
	case "TemplateProcessing":
		return parseTemplate(c)
	case "Sequence":
		var seq sequencePost
		for _, m := range c.Processors {
			p, err := parsePostProcessor(m)
			if err != nil {
				return nil, err
			}
			if p != nil {
				seq = append(seq, p)
			}
		}
		return seq, nil
	}
	return nil, unsupported("post_processor", c.Type, "ByteLevel, TemplateProcessing, RobertaProcessing, BertProcessing, Sequence")
}

func parsePairProcessing(c component) (postProcessor, error) {
	sep, err1 := parseSpecialRef(c.Sep)
	cls, err2 := parseSpecialRef(c.Cls)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf(`post_processor %s: sep and cls must be ["token", id]`, c.Type)
	}
	if c.Type == "BertProcessing" {
		return bertPost{sep: sep, cls: cls}, nil
	}
	return robertaPost{sep: sep, cls: cls, trimOffsets: boolOr(c.TrimOffsets, true), addPrefixSpace: boolOr(c.AddPrefixSpace, true)}, nil
}

func parseSpecialRef(raw []json.RawMessage) (specialRef, error) {
	var s specialRef
	if len(raw) != 2 {
		return s, fmt.Errorf("want 2 elements")
	}
	if err := json.Unmarshal(raw[0], &s.token); err != nil {
		return s, err
	}
	return s, json.Unmarshal(raw[1], &s.id)
}

func parseTemplate(c component) (postProcessor, error) {
	var t templatePost
	seen := false
	for _, p := range c.Single {
		if seq, ok := p["Sequence"]; ok {
			if seq.ID != "A" || seen {
				return nil, fmt.Errorf("post_processor TemplateProcessing: the single template must hold $A once, found %q", seq.ID)
			}
			seen = true
			continue
		}
		ref, ok := p["SpecialToken"]
		spec, found := c.SpecialTokens[ref.ID]
		if !ok || !found || len(spec.IDs) != len(spec.Tokens) {
			return nil, fmt.Errorf("post_processor TemplateProcessing: special token %q is missing or malformed in special_tokens", ref.ID)
		}
		for i := range spec.IDs {
			r := specialRef{token: spec.Tokens[i], id: spec.IDs[i]}
			if seen {
				t.after = append(t.after, r)
			} else {
				t.before = append(t.before, r)
			}
		}
	}
	if !seen {
		return nil, fmt.Errorf("post_processor TemplateProcessing: the single template has no $A")
	}
	return t, nil
}

// parseMerges reads merges as "a b" strings or ["a", "b"] pairs.
func parseMerges(raw json.RawMessage) ([][2]string, error) {
	var lists [][]string
	if err := json.Unmarshal(raw, &lists); err == nil {
		pairs := make([][2]string, len(lists))
		for i, l := range lists {
			if len(l) != 2 {
				return nil, fmt.Errorf("model.merges: merge %d has %d elements, want 2", i+1, len(l))
			}
			pairs[i] = [2]string{l[0], l[1]}
		}
		return pairs, nil
	}
	var lines []string
	if err := json.Unmarshal(raw, &lines); err != nil {
		return nil, fmt.Errorf(`model.merges: want a list of "a b" strings or of ["a", "b"] pairs`)
	}
	pairs := make([][2]string, 0, len(lines))
	for _, l := range lines {
		if strings.HasPrefix(l, "#version") {
			continue
		}
		parts := strings.Split(l, " ")
		if len(parts) != 2 {
			return nil, fmt.Errorf("model.merges: merge %d (%q) is not two tokens separated by one space", len(pairs)+1, l)
		}
		pairs = append(pairs, [2]string{parts[0], parts[1]})
	}
	return pairs, nil
}
