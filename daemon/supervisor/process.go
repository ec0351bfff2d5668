package supervisor

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"bloom/api"
	"bloom/daemon/coord"
	"bloom/daemon/worker"
)

// Worker is one `bloomd worker` child process and what it said.
type Worker struct {
	key     Key
	device  string // "npu:3": what the worker holds
	logPath string
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	exited  chan struct{} // closed once the process is reaped and its messages read

	mu       sync.Mutex
	rep      api.RankReport
	stopping bool
	inM      sync.Mutex // serializes writes to stdin
}

// PID is the worker's process id, 0 when it did not start.
func (p *Worker) PID() int {
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Exited is closed once the worker's process is reaped and its messages
// read.
func (p *Worker) Exited() <-chan struct{} { return p.exited }

// Signal sends sig to the worker's process (tests kill workers with it).
func (p *Worker) Signal(sig os.Signal) error {
	if p.cmd == nil {
		return errors.New("supervisor: the worker did not start")
	}
	return p.cmd.Process.Signal(sig)
}

// startWorker starts a worker with its assignment; its goroutines belong
// to s.wg. A worker that cannot start is returned already exited, with
// the reason, so it is reported like any failure.
func (s *Supervisor) startWorker(key Key, a worker.Assignment, argv, env []string) *Worker {
	p := &Worker{key: key, device: a.Device, logPath: s.env.LogPath(key.Job, key.Attempt, key.Rank), exited: make(chan struct{}),
		rep: api.RankReport{Job: key.Job, Attempt: key.Attempt, Rank: key.Rank}}
	ctrl, err := p.start(a, argv, env)
	if err != nil {
		p.rep.Exited, p.rep.Exit, p.rep.Error = true, "did not start", err.Error()
		close(p.exited)
		return p
	}
	s.wg.Add(1)
	go func() { // owned by s: ends when the worker exits
		defer s.wg.Done()
		p.wait(s, ctrl)
	}()
	return p
}

// start starts the process and returns the daemon's end of its control pipe.
func (p *Worker) start(a worker.Assignment, argv, env []string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(p.logPath), 0o755); err != nil {
		return nil, err
	}
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child has its own descriptor
	ctrlR, ctrlW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer ctrlW.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{ctrlW} // fd 3: the control pipe
	stdin, err := cmd.StdinPipe()
	if err != nil {
		ctrlR.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		ctrlR.Close()
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	p.cmd, p.stdin = cmd, stdin
	b, _ := json.Marshal(a)
	p.write(append(b, '\n'))
	return ctrlR, nil
}

func (p *Worker) write(b []byte) {
	p.inM.Lock()
	defer p.inM.Unlock()
	p.stdin.Write(b) // a worker that is gone cannot be told anything
}

// wait reads the control pipe until the worker closes it (it exits), reaps
// the process, and records how it ended.
func (p *Worker) wait(s *Supervisor, ctrl *os.File) {
	read := make(chan struct{})
	go func() { // owned by wait: ends when the pipe closes
		defer close(read)
		p.readControl(s, ctrl)
	}()
	err := p.cmd.Wait()
	select {
	case <-read:
	case <-time.After(2 * time.Second): // a grandchild holding fd 3 must not keep us
		ctrl.Close()
		<-read
	}
	ctrl.Close()
	p.mu.Lock()
	p.rep.Exited, p.rep.ExitOK = true, err == nil
	p.rep.Exit = "exited 0"
	if err != nil {
		p.rep.Exit = err.Error()
		if p.rep.FailedAt == 0 {
			p.rep.FailedAt = time.Now().UnixMilli()
		}
		if p.rep.Error == "" {
			p.rep.Error = crashReason(p.logPath)
		}
	}
	p.rep.Saving = 0
	p.mu.Unlock()
	close(p.exited)
	s.env.Poke()
}

func (p *Worker) readControl(s *Supervisor, r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), worker.MaxLine)
	for sc.Scan() {
		var m worker.Msg
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue
		}
		p.mu.Lock()
		switch m.Type {
		case "progress":
			p.rep.Progress = m.Progress
			if m.Progress != nil && m.Progress.History {
				if len(p.rep.Recent) == api.MaxRecent {
					p.rep.Recent = append(p.rep.Recent[:0], p.rep.Recent[1:]...)
				}
				p.rep.Recent = append(p.rep.Recent, *m.Progress)
			}
			if m.Progress != nil && m.Progress.Step > p.rep.Saving {
				p.rep.Saving = 0 // the save before this step is over
			}
		case "saving":
			p.rep.Saving = m.Step
		case "shard":
			if m.Shard != nil {
				p.rep.Shards = append(p.rep.Shards, *m.Shard)
				p.rep.Saving = 0
			}
		case "stopped":
			p.rep.Stopped = m.Step
		case "error":
			p.rep.Error, p.rep.Fatal = coord.Truncate(m.Error, 2000), m.Fatal
			p.rep.Secondary, p.rep.Unusable, p.rep.FailedAt = m.Secondary, m.Unusable, time.Now().UnixMilli()
		case "serving":
			p.rep.Serving = m.Key
		case "result":
			if len(m.Value) <= coord.MaxResultSize && json.Valid(m.Value) {
				p.rep.Result = m.Value
			}
		}
		p.mu.Unlock()
		switch m.Type {
		case "publish":
			s.rdvPut(p.key, m.Key, m.Value)
		case "lookup":
			s.lookup(p, m)
		case "shard":
			if m.Shard != nil {
				s.replicate(p, *m.Shard)
			}
			s.env.Poke()
		}
	}
}

// snapshot is the rank's report, leaving out shards of steps at or below
// committed (they are in Raft already).
func (p *Worker) snapshot(committed int64) api.RankReport {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.rep
	r.Recent = slices.Clone(p.rep.Recent) // the worker's messages shift it in place
	r.Shards = nil
	for _, sh := range p.rep.Shards {
		if sh.Step > committed {
			sh.Replicas = slices.Clone(sh.Replicas)
			r.Shards = append(r.Shards, sh)
		}
	}
	return r
}

// requestStop asks the worker to checkpoint at the next step boundary its
// job's ranks agree on, then exit.
func (p *Worker) requestStop() {
	if p.stdin != nil {
		p.write([]byte(`{"type":"` + worker.MsgCheckpointStop + `"}` + "\n"))
	}
}

// stop asks the worker to end (stdin closed, SIGTERM) and kills it after
// grace; it does not wait.
func (p *Worker) stop(grace time.Duration, wg *sync.WaitGroup) {
	p.mu.Lock()
	already := p.stopping
	p.stopping = true
	p.mu.Unlock()
	if already || p.cmd == nil {
		return
	}
	p.inM.Lock()
	p.stdin.Close()
	p.inM.Unlock()
	p.cmd.Process.Signal(syscall.SIGTERM)
	wg.Add(1)
	go func() { // owned by the supervisor's wg: ends when the worker does
		defer wg.Done()
		select {
		case <-p.exited:
		case <-time.After(grace):
			p.cmd.Process.Kill()
			<-p.exited
		}
	}()
}

// kill ends the worker at once.
func (p *Worker) kill() {
	if p.cmd != nil {
		p.cmd.Process.Kill()
	}
}

// logTail is the last n non-empty lines of a log, joined with " | ".
func logTail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	const window = 4096
	if st, err := f.Stat(); err == nil && st.Size() > window {
		f.Seek(st.Size()-window, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	var lines []string
	for _, l := range bytes.Split(b, []byte("\n")) {
		if t := strings.TrimSpace(string(l)); t != "" {
			lines = append(lines, t)
		}
	}
	lines = lines[max(0, len(lines)-n):]
	return coord.Truncate(strings.Join(lines, " | "), 1000)
}

// crashReason is why a worker that said nothing died: the Go runtime's
// "fatal error:" or "panic:" line in its log (a stack trace follows it, and
// its tail says nothing), with the function it happened in; else the log's
// last lines.
func crashReason(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	reason, inTrace := "", false
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		switch {
		case reason == "" && (strings.HasPrefix(l, "fatal error: ") || strings.HasPrefix(l, "panic: ")):
			reason = l
		case reason != "" && strings.HasPrefix(l, "goroutine ") && strings.HasSuffix(l, ":"):
			inTrace = true
		case inTrace && l != "" && !strings.HasPrefix(l, "runtime.") && !strings.HasPrefix(l, "panic(") && !strings.HasPrefix(l, "/"):
			return coord.Truncate(reason+" (in "+l+")", 1000)
		}
	}
	if reason != "" {
		return coord.Truncate(reason, 1000)
	}
	return logTail(path, 3)
}
