package xfer

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"strings"
)

// maxFrame bounds a header or reply frame (they are a few hundred bytes).
const maxFrame = 4 << 10

// request is the header a client sends first on a transfer's stream.
type request struct {
	Op   string `json:"op"`   // "push" or "pull"
	Job  string `json:"job"`  // the job whose checkpoint root holds Rel
	Rel  string `json:"rel"`  // iter_NNNNNNN/<file>, see checkRel
	SHA  string `json:"sha"`  // SHA-256 of the file, hex
	Size int64  `json:"size"` // bytes; -1 on a pull: whatever the peer holds
}

// reply is the server's answer: before a push body (go ahead, or
// Have), after it (the verdict), and before a pull body (Size).
type reply struct {
	Code string `json:"code,omitempty"` // "" for success, else one of the code* below
	Msg  string `json:"msg,omitempty"`
	Have bool   `json:"have,omitempty"` // push: already held; send nothing
	Size int64  `json:"size,omitempty"` // pull: the body's uncompressed bytes
}

// Failure classes, on the wire as reply.Code; errors.Is tells them apart.
var (
	ErrRefused  = errors.New("request refused") // bad request or unknown job: do not retry it
	ErrMissing  = errors.New("file not held")   // pull: try another peer
	ErrMismatch = errors.New("size or SHA-256 mismatch")
	ErrFailed   = errors.New("peer failed") // I/O trouble on the peer
	ErrClosed   = errors.New("xfer: closed")
)

const (
	codeRefused  = "refused"
	codeMissing  = "missing"
	codeMismatch = "mismatch"
	codeFailed   = "failed"
)

var codes = map[string]error{codeRefused: ErrRefused, codeMissing: ErrMissing,
	codeMismatch: ErrMismatch, codeFailed: ErrFailed}

// fault is a failure one side reports to the other: a code and a
// message. It unwraps to the code's sentinel.
type fault struct{ code, msg string }

func faultf(code, format string, args ...any) error {
	return &fault{code: code, msg: fmt.Sprintf(format, args...)}
}

func (f *fault) Error() string { return f.Unwrap().Error() + ": " + f.msg }

func (f *fault) Unwrap() error {
	if err, ok := codes[f.code]; ok {
		return err
	}
	return ErrFailed
}

// replyFor is the reply that reports err (nil: success).
func replyFor(err error) reply {
	var f *fault
	switch {
	case err == nil:
		return reply{}
	case errors.As(err, &f):
		return reply{Code: f.code, Msg: f.msg}
	default:
		return reply{Code: codeFailed, Msg: err.Error()}
	}
}

// err is the reply's failure, nil for success.
func (r reply) err() error {
	if r.Code == "" {
		return nil
	}
	return &fault{code: r.Code, msg: "peer: " + r.Msg}
}

// writeFrame sends v as a 2-byte big-endian length and JSON.
func writeFrame(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if len(b) > maxFrame {
		return faultf(codeRefused, "header of %d bytes, more than %d", len(b), maxFrame)
	}
	buf := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(b)), uint16(len(b)))
	_, err = w.Write(append(buf, b...))
	return err
}

// readFrame reads one frame into v. Bad frames are codeRefused faults;
// stream errors come back as they are.
func readFrame(r io.Reader, v any) error {
	var n [2]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return err
	}
	size := int(binary.BigEndian.Uint16(n[:]))
	if size == 0 || size > maxFrame {
		return faultf(codeRefused, "frame of %d bytes, want 1 to %d", size, maxFrame)
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(r, b); err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return faultf(codeRefused, "bad frame: %v", err)
	}
	return nil
}

// check validates a request; both sides call it. Failures are
// codeRefused faults.
func (q request) check() error {
	if q.Op != "push" && q.Op != "pull" {
		return faultf(codeRefused, "unknown operation %q", q.Op)
	}
	if q.Job == "" || len(q.Job) > 256 || strings.ContainsAny(q.Job, "/\\\x00") {
		return faultf(codeRefused, "bad job ID %q", q.Job)
	}
	if err := checkRel(q.Rel); err != nil {
		return err
	}
	if _, err := parseSHA(q.SHA); err != nil {
		return err
	}
	if q.Size > maxSize || q.Size < 0 && (q.Op != "pull" || q.Size != -1) {
		return faultf(codeRefused, "size %d out of range: want 0 to %d bytes (or -1 on a pull)", q.Size, int64(maxSize))
	}
	return nil
}

var (
	stepDirRE = regexp.MustCompile(`^iter_[0-9]{7,12}$`)
	shardRE   = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,200}\.safetensors$`)
)

// checkRel accepts exactly iter_NNNNNNN/<name>.safetensors and
// iter_NNNNNNN/manifest.json: relative, clean, two elements, '/' separated,
// a conservative alphabet (no "..", no backslashes, no hidden files).
func checkRel(rel string) error {
	bad := func(why string) error {
		return faultf(codeRefused, "rel %q %s: want iter_NNNNNNN/<name>.safetensors or iter_NNNNNNN/manifest.json", rel, why)
	}
	if len(rel) > 256 || path.IsAbs(rel) || path.Clean(rel) != rel {
		return bad("is not a clean relative path")
	}
	dir, file, ok := strings.Cut(rel, "/")
	switch {
	case !ok || strings.Contains(file, "/"):
		return bad("is not two elements")
	case !stepDirRE.MatchString(dir):
		return bad("is not in a step directory")
	case file != "manifest.json" && !shardRE.MatchString(file):
		return bad("names neither a shard nor the manifest")
	}
	return nil
}

// parseSHA decodes a hex SHA-256 (either case).
func parseSHA(s string) ([32]byte, error) {
	var sum [32]byte
	if len(s) != 64 {
		return sum, faultf(codeRefused, "SHA-256 %q is not 64 hex digits", s)
	}
	if _, err := hex.Decode(sum[:], []byte(s)); err != nil {
		return sum, faultf(codeRefused, "SHA-256 %q is not 64 hex digits", s)
	}
	return sum, nil
}
