package api

import (
	"errors"
	"strings"
	"testing"
)

func TestDecodeSubmitJob(t *testing.T) {
	good := []string{
		`{"name":"pretrain"}`,
		`{"name":"x","spec":{"tp":2}}`,
		` {"name":"x","spec":null} `,
	}
	for _, s := range good {
		if _, err := DecodeSubmitJob(strings.NewReader(s)); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	bad := []string{
		``, `{`, `[]`, `{"name":""}`, `{"name":"x","extra":1}`, `{"name":"x"}{}`,
		`{"name":"x","spec":[1]}`, `{"name":"x","spec":"s"}`, `{"name":1}`,
		`{"name":"` + strings.Repeat("a", 300) + `"}`,
		`{"name":"x","spec":{"a":"` + strings.Repeat("a", MaxRequestBody) + `"}}`,
	}
	for _, s := range bad {
		if _, err := DecodeSubmitJob(strings.NewReader(s)); !errors.Is(err, ErrBadRequest) {
			t.Errorf("%.60s: %v, want ErrBadRequest", s, err)
		}
	}
}

// FuzzDecodeSubmitJob: no panic, and what is accepted satisfies the checks.
func FuzzDecodeSubmitJob(f *testing.F) {
	f.Add([]byte(`{"name":"x","spec":{"tp":2}}`))
	f.Add([]byte(`{"name":"\u00e9"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := DecodeSubmitJob(strings.NewReader(string(b)))
		if err != nil {
			return
		}
		if req.Name == "" || len(req.Name) > 256 {
			t.Fatalf("accepted name %q", req.Name)
		}
	})
}

func TestNewClientRejects(t *testing.T) {
	if _, err := NewClient("", nil, ""); err == nil {
		t.Error("empty address accepted")
	}
	if _, err := NewClient("http://x:1", nil, ""); err == nil {
		t.Error("no TLS accepted")
	}
}
