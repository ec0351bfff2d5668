package preprocess

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// badUTF8Line is the 1-based line of the first invalid UTF-8 in b.
func badUTF8Line(b []byte) int {
	line := 1
	for len(b) > 0 {
		c, n := utf8.DecodeRune(b)
		if c == utf8.RuneError && n <= 1 {
			return line
		}
		if c == '\n' {
			line++
		}
		b = b[n:]
	}
	return line
}

// jsonObject decodes one JSON object and returns the strings of keys.
func jsonObject(b []byte, keys []string) ([]string, error) {
	if !utf8.Valid(b) {
		return nil, errors.New("invalid UTF-8")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil {
		return nil, fmt.Errorf("invalid JSON: %v", err)
	}
	fields := make([]string, len(keys))
	for i, k := range keys {
		raw, ok := obj[k]
		if !ok {
			return nil, fmt.Errorf("no key %q (check --json-keys)", k)
		}
		s, ok := jsonString(raw)
		if !ok {
			return nil, fmt.Errorf("key %q is not a string", k)
		}
		fields[i] = s
	}
	return fields, nil
}

// jsonString decodes a JSON string value that json.Unmarshal has already
// validated, as encoding/json would (lone surrogates become U+FFFD) but in
// one pass; ok is false for any other kind of value.
func jsonString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	raw = raw[1 : len(raw)-1]
	i := bytes.IndexByte(raw, '\\')
	if i < 0 {
		return string(raw), true
	}
	out := make([]byte, 0, len(raw))
	for i >= 0 {
		out = append(out, raw[:i]...)
		var n int
		out, n = unescape(out, raw[i:])
		raw = raw[i+n:]
		i = bytes.IndexByte(raw, '\\')
	}
	return string(append(out, raw...)), true
}

// unescape appends the character of the escape at the start of b and
// returns how many bytes it took.
func unescape(out, b []byte) ([]byte, int) {
	if len(b) < 2 {
		return append(out, b...), len(b)
	}
	switch c := b[1]; c {
	case 'b':
		return append(out, '\b'), 2
	case 'f':
		return append(out, '\f'), 2
	case 'n':
		return append(out, '\n'), 2
	case 'r':
		return append(out, '\r'), 2
	case 't':
		return append(out, '\t'), 2
	case 'u':
		r := hex4(b[2:])
		if utf16.IsSurrogate(r) {
			if len(b) >= 12 && b[6] == '\\' && b[7] == 'u' {
				if pair := utf16.DecodeRune(r, hex4(b[8:])); pair != utf8.RuneError {
					return utf8.AppendRune(out, pair), 12
				}
			}
			r = utf8.RuneError
		}
		return utf8.AppendRune(out, r), 6
	default: // " \ /
		return append(out, c), 2
	}
}

// hex4 parses four hex digits (already validated), or −1.
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}
