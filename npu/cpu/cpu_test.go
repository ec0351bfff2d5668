package cpu_test

import (
	"errors"
	"strings"
	"testing"

	"bloom/npu"
	"bloom/npu/cpu"
	"bloom/npu/nputest"
)

func TestConformance(t *testing.T) {
	for _, threads := range []int{0, 1, 3} {
		t.Run(name(threads), func(t *testing.T) { nputest.Run(t, cpu.New(threads)) })
	}
}

// TestSameAcrossThreads checks that the thread count never changes a bit.
func TestSameAcrossThreads(t *testing.T) {
	nputest.Same(t, cpu.New(1), cpu.New(2), cpu.New(3), cpu.New(8))
}

func name(threads int) string {
	if threads == 0 {
		return "threads=all"
	}
	return "threads=" + string(rune('0'+threads))
}

func TestRegistry(t *testing.T) {
	dev, err := npu.Open("cpu", npu.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	if dev.Name() != "cpu" || dev.Threads() != 2 {
		t.Errorf("Open(cpu, 2 threads) = %s with %d threads", dev.Name(), dev.Threads())
	}
	if _, err := npu.Open("cpu", npu.Options{Threads: -1}); err == nil {
		t.Error("Open(cpu, -1 threads) succeeded")
	}
	_, err = npu.Open("no-such-backend", npu.Options{})
	if !errors.Is(err, npu.ErrUnknownBackend) || !strings.Contains(err.Error(), "cpu") {
		t.Errorf("Open(no-such-backend) = %v, want ErrUnknownBackend listing cpu", err)
	}
}

func TestNewDefaultsToEveryCore(t *testing.T) {
	if got := cpu.New(0).Threads(); got < 1 {
		t.Errorf("New(0).Threads() = %d", got)
	}
}

func BenchmarkKernels(b *testing.B) { nputest.Benchmarks(b, cpu.New(0)) }
