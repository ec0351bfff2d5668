package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// ErrTooLarge is a request body over MaxRequestBody (HTTP 413).
var ErrTooLarge = fmt.Errorf("%w: request body too large", ErrBadRequest)

// MaxRequestBody bounds a request body the daemon reads.
const MaxRequestBody = 1 << 20

// ErrBadRequest wraps every decoding failure.
var ErrBadRequest = errors.New("api: bad request")

// DecodeSubmitJob reads and checks a SubmitJobRequest: one JSON object with
// known fields only, a name of 1–256 UTF-8 bytes, and a spec that is a JSON
// object if present. It reads at most MaxRequestBody bytes.
func DecodeSubmitJob(r io.Reader) (SubmitJobRequest, error) {
	var req SubmitJobRequest
	if err := decodeStrict(r, &req); err != nil {
		return req, err
	}
	if req.Name == "" || len(req.Name) > 256 || !utf8.ValidString(req.Name) {
		return req, fmt.Errorf("%w: name must be 1–256 bytes of UTF-8", ErrBadRequest)
	}
	if bytes.Equal(bytes.TrimSpace(req.Spec), []byte("null")) {
		req.Spec = nil
	}
	if s := bytes.TrimSpace(req.Spec); len(s) > 0 && (s[0] != '{' || !json.Valid(s)) {
		return req, fmt.Errorf("%w: spec must be a JSON object", ErrBadRequest)
	}
	return req, nil
}

func decodeStrict(r io.Reader, v any) error {
	b, err := io.ReadAll(io.LimitReader(r, MaxRequestBody+1))
	if err != nil {
		return fmt.Errorf("%w: read body: %v", ErrBadRequest, err)
	}
	if len(b) > MaxRequestBody {
		return fmt.Errorf("%w: body larger than %d bytes", ErrTooLarge, MaxRequestBody)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: trailing data after the JSON object", ErrBadRequest)
	}
	return nil
}
