package collective

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"bloom/internal/testutil"
)

// A rank in another process: the test binary re-executes itself with
// BLOOM_COLLECTIVE_CHILD=dir:id:rank:size and loops AllReduce over shm
// until the communicator fails.
func TestMain(m *testing.M) {
	if spec := os.Getenv("BLOOM_COLLECTIVE_CHILD"); spec != "" {
		os.Exit(childRank(spec))
	}
	if dir := os.Getenv("BLOOM_COLLECTIVE_NOSPACE"); dir != "" {
		os.Exit(childNoSpace(dir))
	}
	os.Exit(m.Run())
}

func childRank(spec string) int {
	f := strings.Split(spec, ":")
	idb, _ := hex.DecodeString(f[1])
	rank, _ := strconv.Atoi(f[2])
	size, _ := strconv.Atoi(f[3])
	cfg := DefaultConfig()
	cfg.Transport, cfg.ShmDir, cfg.ConnectTimeout = "shm", f[0], 10*time.Second
	cfg.ChunkBytes, cfg.ShmRingBytes = 4096, 16384
	c, err := JoinLocal(context.Background(), cfg, [16]byte(idb), rank, size)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer c.Close()
	buf := make([]float32, 1<<18)
	for {
		if err := c.AllReduceF32(context.Background(), buf, buf, Sum); err != nil {
			return 0
		}
	}
}

// TestShmProcessKilled: rank 2 is a separate process, SIGKILLed while the
// others are inside AllReduce with it; they must fail within a second.
func TestShmProcessKilled(t *testing.T) {
	testutil.CheckLeaks(t, 10*time.Second)
	cfg := testConfig(t, "shm")
	cfg.ChunkBytes, cfg.ShmRingBytes = 4096, 16384
	id := NewCommID()
	const size = 3
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), fmt.Sprintf("BLOOM_COLLECTIVE_CHILD=%s:%s:2:%d", cfg.ShmDir, hex.EncodeToString(id[:]), size))
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer child.Wait()
	defer child.Process.Kill()
	comms := make([]*Comm, size-1)
	errs := make([]error, size-1)
	var wg sync.WaitGroup
	for r := range comms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			comms[r], errs[r] = JoinLocal(context.Background(), cfg, id, r, size)
		}()
	}
	wg.Wait()
	allOK(t, "join", errs)
	defer closeAll(comms)
	for range 3 { // the child takes part
		allOK(t, "allreduce with the child", each(comms, func(c *Comm) error {
			buf := make([]float32, 1<<18)
			return c.AllReduceF32(context.Background(), buf, buf, Sum)
		}))
	}
	var killed time.Time
	var once sync.Once
	errs = each(comms, func(c *Comm) error {
		buf := make([]float32, 1<<18)
		for {
			once.Do(func() {
				killed = time.Now()
				child.Process.Kill()
			})
			if err := c.AllReduceF32(context.Background(), buf, buf, Sum); err != nil {
				return err
			}
		}
	})
	if el := time.Since(killed); el > time.Second {
		t.Errorf("a killed rank was noticed after %v, want < 1s", el)
	}
	for r, err := range errs {
		if !errors.Is(err, ErrPeerLost) && !errors.Is(err, ErrAborted) {
			t.Errorf("rank %d: %v, want ErrPeerLost or ErrAborted", r, err)
		}
	}
}

// TestShmNoSpace: a tmpfs too small for the rings fails the operation with
// an error naming the cause, where touching unbacked pages would kill the
// process with SIGBUS. The child mounts a 256 KiB tmpfs in its own user and
// mount namespaces and allreduces over rings of 1 MiB.
func TestShmNoSpace(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "BLOOM_COLLECTIVE_NOSPACE="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
	}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EINVAL), errors.Is(err, syscall.ENOSPC):
		t.Skipf("no user namespaces here to mount a small tmpfs in: %v", err)
	case errors.As(err, &exit) && exit.ExitCode() == 2:
		t.Skipf("cannot mount a tmpfs here: %s", out)
	case err != nil:
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "no space left on device") {
		t.Fatalf("child: %s", out)
	}
}

// childNoSpace is TestShmNoSpace's child: 0 once both ranks got an error.
func childNoSpace(dir string) int {
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		fmt.Println("mount private:", err)
		return 2
	}
	if err := syscall.Mount("bloom-test", dir, "tmpfs", 0, "size=256k"); err != nil {
		fmt.Println("mount tmpfs:", err)
		return 2
	}
	cfg := DefaultConfig()
	cfg.Transport, cfg.ShmDir, cfg.ShmRingBytes = "shm", dir, 1<<20
	cfg.ConnectTimeout, cfg.OpTimeout = 10*time.Second, 10*time.Second
	id := [16]byte{7}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for r := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := JoinLocal(context.Background(), cfg, id, r, 2)
			if err != nil {
				errs[r] = err
				return
			}
			defer c.Close()
			buf := make([]float32, 128<<10)
			errs[r] = c.AllReduceF32(context.Background(), buf, buf, Sum)
		}()
	}
	wg.Wait()
	for r, err := range errs {
		fmt.Printf("rank %d: %v\n", r, err)
		if err == nil {
			return 1
		}
	}
	return 0
}
