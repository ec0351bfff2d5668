package jobspec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"bloom/ckpt"
	"bloom/trainer"
)

// MaxJobFile bounds a job file.
const MaxJobFile = 1 << 20

// File is a job as a file or a command line gives it: a name and a spec.
type File struct {
	Name string
	Spec Spec
}

// LoadFile reads a job file: YAML (the subset parseYAMLSubset reads) or
// JSON, with Megatron flag names as keys, plus `name` and `config` (a
// BLOOM config.json, relative to the job file). The spec is validated alone;
// the devices are checked when the job is submitted.
func LoadFile(path string) (File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return File{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	jf, err := ParseFile(b, filepath.Dir(path))
	if err != nil {
		return jf, fmt.Errorf("%s: %w", path, err)
	}
	return jf, nil
}

// ParseFile parses a job file's bytes; a `config` path is read relative
// to dir.
func ParseFile(b []byte, dir string) (File, error) {
	if len(b) > MaxJobFile {
		return File{}, fmt.Errorf("%w: file larger than %d bytes", ErrInvalid, MaxJobFile)
	}
	var entries []yamlEntry
	var err error
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '{' {
		entries, err = jsonEntries(t)
	} else {
		entries, err = parseYAMLSubset(string(b))
	}
	if err != nil {
		return File{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	kind := KindPretrain
	for _, e := range entries {
		if e.key() == "kind" && len(e.Values) == 1 {
			kind = e.Values[0]
		}
	}
	jf := File{Spec: DefaultFor(kind)}
	for _, e := range entries {
		if err := jf.apply(e, dir); err != nil {
			if e.Line > 0 {
				return jf, fmt.Errorf("line %d: %w", e.Line, err)
			}
			return jf, err
		}
	}
	return jf, jf.Spec.Validate()
}

func (jf *File) apply(e yamlEntry, dir string) error {
	key := e.key()
	f, known := lookupField(key)
	one := func() (string, error) {
		if len(e.Values) > 1 || (e.List && len(e.Values) == 1 && !(known && f.List)) {
			return "", fmt.Errorf("%w: %s takes one value, not a list", ErrInvalid, e.Key)
		}
		if len(e.Values) == 0 {
			return "", nil
		}
		return e.Values[0], nil
	}
	switch key {
	case "name":
		v, err := one()
		jf.Name = v
		return err
	case "kind":
		v, err := one()
		jf.Spec.Kind = v
		return err
	case "config":
		v, err := one()
		if err != nil {
			return err
		}
		if v != "" && !filepath.IsAbs(v) {
			v = filepath.Join(dir, v)
		}
		return jf.Spec.SetConfigFile(v)
	}
	if known && !f.List {
		v, err := one()
		if err != nil {
			return err
		}
		return jf.Spec.Set(e.Key, v)
	}
	return jf.Spec.Set(e.Key, e.Values...)
}

// SetConfigFile takes the model shape from a BLOOM config.json (the seed's
// --config), replacing any preset.
func (s *Spec) SetConfigFile(path string) error {
	c, err := ckpt.ReadBloomConfig(path)
	if err != nil {
		return fmt.Errorf("%w: config: %v", ErrInvalid, err)
	}
	shape := trainer.ConfigFromHF(c)
	s.Model = &shape
	return nil
}

// jsonEntries turns a JSON object into entries: numbers and strings as
// text, arrays as lists; nested objects are refused.
func jsonEntries(b []byte) ([]yamlEntry, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("not a JSON object: %v", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("trailing data after the JSON object")
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []yamlEntry
	for _, k := range keys {
		e := yamlEntry{Key: k}
		switch v := m[k].(type) {
		case []any:
			e.List, e.Values = true, []string{}
			for _, x := range v {
				s, err := jsonScalar(k, x)
				if err != nil {
					return nil, err
				}
				e.Values = append(e.Values, s)
			}
		default:
			s, err := jsonScalar(k, v)
			if err != nil {
				return nil, err
			}
			e.Values = []string{s}
		}
		out = append(out, e)
	}
	return out, nil
}

func jsonScalar(key string, v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case json.Number:
		return x.String(), nil
	case bool:
		return fmt.Sprint(x), nil
	case nil:
		return "", nil
	}
	return "", fmt.Errorf("%s: want a number, a string or a list of them", key)
}
