package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// process is one started bloomd. It runs in a process group of its own,
// which its workers share (the daemon starts them without a group of
// their own), so killing the group is what a machine crash does.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the process is reaped
	err  error         // how it ended; read after done
}

// startProcess starts argv with stdout and stderr appended to logPath;
// its reaper goroutine ends when the process does.
func startProcess(argv, env []string, logPath string) (*process, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("soak: %w", err)
	}
	defer logf.Close() // the child has its own descriptor
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// A group of its own; and should the soak itself be SIGKILLed, the
	// kernel kills the daemon (its workers then see their pipes close).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("soak: start %s: %w", argv[0], err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() { // owned by p: ends when the process does
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// crash SIGKILLs the process group and, in case a worker was ever given a
// group of its own, each worker child found before: nothing of the node
// runs on, no one is told.
func (p *process) crash() {
	children, _ := workerChildren(p.pid())
	syscall.Kill(-p.pid(), syscall.SIGKILL)
	for _, c := range children {
		syscall.Kill(c, syscall.SIGKILL)
	}
}

// procStat is what /proc/PID/stat says of a process.
type procStat struct {
	pid, ppid, pgrp int
	state           byte
}

func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	// "pid (comm) state ppid pgrp ...": comm may hold spaces and parens.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, errors.New("soak: odd /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 3 {
		return procStat{}, errors.New("soak: short /proc stat")
	}
	ppid, err1 := strconv.Atoi(f[1])
	pgrp, err2 := strconv.Atoi(f[2])
	if err := errors.Join(err1, err2); err != nil {
		return procStat{}, err
	}
	return procStat{pid: pid, ppid: ppid, pgrp: pgrp, state: f[0][0]}, nil
}

// processes lists every live (not zombie) process in /proc.
func processes() ([]procStat, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("soak: %w", err)
	}
	var out []procStat
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := readStat(pid); err == nil && st.state != 'Z' && st.state != 'X' {
			out = append(out, st)
		}
	}
	return out, nil
}

// workerChildren lists the `bloomd worker` processes whose parent is pid.
func workerChildren(pid int) ([]int, error) {
	all, err := processes()
	if err != nil {
		return nil, err
	}
	var out []int
	for _, st := range all {
		if st.ppid == pid && isWorker(st.pid) {
			out = append(out, st.pid)
		}
	}
	return out, nil
}

func isWorker(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return false
	}
	argv := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	return len(argv) > 1 && argv[1] == "worker"
}

// groupAlive reports whether any live process is in process group pgrp.
func groupAlive(pgrp int) bool {
	all, err := processes()
	if err != nil {
		return true
	}
	for _, st := range all {
		if st.pgrp == pgrp {
			return true
		}
	}
	return false
}
