package cpu

import (
	"fmt"
	"sync"

	"bloom/npu"
)

func init() {
	npu.Register("cpu", open)
}

// open is the registry's opener. Every Options.Index names the same host
// CPU, so ranks that each open "their" device share the cores.
func open(o npu.Options) (npu.Device, error) {
	if o.Threads < 0 {
		return nil, fmt.Errorf("cpu: Threads = %d; want 0 (every core) or a positive count", o.Threads)
	}
	return New(o.Threads), nil
}

// Device is the pure-Go backend. Its kernels may be called from several
// goroutines at once on disjoint outputs; those that need the device's
// scratch memory (attention, SumSquares) take turns. No method keeps a
// buffer or slice it is given after it returns.
type Device struct {
	pool *pool

	mu  sync.Mutex // guards the scratch memory below
	f32 []float32
	f64 []float64
}

var _ npu.Device = (*Device)(nil)

// New returns a device computing on threads goroutines; threads ≤ 0 means
// GOMAXPROCS.
func New(threads int) *Device {
	return &Device{pool: newPool(threads)}
}

// Name returns "cpu".
func (d *Device) Name() string { return "cpu" }

// Threads returns the number of goroutines a kernel splits its work across.
func (d *Device) Threads() int { return d.pool.threads }

// scratch32 returns n float32 values of scratch memory, kept between calls.
// The caller holds d.mu until it is done with them.
func (d *Device) scratch32(n int) []float32 {
	if cap(d.f32) < n {
		d.f32 = make([]float32, n)
	}
	return d.f32[:n]
}

// scratch64 is scratch32 for float64 values.
func (d *Device) scratch64(n int) []float64 {
	if cap(d.f64) < n {
		d.f64 = make([]float64, n)
	}
	return d.f64[:n]
}
