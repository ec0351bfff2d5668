package supervisor

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"bloom/api"
	"bloom/daemon/worker"
)

// Probe asks a short-lived worker process (the same command and
// environment as a rank's) to open each of devices ("npu:3") and report
// it, so that the daemon itself never opens an NPU. It returns when the
// process has exited, or with ctx.
func (s *Supervisor) Probe(ctx context.Context, devices []string) ([]api.DeviceInfo, error) {
	argv, err := s.argv()
	if err != nil {
		return nil, err
	}
	ctrlR, ctrlW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer ctrlR.Close()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), s.env.WorkerEnv...)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.ExtraFiles = []*os.File{ctrlW}
	b, _ := json.Marshal(worker.Assignment{Node: s.env.Node, Probe: devices, Threads: 1})
	cmd.Stdin = bytes.NewReader(append(b, '\n'))
	if err := cmd.Start(); err != nil {
		ctrlW.Close()
		return nil, fmt.Errorf("probe: start %s: %w", argv[0], err)
	}
	ctrlW.Close()
	var out []api.DeviceInfo
	sc := bufio.NewScanner(ctrlR)
	sc.Buffer(make([]byte, 64<<10), worker.MaxLine)
	for sc.Scan() {
		var m worker.Msg
		if json.Unmarshal(sc.Bytes(), &m) == nil && m.Type == "devices" {
			out = m.Devices
		}
	}
	if err := cmd.Wait(); err != nil || out == nil {
		return nil, fmt.Errorf("probe of %s: %v: %s", strings.Join(devices, ","), err, strings.TrimSpace(logs.String()))
	}
	return out, nil
}

// Busy lists the devices ("npu:3") this node's live workers hold.
func (s *Supervisor) Busy() map[string]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	busy := map[string]bool{}
	for _, p := range s.procs {
		select {
		case <-p.exited:
		default:
			busy[p.device] = true
		}
	}
	return busy
}

// Serving is the address a live worker of job answers HTTP on (a serve
// job's rank), or "".
func (s *Supervisor) Serving(job string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for key, p := range s.procs {
		if key.Job != job {
			continue
		}
		select {
		case <-p.exited:
			continue
		default:
		}
		p.mu.Lock()
		addr := p.rep.Serving
		p.mu.Unlock()
		if addr != "" {
			return addr
		}
	}
	return ""
}
