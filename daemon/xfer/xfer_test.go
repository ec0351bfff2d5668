package xfer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"bloom/daemon/identity"
	"bloom/internal/testutil"
)

// Checkpoint-file transfer over real QUIC on 127.0.0.1, port 0.

const testJob = "job1"

// node is an Endpoint whose only job, testJob, has root as its
// checkpoint root.
type node struct {
	*Endpoint
	root string
}

func startNode(t testing.TB, s identity.Secret, name string) *node {
	t.Helper()
	return startNodeWith(t, s, name, openFile)
}

// startNodeWith reads the files it sends with open.
func startNodeWith(t testing.TB, s identity.Secret, name string, open func(string) (io.ReadCloser, error)) *node {
	t.Helper()
	id, err := identity.New(s, name)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	x, err := listenWith(id, "127.0.0.1:0", func(job string) (string, bool) { return root, job == testJob }, testLogger(), open)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	return &node{x, root}
}

// writeWeights writes n bytes of float32 values shaped like trained
// weights (normal, σ 0.02, so they compress little) to path and returns
// their SHA-256 in hex.
func writeWeights(t testing.TB, path string, n int, seed uint64) string {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := 0; i+4 <= n; i += 4 {
		binary.LittleEndian.PutUint32(b[i:], math.Float32bits(float32(r.NormFloat64()*0.02)))
	}
	return writeFile(t, path, b)
}

func writeFile(t testing.TB, path string, b []byte) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// tempFiles lists the transfer temporaries under dir.
func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	var tmp []string
	err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err == nil && strings.Contains(filepath.Base(p), ".tmp-") {
			tmp = append(tmp, p)
		}
		return err
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return tmp
}

func noFile(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("%s: want no file, stat says %v", path, err)
	}
}

const shardRel = "iter_0000010/mp_rank_00_000.safetensors"

func TestPushThenPull(t *testing.T) {
	checkGoroutines(t)
	a, b, c := startNode(t, testSecret, "a"), startNode(t, testSecret, "b"), startNode(t, testSecret, "c")
	const size = 3<<20 + 12
	src := filepath.Join(a.root, shardRel)
	sha := writeWeights(t, src, size, 1)
	manifest := []byte(`{"step":10,"shards":1}`)
	mSHA := writeFile(t, filepath.Join(a.root, "iter_0000010/manifest.json"), manifest)

	st, err := a.Push(ctx(t), b.Addr(), testJob, shardRel, src, sha, size)
	if err != nil {
		t.Fatal(err)
	}
	if st.Bytes != size || st.Wire <= 0 || st.Skipped || st.Duration <= 0 {
		t.Fatalf("push stats %+v", st)
	}
	t.Logf("pushed %d bytes as %d on the wire in %v", st.Bytes, st.Wire, st.Duration)
	testutil.SameFile(t, src, filepath.Join(b.root, shardRel))
	if _, err := a.Push(ctx(t), b.Addr(), testJob, "iter_0000010/manifest.json", filepath.Join(a.root, "iter_0000010/manifest.json"), mSHA, int64(len(manifest))); err != nil {
		t.Fatal(err)
	}

	dst := filepath.Join(c.root, shardRel)
	st, err = c.Pull(ctx(t), b.Addr(), testJob, shardRel, dst, strings.ToUpper(sha), size)
	if err != nil {
		t.Fatal(err)
	}
	if st.Bytes != size || st.Wire <= 0 {
		t.Fatalf("pull stats %+v", st)
	}
	testutil.SameFile(t, src, dst)
	// The manifest's size is not known ahead: -1 takes the peer's.
	mDst := filepath.Join(c.root, "iter_0000010/manifest.json")
	if st, err = c.Pull(ctx(t), b.Addr(), testJob, "iter_0000010/manifest.json", mDst, mSHA, -1); err != nil || st.Bytes != int64(len(manifest)) {
		t.Fatalf("pull manifest: %+v, %v", st, err)
	}
	testutil.SameFile(t, filepath.Join(a.root, "iter_0000010/manifest.json"), mDst)
	for _, n := range []*node{a, b, c} {
		if tmp := tempFiles(t, n.root); len(tmp) > 0 {
			t.Errorf("temporaries left: %v", tmp)
		}
	}
}

func TestPushSkipsHeldFile(t *testing.T) {
	checkGoroutines(t)
	a, b := startNode(t, testSecret, "a"), startNode(t, testSecret, "b")
	src := filepath.Join(a.root, shardRel)
	sha := writeWeights(t, src, 1<<20, 2)
	if st, err := a.Push(ctx(t), b.Addr(), testJob, shardRel, src, sha, 1<<20); err != nil || st.Skipped {
		t.Fatalf("first push: %+v, %v", st, err)
	}
	st, err := a.Push(ctx(t), b.Addr(), testJob, shardRel, src, sha, 1<<20)
	if err != nil || !st.Skipped || st.Wire != 0 || st.Bytes != 1<<20 {
		t.Fatalf("second push: %+v, %v; want Skipped with 0 wire bytes", st, err)
	}
	// Other content under the same name replaces it.
	sha2 := writeWeights(t, src, 1<<20, 3)
	if st, err := a.Push(ctx(t), b.Addr(), testJob, shardRel, src, sha2, 1<<20); err != nil || st.Skipped {
		t.Fatalf("push of new content: %+v, %v", st, err)
	}
	testutil.SameFile(t, src, filepath.Join(b.root, shardRel))
}

func TestChecksumMismatch(t *testing.T) {
	checkGoroutines(t)
	a, b := startNode(t, testSecret, "a"), startNode(t, testSecret, "b")
	src := filepath.Join(a.root, shardRel)
	sha := writeWeights(t, src, 1<<20, 4)
	wrong := strings.Repeat("ab", 32)

	_, err := a.Push(ctx(t), b.Addr(), testJob, shardRel, src, wrong, 1<<20)
	if !errors.Is(err, ErrMismatch) {
		t.Fatalf("push with a wrong SHA-256: %v, want ErrMismatch", err)
	}
	t.Log(err)
	noFile(t, filepath.Join(b.root, shardRel))
	if tmp := tempFiles(t, b.root); len(tmp) > 0 {
		t.Fatalf("temporaries left: %v", tmp)
	}
	if _, err := a.Push(ctx(t), b.Addr(), testJob, shardRel, src, sha, 1<<20-4); err == nil {
		t.Fatal("push of a file longer than its stated size succeeded")
	}
	noFile(t, filepath.Join(b.root, shardRel))

	dst := filepath.Join(b.root, "pulled", "x.safetensors")
	if _, err := b.Pull(ctx(t), a.Addr(), testJob, shardRel, dst, wrong, 1<<20); !errors.Is(err, ErrMismatch) {
		t.Fatalf("pull with a wrong SHA-256: %v, want ErrMismatch", err)
	}
	if _, err := b.Pull(ctx(t), a.Addr(), testJob, shardRel, dst, sha, 1<<20+1); !errors.Is(err, ErrMismatch) {
		t.Fatalf("pull with a wrong size: %v, want ErrMismatch", err)
	}
	noFile(t, dst)
	// The push of a file longer than stated ended with a hang-up, which
	// the receiver notices on its own time.
	waitFor(t, 10*time.Second, "no temporaries", func() bool { return len(tempFiles(t, b.root)) == 0 })
}

func TestBadRequests(t *testing.T) {
	checkGoroutines(t)
	a, b := startNode(t, testSecret, "a"), startNode(t, testSecret, "b")
	body := []byte("not weights")
	sum := sha256.Sum256(body)
	sha := hex.EncodeToString(sum[:])
	good := request{Op: "push", Job: testJob, Rel: shardRel, SHA: sha, Size: int64(len(body))}
	var bad []request
	for _, rel := range []string{"../x", "/abs", "iter_1/../../x", "a/b/c", "iter_0000001/evil.sh", "", "iter_0000001",
		"iter_0000001/../../x.safetensors", "iter_0000001//x.safetensors", "iter_0000001/./x.safetensors",
		`iter_0000001\..\x.safetensors`, "iter_0000001/.hidden.safetensors", "iter_0000001/a/b.safetensors",
		"./iter_0000001/x.safetensors", "iter_0000001/x.safetensors/"} {
		q := good
		q.Rel = rel
		bad = append(bad, q)
	}
	for _, f := range []func(*request){
		func(q *request) { q.SHA = "xyz" },
		func(q *request) { q.Size = -1 },
		func(q *request) { q.Size = maxSize + 1 },
		func(q *request) { q.Op = "delete" },
		func(q *request) { q.Job = "" },
		func(q *request) { q.Job = "../job1" },
	} {
		q := good
		f(&q)
		bad = append(bad, q)
	}
	for _, q := range bad {
		// The client refuses before dialing ...
		if err := q.check(); !errors.Is(err, ErrRefused) {
			t.Errorf("%+v: check says %v, want ErrRefused", q, err)
		}
		if _, err := a.Push(ctx(t), b.Addr(), q.Job, q.Rel, "/nonexistent", q.SHA, q.Size); q.Op == "push" && !errors.Is(err, ErrRefused) {
			t.Errorf("%+v: Push says %v, want ErrRefused", q, err)
		}
		// ... and the server when a client does not.
		_, err := a.push(ctx(t), b.Addr(), q, bytes.NewReader(body))
		if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "peer:") {
			t.Errorf("%+v: pushing anyway: %v, want ErrRefused from the peer", q, err)
		}
		if q.Op = "pull"; q.check() == nil {
			continue // a size of -1 is fine on a pull
		}
		if _, err := a.Pull(ctx(t), b.Addr(), q.Job, q.Rel, filepath.Join(a.root, "x"), q.SHA, q.Size); !errors.Is(err, ErrRefused) {
			t.Errorf("%+v: Pull says %v, want ErrRefused", q, err)
		}
		if _, err = a.pull(ctx(t), b.Addr(), q, filepath.Join(a.root, "x")); !errors.Is(err, ErrRefused) {
			t.Errorf("%+v: pulling anyway: %v, want ErrRefused", q, err)
		}
	}
	noFile(t, filepath.Join(filepath.Dir(b.root), "x"))
	if entries, _ := os.ReadDir(b.root); len(entries) > 0 {
		t.Errorf("a refused request left %v in the root", entries[0].Name())
	}
	noFile(t, filepath.Join(a.root, "x"))

	// Frames out of bounds or not JSON.
	for _, raw := range [][]byte{{0xff, 0xff}, {0, 0}, {0, 3, 'a', 'b', 'c'}, append([]byte{0x10, 0}, make([]byte, 4096)...), {0x10, 1}} {
		if rep := rawSend(t, a.Endpoint, b.Addr(), raw); rep.Code != codeRefused {
			t.Errorf("frame %q...: reply %+v, want refused", raw[:min(len(raw), 5)], rep)
		}
	}
}

// rawSend sends raw bytes on a transfer stream and reads the reply.
func rawSend(t *testing.T, from *Endpoint, peer string, raw []byte) reply {
	t.Helper()
	ra, err := net.ResolveUDPAddr("udp", peer)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := from.tr.Dial(ctx(t), ra, from.cliTLS, from.qconf)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseWithError(connDone, "")
	qs, err := conn.OpenStreamSync(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	s := newStream(qs)
	if _, err := s.Write(raw); err != nil {
		t.Fatal(err)
	}
	s.Close()
	var rep reply
	if err := readFrame(s, &rep); err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestUnknownJobAndMissingFile(t *testing.T) {
	checkGoroutines(t)
	a, b := startNode(t, testSecret, "a"), startNode(t, testSecret, "b")
	src := filepath.Join(a.root, shardRel)
	sha := writeWeights(t, src, 4096, 5)
	_, err := a.Push(ctx(t), b.Addr(), "nope", shardRel, src, sha, 4096)
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "no checkpoints") {
		t.Fatalf("push for an unknown job: %v, want ErrRefused", err)
	}
	t.Log(err)
	_, err = a.Pull(ctx(t), b.Addr(), testJob, shardRel, filepath.Join(a.root, "y.safetensors"), sha, 4096)
	if !errors.Is(err, ErrMissing) {
		t.Fatalf("pull of a file the peer lacks: %v, want ErrMissing", err)
	}
}

func TestForeignSecretCannotConnect(t *testing.T) {
	checkGoroutines(t)
	a, b := startNode(t, testSecret, "a"), startNode(t, testSecret, "b")
	m := startNode(t, mustSecret(), "mallory")
	src := filepath.Join(m.root, shardRel)
	sha := writeWeights(t, src, 4096, 6)
	if _, err := m.Push(ctx(t), b.Addr(), testJob, shardRel, src, sha, 4096); err == nil {
		t.Fatal("a node with another secret pushed a file")
	}
	noFile(t, filepath.Join(b.root, shardRel))
	writeFile(t, filepath.Join(b.root, shardRel), []byte("secret"))
	if _, err := m.Pull(ctx(t), b.Addr(), testJob, shardRel, filepath.Join(m.root, "x.safetensors"), sha, -1); err == nil {
		t.Fatal("a node with another secret pulled a file")
	}
	// Nor can the cluster talk to it.
	if _, err := a.Push(ctx(t), m.Addr(), testJob, shardRel, src, sha, 4096); err == nil {
		t.Fatal("pushed to a node with another secret")
	}
}

func TestConcurrentPushesOfOneFile(t *testing.T) {
	checkGoroutines(t)
	a, b := startNode(t, testSecret, "a"), startNode(t, testSecret, "b")
	src := filepath.Join(a.root, shardRel)
	sha := writeWeights(t, src, 2<<20, 7)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { _, errs[i] = a.Push(ctx(t), b.Addr(), testJob, shardRel, src, sha, 2<<20) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	testutil.SameFile(t, src, filepath.Join(b.root, shardRel))
	if tmp := tempFiles(t, b.root); len(tmp) > 0 {
		t.Fatalf("temporaries left: %v", tmp)
	}
}

// stallReader passes on left bytes of r, then closes reached and blocks
// until release is closed; then it fails.
type stallReader struct {
	r       io.ReadCloser
	left    int64
	reached chan struct{}
	release <-chan struct{}
	once    sync.Once
}

func (s *stallReader) Read(p []byte) (int, error) {
	if s.left == 0 {
		s.once.Do(func() { close(s.reached) })
		<-s.release
		return 0, errors.New("stalled read released")
	}
	n, err := s.r.Read(p[:min(int64(len(p)), s.left)])
	s.left -= int64(n)
	return n, err
}

func (s *stallReader) Close() error { return s.r.Close() }

// stall opens files that stall after n bytes until release.
func stall(n int64, release <-chan struct{}) (open func(string) (io.ReadCloser, error), reached <-chan struct{}) {
	ch := make(chan struct{})
	return func(name string) (io.ReadCloser, error) {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		return &stallReader{r: f, left: n, reached: ch, release: release}, nil
	}, ch
}

// within fails unless done delivers within d of now.
func within[T any](t *testing.T, d time.Duration, what string, done <-chan T) T {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case v := <-done:
		return v
	case <-timer.C:
		t.Fatalf("%s: not within %v", what, d)
		panic("unreachable")
	}
}

func TestCancelPush(t *testing.T) {
	checkGoroutines(t)
	pctx, cancel := context.WithCancel(ctx(t))
	open, reached := stall(1<<20, pctx.Done()) // a source that stops after 1 MiB
	a, b := startNodeWith(t, testSecret, "a", open), startNode(t, testSecret, "b")
	src := filepath.Join(a.root, shardRel)
	sha := writeWeights(t, src, 4<<20, 8)
	done := make(chan error, 1)
	go func() {
		_, err := a.Push(pctx, b.Addr(), testJob, shardRel, src, sha, 4<<20)
		done <- err
	}()
	within(t, 10*time.Second, "the first MiB read", reached)
	waitFor(t, 10*time.Second, "the receiver's temporary file", func() bool { return len(tempFiles(t, b.root)) > 0 })
	cancel()
	err := within(t, 2*time.Second, "Push after cancel", done)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled push: %v, want context.Canceled", err)
	}
	waitFor(t, 10*time.Second, "the receiver to remove its temporary file", func() bool { return len(tempFiles(t, b.root)) == 0 })
	noFile(t, filepath.Join(b.root, shardRel))
}

func TestCancelPull(t *testing.T) {
	checkGoroutines(t)
	release := make(chan struct{})
	open, reached := stall(1<<20, release)
	a, b := startNode(t, testSecret, "a"), startNodeWith(t, testSecret, "b", open)
	t.Cleanup(func() { close(release) }) // before b's Close: the stalled sender must end
	sha := writeWeights(t, filepath.Join(b.root, shardRel), 4<<20, 9)
	pctx, cancel := context.WithCancel(ctx(t))
	dst := filepath.Join(a.root, "pulled", "x.safetensors")
	done := make(chan error, 1)
	go func() {
		_, err := a.Pull(pctx, b.Addr(), testJob, shardRel, dst, sha, 4<<20)
		done <- err
	}()
	within(t, 10*time.Second, "the first MiB sent", reached)
	waitFor(t, 10*time.Second, "the puller's temporary file", func() bool { return len(tempFiles(t, a.root)) > 0 })
	cancel()
	err := within(t, 2*time.Second, "Pull after cancel", done)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled pull: %v, want context.Canceled", err)
	}
	if tmp := tempFiles(t, a.root); len(tmp) > 0 {
		t.Fatalf("temporaries left: %v", tmp)
	}
	noFile(t, dst)
}

// TestCloseEndsTransfers: Close fails a transfer in flight at once,
// is idempotent, refuses later calls, and leaves no goroutine behind.
func TestCloseEndsTransfers(t *testing.T) {
	checkGoroutines(t)
	release := make(chan struct{})
	open, reached := stall(1<<20, release)
	a, b := startNode(t, testSecret, "a"), startNodeWith(t, testSecret, "b", open)
	t.Cleanup(func() { close(release) }) // before b's Close: the stalled sender must end
	sha := writeWeights(t, filepath.Join(b.root, shardRel), 4<<20, 10)
	done := make(chan error, 1)
	go func() {
		_, err := a.Pull(ctx(t), b.Addr(), testJob, shardRel, filepath.Join(a.root, "x.safetensors"), sha, 4<<20)
		done <- err
	}()
	within(t, 10*time.Second, "the first MiB sent", reached)
	closed := make(chan error, 1)
	go func() { closed <- a.Close() }()
	if err := within(t, 2*time.Second, "Pull after Close", done); err == nil {
		t.Fatal("a pull survived Close")
	}
	if err := within(t, 2*time.Second, "Close", closed); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := a.Pull(ctx(t), b.Addr(), testJob, shardRel, filepath.Join(a.root, "x.safetensors"), sha, 4<<20); !errors.Is(err, ErrClosed) {
		t.Fatalf("pull after Close: %v, want ErrClosed", err)
	}
	if tmp := tempFiles(t, a.root); len(tmp) > 0 {
		t.Fatalf("temporaries left: %v", tmp)
	}
}

func FuzzHeader(f *testing.F) {
	for _, q := range []request{{Op: "push", Job: "j", Rel: shardRel, SHA: strings.Repeat("0", 64), Size: 1},
		{Op: "pull", Job: "j", Rel: "iter_0000001/manifest.json", SHA: strings.Repeat("f", 64), Size: -1},
		{Op: "pull", Job: "j", Rel: "iter_1/../../x", Size: -1}} {
		var buf bytes.Buffer
		writeFrame(&buf, q)
		f.Add(buf.Bytes())
	}
	f.Add([]byte{0xff, 0xff, '{'})
	f.Fuzz(func(t *testing.T, b []byte) {
		var q request
		if readFrame(bytes.NewReader(b), &q) != nil || q.check() != nil {
			return
		}
		parts := strings.Split(q.Rel, "/")
		if !filepath.IsLocal(q.Rel) || len(parts) != 2 || strings.HasPrefix(parts[1], ".") {
			t.Fatalf("accepted rel %q", q.Rel)
		}
	})
}

func BenchmarkPush(b *testing.B) {
	const size = 64 << 20
	src, dst := startNode(b, testSecret, "a"), startNode(b, testSecret, "b")
	path := filepath.Join(src.root, shardRel)
	sha := writeWeights(b, path, size, 11)
	b.SetBytes(size)
	var wire, n int64
	for b.Loop() {
		rel := fmt.Sprintf("iter_%07d/mp_rank_00_000.safetensors", n)
		st, err := src.Push(context.Background(), dst.Addr(), testJob, rel, path, sha, size)
		if err != nil || st.Skipped {
			b.Fatalf("%+v, %v", st, err)
		}
		wire, n = wire+st.Wire, n+1
		b.StopTimer()
		os.RemoveAll(filepath.Join(dst.root, filepath.Dir(rel)))
		b.StartTimer()
	}
	b.ReportMetric(float64(wire)/float64(size*n), "wire/byte")
}
