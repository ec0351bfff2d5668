package jobspec

import (
	"fmt"
	"strconv"
	"strings"
)

// yamlEntry is one top-level key of a job file with its value(s).
type yamlEntry struct {
	Key    string
	Values []string
	List   bool
	Line   int
}

// key is the entry's key as a flag names it: underscores as dashes.
func (e yamlEntry) key() string { return strings.ReplaceAll(e.Key, "_", "-") }

// parseYAMLSubset reads the YAML a job file needs and nothing more: flat
// `key: value` lines, lists as `key: [a, b]` or as `- item` lines under
// `key:`, quoted strings, comments, and a leading `---`. Anything else — a
// nested map, an anchor, a multi-line string — is an error naming the line.
func parseYAMLSubset(src string) ([]yamlEntry, error) {
	var out []yamlEntry
	seen := map[string]int{}
	var open *yamlEntry // a `key:` with no value, collecting `- item` lines
	lines := strings.Split(strings.ReplaceAll(src, "\r\n", "\n"), "\n")
	for i, raw := range lines {
		n := i + 1
		if strings.ContainsRune(raw, '\t') && strings.TrimLeft(raw, " \t") != strings.TrimLeft(raw, " ") {
			return nil, fmt.Errorf("line %d: indent with spaces, not tabs", n)
		}
		line, err := stripComment(raw)
		if err != nil {
			return nil, fmt.Errorf("line %d: %v", n, err)
		}
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || (len(out) == 0 && open == nil && trimmed == "---") {
			continue
		}
		if trimmed == "..." {
			break
		}
		indented := line[0] == ' '
		if item, ok := strings.CutPrefix(trimmed, "- "); ok || trimmed == "-" {
			if open == nil {
				return nil, fmt.Errorf("line %d: a list item with no `key:` above it", n)
			}
			v, err := yamlScalar(strings.TrimSpace(item))
			if err != nil {
				return nil, fmt.Errorf("line %d: %v", n, err)
			}
			open.Values = append(open.Values, v)
			continue
		}
		if indented {
			return nil, fmt.Errorf("line %d: nested maps are not supported: write every setting as a top-level `key: value`", n)
		}
		if open != nil {
			out = append(out, *open)
			open = nil
		}
		e, err := yamlKeyValue(trimmed, n)
		if err != nil {
			return nil, err
		}
		if prev, dup := seen[e.Key]; dup {
			return nil, fmt.Errorf("line %d: %s is already set on line %d", n, e.Key, prev)
		}
		seen[e.Key] = n
		if e.List && e.Values == nil {
			open = &e
			continue
		}
		out = append(out, e)
	}
	if open != nil {
		out = append(out, *open)
	}
	return out, nil
}

func yamlKeyValue(line string, n int) (yamlEntry, error) {
	key, val, ok := strings.Cut(line, ":")
	key = strings.TrimSpace(key)
	if !ok || key == "" || strings.ContainsAny(key, " \"'{}[]&*!|>%@`") {
		return yamlEntry{}, fmt.Errorf("line %d: want `key: value`, got %q", n, line)
	}
	val = strings.TrimSpace(val)
	e := yamlEntry{Key: key, Line: n}
	switch {
	case val == "":
		e.List = true // values follow as `- item` lines (or none: an empty value)
	case val[0] == '[':
		if !strings.HasSuffix(val, "]") {
			return e, fmt.Errorf("line %d: a flow list must end with ] on the same line", n)
		}
		e.List = true
		e.Values = []string{}
		inner := strings.TrimSpace(val[1 : len(val)-1])
		if inner == "" {
			break
		}
		for _, part := range splitFlow(inner) {
			v, err := yamlScalar(strings.TrimSpace(part))
			if err != nil {
				return e, fmt.Errorf("line %d: %v", n, err)
			}
			e.Values = append(e.Values, v)
		}
	default:
		v, err := yamlScalar(val)
		if err != nil {
			return e, fmt.Errorf("line %d: %v", n, err)
		}
		e.Values = []string{v}
	}
	return e, nil
}

// yamlScalar unquotes a plain, 'single' or "double" quoted scalar.
func yamlScalar(s string) (string, error) {
	switch {
	case s == "":
		return "", nil
	case s[0] == '"':
		v, err := strconv.Unquote(s)
		if err != nil {
			return "", fmt.Errorf("bad double-quoted string %s", s)
		}
		return v, nil
	case s[0] == '\'':
		if len(s) < 2 || s[len(s)-1] != '\'' {
			return "", fmt.Errorf("unterminated single-quoted string %s", s)
		}
		return strings.ReplaceAll(s[1:len(s)-1], "''", "'"), nil
	case strings.ContainsAny(s[:1], "{&*!|>%@`"):
		return "", fmt.Errorf("%q: maps, anchors, tags and block strings are not supported; quote the value", s)
	}
	return s, nil
}

// stripComment drops a # comment (at the start or after a space, outside quotes).
func stripComment(line string) (string, error) {
	var quote byte
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0:
			if c == '\\' && quote == '"' {
				i++
			} else if c == quote {
				quote = 0
			}
		case (c == '"' || c == '\'') && (i == 0 || strings.IndexByte(" :[,", line[i-1]) >= 0):
			quote = c
		case c == '#' && (i == 0 || line[i-1] == ' '):
			return strings.TrimRight(line[:i], " "), nil
		}
	}
	if quote != 0 {
		return "", fmt.Errorf("unterminated %c quote", quote)
	}
	return strings.TrimRight(line, " "), nil
}

// splitFlow splits a flow list's inside on commas outside quotes.
func splitFlow(s string) []string {
	var out []string
	var quote byte
	start := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quote != 0:
			if c == '\\' && quote == '"' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == ',':
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}
