package worker

import (
	"io"
	"strings"
	"time"

	"bloom/api"
)

// Probe opens each device ("npu:3", "cpu:0") and reports what it is, how
// much memory it has and whether it opened; it closes each again. A device
// that panics while being asked is reported unhealthy with the panic.
func Probe(devices []string, threads int) []api.DeviceInfo {
	out := make([]api.DeviceInfo, 0, len(devices))
	for _, name := range devices {
		out = append(out, probeOne(name, threads))
	}
	return out
}

func probeOne(name string, threads int) (info api.DeviceInfo) {
	kind, _, _ := strings.Cut(name, ":")
	info = api.DeviceInfo{Device: name, Backend: backendOf[kind], ProbedAt: time.Now().UnixMilli()}
	defer func() {
		if r := recover(); r != nil {
			info.Healthy, info.Error = false, strings.TrimSpace(strings.SplitN(toString(r), "\n", 2)[0])
		}
	}()
	dev, err := openDevice(name, max(threads, 1))
	if err != nil {
		info.Error = err.Error()
		return info
	}
	if c, ok := dev.(io.Closer); ok {
		defer c.Close()
	}
	if s, ok := dev.(interface{ SoC() string }); ok {
		info.SoC = s.SoC()
	}
	if m, ok := dev.(interface {
		MemInfo() (free, total uint64, err error)
	}); ok {
		free, total, err := m.MemInfo()
		if err != nil {
			info.Error = err.Error()
			return info
		}
		info.MemFree, info.MemTotal = free, total
	}
	// A device that holds a value and gives it back is healthy.
	b := dev.Alloc(4)
	dev.Write(b, []float32{1, 2, 3, 4})
	got := make([]float32, 4)
	dev.Read(got, b)
	if got[3] != 4 {
		info.Error = "a value written to the device did not read back"
		return info
	}
	info.Healthy = true
	return info
}

func toString(r any) string {
	if e, ok := r.(error); ok {
		return e.Error()
	}
	if s, ok := r.(string); ok {
		return s
	}
	return "panic"
}
