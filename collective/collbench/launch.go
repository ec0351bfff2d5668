package collbench

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"bloom/collective"
)

// Launch says how to start one rank: the binary and its arguments, to
// which Run appends the rank's flags (--comm-id HEX --tls-dir DIR
// --rank R, and --root-info INFO but for rank 0).
type Launch struct {
	Exe  string
	Args []string
}

// Run starts cfg.Ranks processes of l on this machine and calls emit with
// each row rank 0 reports, in order. An error of emit, of a rank or of ctx
// stops every rank.
func Run(ctx context.Context, cfg Config, l Launch, emit func(Row) error) error {
	dir, err := os.MkdirTemp("", "bloom-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	id := collective.NewCommID()
	if cfg.Transport == "quic" {
		if err := writeTLS(dir); err != nil {
			return err
		}
	}
	defer removeShm(id)
	ctx, cancel := context.WithCancel(ctx)
	args := append(slices.Clone(l.Args), "--comm-id", hex.EncodeToString(id[:]), "--tls-dir", dir)
	g := &workerGroup{}
	defer func() { cancel(); g.stop() }() // cancel first: it releases a reader blocked on rows
	rows, info, err := g.start(ctx, l.Exe, append(args, "--rank", "0"), true)
	if err != nil {
		return err
	}
	for r := 1; r < cfg.Ranks; r++ {
		if _, _, err := g.start(ctx, l.Exe, append(args, "--rank", strconv.Itoa(r), "--root-info", info), false); err != nil {
			return err
		}
	}
	for line := range rows {
		var row Row
		if err := json.Unmarshal([]byte(line), &row); err != nil {
			return fmt.Errorf("bench worker: %q: %w", line, err)
		}
		if err := emit(row); err != nil {
			return err
		}
	}
	return g.wait()
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
			select {
			case rows <- sc.Text():
			case <-ctx.Done(): // Run returned early (its caller's emit failed)
			}
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
