package cli

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	ucli "github.com/urfave/cli/v2"

	"bloom/collective"
)

// bloomctl bench allreduce: N ranks on this machine, each a bloomctl
// process (the hidden "allreduce-worker" subcommand), print nccl-tests'
// columns per size after two baselines of the same transport: one hop
// point to point, and a ring of send/recv (every rank sends to its
// neighbour at once).

var benchCollectives = []string{"allreduce", "reducescatter", "allgather", "broadcast", "sendrecv"}

func benchAllreduceFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.IntFlag{Name: "ranks", Value: 2, Usage: "ranks (processes) to start"},
		&ucli.StringFlag{Name: "transport", Value: "shm", Usage: "quic or shm"},
		&ucli.StringFlag{Name: "sizes", Value: "1K,64K,1M,16M,64M", Usage: "message sizes in bytes (K, M, G suffixes: powers of 1024)"},
		&ucli.StringFlag{Name: "dtype", Value: "fp32", Usage: "element type (fp32, fp16, bf16, int32, ...)"},
		&ucli.StringFlag{Name: "op", Value: "sum", Usage: "reduce op: sum, prod, max, min"},
		&ucli.StringFlag{Name: "collective", Value: "allreduce", Usage: strings.Join(benchCollectives, ", ")},
		&ucli.BoolFlag{Name: "no-baselines", Usage: "skip the point-to-point and ring send/recv baselines"},
		&ucli.IntFlag{Name: "procs", Usage: "GOMAXPROCS of each rank (0: Go's default)"},
		&ucli.IntFlag{Name: "chunk", Value: 0, Usage: "pipeline piece in bytes (0: the default)"},
		&ucli.IntFlag{Name: "streams", Value: 0, Usage: "QUIC streams per hop (0: the default)"},
		&ucli.IntFlag{Name: "small-bytes", Value: -1, Usage: "allreduce: largest message that skips the ring for the exchange (2 ranks) or the tree (0: always the ring; -1: the default)"},
		&ucli.StringFlag{Name: "algo", Usage: "allreduce: force ring, tree, doubling (quic) or board (shm) (default: by transport and size)"},
		&ucli.Float64Flag{Name: "min-time", Value: 0.2, Usage: "seconds to spend measuring each size in each round, at least"},
		&ucli.IntFlag{Name: "rounds", Value: 3, Usage: "rounds per size (the sections alternate; each reports its median round)"},
		&ucli.StringFlag{Name: "cpuprofile", Usage: "write each rank's CPU profile to this path plus .RANK"},
	}
}

func benchAllreduceCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "allreduce",
		Usage: "collective bandwidth as nccl-tests prints it, N ranks on this machine",
		UsageText: "bloomctl bench allreduce --ranks N --transport quic|shm --sizes 1K,64K,1M,16M,64M [--dtype fp32] [--op sum]\n" +
			"   [--collective allreduce|reducescatter|allgather|broadcast|sendrecv] [--output json]",
		Description: `Starts N ranks as separate processes and prints per size: size (B), count
(elements), type, op, time (us), algbw and busbw (GB/s), #wrong, as nccl-tests
does. busbw = algbw·2(n-1)/n for allreduce, ·(n-1)/n for reducescatter and
allgather, ·1 for broadcast and sendrecv. Two baselines of the same transport
come first: one hop point to point (rank 0 to rank 1) and a ring send/recv.`,
		Flags: benchAllreduceFlags(),
		Action: func(c *ucli.Context) error {
			spec, err := benchSpecFrom(c)
			if err != nil {
				return err
			}
			return runBenchCollective(c, spec)
		},
	}
}

// benchAllreduceWorkerCommand is one rank of the benchmark (hidden).
func benchAllreduceWorkerCommand() *ucli.Command {
	return &ucli.Command{
		Name:   "allreduce-worker",
		Hidden: true,
		Flags: append(benchAllreduceFlags(),
			&ucli.IntFlag{Name: "rank"}, &ucli.StringFlag{Name: "root-info"}, &ucli.StringFlag{Name: "comm-id"},
			&ucli.StringFlag{Name: "tls-dir"}),
		Action: func(c *ucli.Context) error {
			spec, err := benchSpecFrom(c)
			if err != nil {
				return err
			}
			if p := c.Int("procs"); p > 0 {
				runtime.GOMAXPROCS(p)
			}
			if path := c.String("cpuprofile"); path != "" {
				f, err := os.Create(fmt.Sprintf("%s.%d", path, c.Int("rank")))
				if err != nil {
					return err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			return benchWorker(c, spec)
		},
	}
}

// benchSpec is what every rank agrees on.
type benchSpec struct {
	ranks      int
	transport  string
	sizes      []int
	dtype      collective.DataType
	op         collective.ReduceOp
	collective string
	baselines  bool
	minTime    time.Duration
	rounds     int
	chunk      int
	streams    int
	smallBytes int
	algo       string
}

func benchSpecFrom(c *ucli.Context) (benchSpec, error) {
	s := benchSpec{ranks: c.Int("ranks"), transport: c.String("transport"), collective: c.String("collective"),
		baselines: !c.Bool("no-baselines"), minTime: time.Duration(c.Float64("min-time") * float64(time.Second)),
		chunk: c.Int("chunk"), streams: c.Int("streams"), rounds: c.Int("rounds"), smallBytes: c.Int("small-bytes"), algo: c.String("algo")}
	var err error
	if s.rounds < 1 {
		return s, fmt.Errorf("--rounds %d: want at least 1", s.rounds)
	}
	if s.ranks < 2 || s.ranks > 64 {
		return s, fmt.Errorf("--ranks %d: want 2..64", s.ranks)
	}
	if s.transport != "quic" && s.transport != "shm" {
		return s, fmt.Errorf("--transport %q: want quic or shm", s.transport)
	}
	if !contains([]string{"", collective.AlgoRing, collective.AlgoTree, collective.AlgoDoubling, collective.AlgoBoard}, s.algo) {
		return s, fmt.Errorf("--algo %q: want ring, tree, doubling or board", s.algo)
	}
	if !contains(benchCollectives, s.collective) {
		return s, fmt.Errorf("--collective %q: want one of %s", s.collective, strings.Join(benchCollectives, ", "))
	}
	if s.sizes, err = parseSizes(c.String("sizes")); err != nil {
		return s, err
	}
	if s.dtype, err = collective.ParseDataType(c.String("dtype")); err != nil {
		return s, err
	}
	if s.op, err = collective.ParseReduceOp(c.String("op")); err != nil {
		return s, err
	}
	return s, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// parseSizes reads "1K,64K,1M" (powers of 1024).
func parseSizes(s string) ([]int, error) {
	var sizes []int
	for _, f := range strings.Split(s, ",") {
		if strings.TrimSpace(f) == "" {
			continue
		}
		v, err := parseByteSize(f, 4<<30)
		if err != nil {
			return nil, fmt.Errorf("--sizes: %w (want e.g. 1K,64K,1M,16M,64M)", err)
		}
		sizes = append(sizes, int(v))
	}
	if len(sizes) == 0 {
		return nil, fmt.Errorf("--sizes: no sizes given (want e.g. 1K,64K,1M)")
	}
	return sizes, nil
}

// parseByteSize reads a size of at most max bytes: a number with an
// optional K, M or G (powers of 1024; KB, KiB and the like read alike).
func parseByteSize(s string, max int64) (int64, error) {
	f := strings.ToUpper(strings.TrimSpace(s))
	mult := int64(1)
	for suffix, m := range map[string]int64{"K": 1 << 10, "M": 1 << 20, "G": 1 << 30} {
		if strings.HasSuffix(f, suffix) || strings.HasSuffix(f, suffix+"B") || strings.HasSuffix(f, suffix+"IB") {
			f = strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(f, "IB"), "B"), suffix)
			mult = m
		}
	}
	f = strings.TrimSuffix(f, "B")
	v, err := strconv.ParseInt(f, 10, 64)
	if err != nil || v < 0 || v > max/mult {
		return 0, fmt.Errorf("%q is not a size of at most %d bytes", strings.TrimSpace(s), max)
	}
	return v * mult, nil
}

// benchRow is one measured line; rank 0 writes them, the launcher prints.
type benchRow struct {
	Peer       string  `json:"peer"`
	Transport  string  `json:"transport"`
	Collective string  `json:"collective"`
	Ranks      int     `json:"ranks"`
	Size       int     `json:"size"`
	Count      int     `json:"count"`
	Type       string  `json:"type"`
	Op         string  `json:"op"`
	TimeUS     float64 `json:"time_us"`
	AlgBW      float64 `json:"algbw"`
	BusBW      float64 `json:"busbw"`
	Wrong      int64   `json:"wrong"`
	// CPUUS is the CPU time (user and system) all ranks' processes spent
	// per operation: on a loaded machine a steadier measure of the work an
	// algorithm does than its time.
	CPUUS float64 `json:"cpu_us"`
}

// runBenchCollective starts the ranks and prints rank 0's rows.
func runBenchCollective(c *ucli.Context, spec benchSpec) error {
	asJSON, err := outputJSON(c)
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "bloom-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	id := collective.NewCommID()
	if spec.transport == "quic" {
		if err := writeBenchTLS(dir); err != nil {
			return err
		}
	}
	defer removeShm(id)
	ctx, cancel := context.WithCancel(c.Context)
	defer cancel()
	args := append([]string{"bench", "allreduce-worker"}, workerArgs(c)...)
	args = append(args, "--comm-id", hex.EncodeToString(id[:]), "--tls-dir", dir)
	g := &workerGroup{}
	defer g.stop()
	rows, info, err := g.start(ctx, exe, append(args, "--rank", "0"), true)
	if err != nil {
		return err
	}
	for r := 1; r < spec.ranks; r++ {
		if _, _, err := g.start(ctx, exe, append(args, "--rank", strconv.Itoa(r), "--root-info", info), false); err != nil {
			return err
		}
	}
	section := ""
	for line := range rows {
		var row benchRow
		if err := json.Unmarshal([]byte(line), &row); err != nil {
			return fmt.Errorf("bench worker: %q: %w", line, err)
		}
		if asJSON {
			if err := writeJSON(c.App.Writer, row); err != nil {
				return err
			}
			continue
		}
		if row.Collective != section {
			section = row.Collective
			printBenchHeader(c.App.Writer, row)
		}
		fmt.Fprintf(c.App.Writer, "%12d %12d %8s %6s %10.1f %7.2f %7.2f %6d %10.1f\n",
			row.Size, row.Count, row.Type, row.Op, row.TimeUS, row.AlgBW, row.BusBW, row.Wrong, row.CPUUS)
	}
	return g.wait()
}

func printBenchHeader(w io.Writer, row benchRow) {
	fmt.Fprintf(w, "# %s, %s, %d ranks\n", row.Collective, row.Transport, row.Ranks)
	fmt.Fprintf(w, "#%11s %12s %8s %6s %10s %7s %7s %6s %10s\n", "size", "count", "type", "redop", "time", "algbw", "busbw", "#wrong", "cpu")
	fmt.Fprintf(w, "#%11s %12s %8s %6s %10s %7s %7s %6s %10s\n", "(B)", "(elements)", "", "", "(us)", "(GB/s)", "(GB/s)", "", "(us)")
}

// workerArgs passes the benchmark's flags on to the workers.
func workerArgs(c *ucli.Context) []string {
	var args []string
	for _, f := range benchAllreduceFlags() {
		name := f.Names()[0]
		if c.IsSet(name) {
			if _, isBool := f.(*ucli.BoolFlag); isBool {
				args = append(args, "--"+name)
				continue
			}
			args = append(args, "--"+name, fmt.Sprint(c.Value(name)))
		}
	}
	return args
}

// workerGroup owns the worker processes and the goroutines reading them.
type workerGroup struct {
	mu    sync.Mutex
	cmds  []*exec.Cmd
	wg    sync.WaitGroup
	errs  []error
	stder []*strings.Builder
}

// start runs one worker. For rank 0 (first) it returns the channel of
// result rows and the root info (quic) the worker printed first.
func (g *workerGroup) start(ctx context.Context, exe string, args []string, first bool) (<-chan string, string, error) {
	cmd := exec.CommandContext(ctx, exe, args...)
	var stderr strings.Builder
	cmd.Stderr = &lockedWriter{w: &stderr}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("starting a bench worker: %w", err)
	}
	g.mu.Lock()
	g.cmds, g.stder = append(g.cmds, cmd), append(g.stder, &stderr)
	g.mu.Unlock()
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	if !first {
		g.wg.Add(1)
		go func() { // owned by g: ends when the worker exits
			defer g.wg.Done()
			io.Copy(io.Discard, stdout)
			g.record(cmd.Wait(), &stderr)
		}()
		return nil, "", nil
	}
	info := ""
	if !sc.Scan() {
		cmd.Wait()
		return nil, "", fmt.Errorf("bench worker 0 failed: %s", stderr.String())
	}
	info = strings.TrimPrefix(sc.Text(), "rootinfo ")
	rows := make(chan string)
	g.wg.Add(1)
	go func() { // owned by g: ends when worker 0 exits
		defer g.wg.Done()
		for sc.Scan() {
			rows <- sc.Text()
		}
		close(rows)
		g.record(cmd.Wait(), &stderr)
	}()
	return rows, info, nil
}

func (g *workerGroup) record(err error, stderr *strings.Builder) {
	if err == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.errs = append(g.errs, fmt.Errorf("bench worker: %v: %s", err, strings.TrimSpace(stderr.String())))
	for _, c := range g.cmds { // one rank failed: the others would wait for it
		if c.Process != nil {
			c.Process.Kill()
		}
	}
}

func (g *workerGroup) wait() error {
	g.wg.Wait()
	g.mu.Lock()
	defer g.mu.Unlock()
	return errors.Join(g.errs...)
}

func (g *workerGroup) stop() {
	g.mu.Lock()
	for _, c := range g.cmds {
		if c.Process != nil && c.ProcessState == nil {
			c.Process.Kill()
		}
	}
	g.mu.Unlock()
	g.wg.Wait()
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func removeShm(id [16]byte) {
	files, _ := filepath.Glob(filepath.Join("/dev/shm", "bloom-"+hex.EncodeToString(id[:])+"*"))
	for _, f := range files {
		os.Remove(f)
	}
}

// writeBenchTLS makes a throwaway CA and one identity every rank shares.
func writeBenchTLS(dir string) error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bloom bench CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "bench rank"},
		DNSNames: []string{"bloom-collective"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	for name, block := range map[string]*pem.Block{"ca.pem": {Type: "CERTIFICATE", Bytes: caDER},
		"cert.pem": {Type: "CERTIFICATE", Bytes: der}, "key.pem": {Type: "PRIVATE KEY", Bytes: keyDER}} {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(block), 0o600); err != nil {
			return err
		}
	}
	return nil
}

func readBenchTLS(dir string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	if err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool}, nil
}

// benchWorker is one rank: join, then measure every section and size; rank
// 0 writes the rows as JSON lines on stdout (after a "rootinfo" line).
func benchWorker(c *ucli.Context, spec benchSpec) error {
	rank := c.Int("rank")
	comm, err := benchJoin(c, spec, rank)
	if err != nil {
		return err
	}
	defer comm.Close()
	maxSize := 0
	for _, s := range spec.sizes {
		maxSize = max(maxSize, s)
	}
	b := &benchRank{spec: spec, comm: comm, w: c.App.Writer,
		send: alignedBytes(maxSize), recv: alignedBytes(maxSize)}
	sections := []string{spec.collective}
	if spec.baselines && spec.collective != "sendrecv" {
		sections = []string{"p2p", "sendrecv", spec.collective}
	} else if spec.baselines {
		sections = []string{"p2p", "sendrecv"}
	}
	// Per size, the sections run back to back, round after round, and each
	// reports its median round: the machine's load drifts within seconds,
	// and a ratio between sections must compare like with like.
	rows := map[string][]benchRow{}
	for _, size := range spec.sizes {
		times, cpus := map[string][]float64{}, map[string][]float64{}
		wrong := map[string]int64{}
		for range spec.rounds {
			for _, sec := range sections {
				m, err := b.measure(sec, size)
				if err != nil {
					return fmt.Errorf("rank %d: %s %d bytes: %w", rank, sec, size, err)
				}
				times[sec] = append(times[sec], m.time)
				cpus[sec] = append(cpus[sec], m.cpu)
				wrong[sec] += m.wrong
			}
		}
		for _, sec := range sections {
			row := b.row(sec, size, median(times[sec]), wrong[sec])
			row.CPUUS = median(cpus[sec]) * 1e6
			rows[sec] = append(rows[sec], row)
		}
	}
	if rank != 0 {
		return nil
	}
	for _, sec := range sections {
		for _, row := range rows[sec] {
			if err := writeJSON(c.App.Writer, row); err != nil {
				return err
			}
		}
	}
	return nil
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	slices.Sort(s)
	return s[len(s)/2]
}

func benchJoin(c *ucli.Context, spec benchSpec, rank int) (*collective.Comm, error) {
	cfg := collective.DefaultConfig()
	cfg.Transport = spec.transport
	cfg.OpTimeout = 5 * time.Minute
	cfg.ConnectTimeout = time.Minute
	if spec.chunk > 0 {
		cfg.ChunkBytes = spec.chunk
	}
	if spec.streams > 0 {
		cfg.StreamsPerHop = spec.streams
	}
	if spec.smallBytes >= 0 {
		cfg.SmallAllReduceBytes = spec.smallBytes
	}
	cfg.AllReduceAlgo = spec.algo
	ctx := context.Background()
	if spec.transport == "shm" {
		idb, err := hex.DecodeString(c.String("comm-id"))
		if err != nil || len(idb) != 16 {
			return nil, fmt.Errorf("--comm-id: want 32 hex digits")
		}
		if rank == 0 {
			fmt.Fprintln(c.App.Writer, "rootinfo -")
		}
		return collective.JoinLocal(ctx, cfg, [16]byte(idb), rank, spec.ranks)
	}
	var err error
	if cfg.TLS, err = readBenchTLS(c.String("tls-dir")); err != nil {
		return nil, err
	}
	ep, err := collective.Listen(cfg)
	if err != nil {
		return nil, err
	}
	info := c.String("root-info")
	if rank == 0 {
		info = hex.EncodeToString(ep.RootInfo())
		fmt.Fprintln(c.App.Writer, "rootinfo "+info)
	}
	raw, err := hex.DecodeString(info)
	if err != nil {
		ep.Close()
		return nil, fmt.Errorf("--root-info: %w", err)
	}
	return ep.Join(ctx, raw, rank, spec.ranks)
}

// alignedBytes allocates n bytes aligned for every element type, touched
// so that page faults stay out of the measurement.
func alignedBytes(n int) []byte {
	b := make([]byte, n) // large allocations are page-aligned
	for i := range b {
		b[i] = 1
	}
	return b
}

type benchRank struct {
	spec       benchSpec
	comm       *collective.Comm
	w          io.Writer
	send, recv []byte
}

// op returns the operation one iteration runs, with its element count and
// the busbw factor.
func (b *benchRank) op(sec string, size int) (func(ctx context.Context) error, int, float64) {
	c, n, dt, esz := b.comm, b.comm.Size(), b.spec.dtype, b.spec.dtype.Size()
	r := c.Rank()
	count := size / esz
	per := size / esz / n
	switch sec {
	case "p2p":
		return func(ctx context.Context) error {
			switch r {
			case 0:
				return c.Send(ctx, b.send, count, dt, 1)
			case 1:
				return c.Recv(ctx, b.recv, count, dt, 0)
			}
			return nil
		}, count, 1
	case "sendrecv":
		return func(ctx context.Context) error {
			return c.SendRecv(ctx, b.send, (r+1)%n, b.recv, (r+n-1)%n, count, dt)
		}, count, 1
	case "reducescatter":
		return func(ctx context.Context) error {
			return c.ReduceScatter(ctx, b.send, b.recv, per, dt, b.spec.op)
		}, per * n, float64(n-1) / float64(n)
	case "allgather":
		return func(ctx context.Context) error {
			return c.AllGather(ctx, b.send, b.recv, per, dt)
		}, per * n, float64(n-1) / float64(n)
	case "broadcast":
		return func(ctx context.Context) error {
			if r == 0 {
				return c.Broadcast(ctx, b.send, count, dt, 0)
			}
			return c.Broadcast(ctx, b.recv, count, dt, 0)
		}, count, 1
	}
	return func(ctx context.Context) error {
		return c.AllReduce(ctx, b.send, b.recv, count, dt, b.spec.op)
	}, count, 2 * float64(n-1) / float64(n)
}

// measurement is one section at one size, one round: seconds per
// operation (the slowest rank's mean), CPU seconds per operation (all
// ranks), and the wrong elements of its result (all ranks).
type measurement struct {
	time, cpu float64
	wrong     int64
}

// cpuTime is this process's CPU time so far, user and system, every thread.
func cpuTime() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// measure runs one section at one size.
func (b *benchRank) measure(sec string, size int) (measurement, error) {
	ctx := context.Background()
	run, count, _ := b.op(sec, size)
	b.fill(sec, count)
	if err := run(ctx); err != nil { // warm-up, and the result to check
		return measurement{}, err
	}
	wrong := b.check(sec, count)
	start := time.Now()
	if err := run(ctx); err != nil {
		return measurement{}, err
	}
	// Rank 0 picks the iteration count from the second warm-up.
	iters := []float64{float64(max(1, min(1000, int(b.spec.minTime.Seconds()/max(time.Since(start).Seconds(), 1e-7)))))}
	ib := f64Bytes(iters)
	if err := b.comm.Broadcast(ctx, ib, 1, collective.Float64, 0); err != nil {
		return measurement{}, err
	}
	iters[0] = math.Float64frombits(binary.LittleEndian.Uint64(ib))
	if err := b.comm.Barrier(ctx); err != nil {
		return measurement{}, err
	}
	start, cpu0 := time.Now(), cpuTime()
	for range int(iters[0]) {
		if err := run(ctx); err != nil {
			return measurement{}, err
		}
	}
	stats := []float64{time.Since(start).Seconds() / iters[0], float64(wrong), (cpuTime() - cpu0) / iters[0]}
	if err := b.allReduceF64(ctx, stats[:1], collective.Max); err != nil {
		return measurement{}, err
	}
	if err := b.allReduceF64(ctx, stats[1:], collective.Sum); err != nil {
		return measurement{}, err
	}
	return measurement{time: stats[0], wrong: int64(stats[1]), cpu: stats[2]}, nil
}

// row makes the nccl-tests line for a time per operation.
func (b *benchRank) row(sec string, size int, sec1 float64, wrong int64) benchRow {
	_, count, factor := b.op(sec, size)
	bytes := float64(count * b.spec.dtype.Size())
	row := benchRow{Peer: "bloom", Transport: b.spec.transport, Collective: sec, Ranks: b.comm.Size(), Size: size,
		Count: count, Type: b.spec.dtype.String(), Op: b.spec.op.String(), TimeUS: sec1 * 1e6, Wrong: wrong}
	if sec == "p2p" || sec == "sendrecv" || sec == "allgather" || sec == "broadcast" {
		row.Op = "none"
	}
	if sec1 > 0 {
		row.AlgBW = bytes / sec1 / 1e9
		row.BusBW = row.AlgBW * factor
	}
	return row
}

// f64Bytes encodes v little-endian.
func f64Bytes(v []float64) []byte {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(x))
	}
	return b
}

func (b *benchRank) allReduceF64(ctx context.Context, v []float64, op collective.ReduceOp) error {
	buf := f64Bytes(v)
	if err := b.comm.AllReduce(ctx, buf, buf, len(v), collective.Float64, op); err != nil {
		return err
	}
	for i := range v {
		v[i] = math.Float64frombits(binary.LittleEndian.Uint64(buf[8*i:]))
	}
	return nil
}

// benchValue is rank r's element i: small integers every type holds
// exactly, with closed-form reductions (as the collective's tests use).
func benchValue(op collective.ReduceOp, r, i int) float64 {
	switch op {
	case collective.Sum:
		return float64(r+1) + float64(i%7)
	case collective.Prod:
		if (r+i)%3 == 0 {
			return 2
		}
		return 1
	}
	return float64((r*5 + i) % 11)
}

func benchExpected(op collective.ReduceOp, n, i int) float64 {
	acc := benchValue(op, 0, i)
	for r := 1; r < n; r++ {
		v := benchValue(op, r, i)
		switch op {
		case collective.Sum:
			acc += v
		case collective.Prod:
			acc *= v
		case collective.Max:
			acc = max(acc, v)
		case collective.Min:
			acc = min(acc, v)
		}
	}
	return acc
}

func setValue(dt collective.DataType, b []byte, i int, v float64) {
	o := b[i*dt.Size():]
	switch dt {
	case collective.Int8, collective.Uint8:
		o[0] = byte(int64(v))
	case collective.Int16, collective.Uint16:
		binary.LittleEndian.PutUint16(o, uint16(int64(v)))
	case collective.Int32, collective.Uint32:
		binary.LittleEndian.PutUint32(o, uint32(int64(v)))
	case collective.Int64, collective.Uint64:
		binary.LittleEndian.PutUint64(o, uint64(int64(v)))
	case collective.Float16:
		binary.LittleEndian.PutUint16(o, collective.F32ToF16(float32(v)))
	case collective.BFloat16:
		binary.LittleEndian.PutUint16(o, collective.F32ToBF16(float32(v)))
	case collective.Float32:
		binary.LittleEndian.PutUint32(o, math.Float32bits(float32(v)))
	case collective.Float64:
		binary.LittleEndian.PutUint64(o, math.Float64bits(v))
	}
}

func getValue(dt collective.DataType, b []byte, i int) float64 {
	o := b[i*dt.Size():]
	switch dt {
	case collective.Int8:
		return float64(int8(o[0]))
	case collective.Uint8:
		return float64(o[0])
	case collective.Int16:
		return float64(int16(binary.LittleEndian.Uint16(o)))
	case collective.Uint16:
		return float64(binary.LittleEndian.Uint16(o))
	case collective.Int32:
		return float64(int32(binary.LittleEndian.Uint32(o)))
	case collective.Uint32:
		return float64(binary.LittleEndian.Uint32(o))
	case collective.Int64:
		return float64(int64(binary.LittleEndian.Uint64(o)))
	case collective.Uint64:
		return float64(binary.LittleEndian.Uint64(o))
	case collective.Float16:
		return float64(collective.F16ToF32(binary.LittleEndian.Uint16(o)))
	case collective.BFloat16:
		return float64(collective.BF16ToF32(binary.LittleEndian.Uint16(o)))
	case collective.Float32:
		return float64(math.Float32frombits(binary.LittleEndian.Uint32(o)))
	}
	return math.Float64frombits(binary.LittleEndian.Uint64(o))
}

// fill writes this rank's inputs and poisons the output.
func (b *benchRank) fill(sec string, count int) {
	dt, r, op := b.spec.dtype, b.comm.Rank(), b.spec.op
	if sec != "allreduce" && sec != "reducescatter" {
		op = collective.Sum
	}
	for i := range count {
		setValue(dt, b.send, i, benchValue(op, r, i))
	}
	clear(b.recv)
}

// check counts the wrong elements of the last result on this rank.
func (b *benchRank) check(sec string, count int) int {
	dt, r, n, op := b.spec.dtype, b.comm.Rank(), b.comm.Size(), b.spec.op
	per := count / n
	var want func(i int) float64
	m := count
	switch sec {
	case "allreduce":
		want = func(i int) float64 { return benchExpected(op, n, i) }
	case "reducescatter":
		m, want = per, func(j int) float64 { return benchExpected(op, n, r*per+j) }
	case "allgather":
		want = func(k int) float64 { return benchValue(collective.Sum, k/per, k%per) }
	case "broadcast", "p2p":
		if r == 0 || sec == "p2p" && r != 1 {
			return 0
		}
		want = func(i int) float64 { return benchValue(collective.Sum, 0, i) }
	case "sendrecv":
		want = func(i int) float64 { return benchValue(collective.Sum, (r+n-1)%n, i) }
	}
	wrong := 0
	for i := range m {
		if getValue(dt, b.recv, i) != want(i) {
			wrong++
		}
	}
	return wrong
}
