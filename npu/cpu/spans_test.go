package cpu

import (
	"slices"
	"testing"

	"bloom/npu"
)

// spanless hides the device's CopySpans, so npu.CopySpans copies span by
// span through Copy.
type spanless struct{ npu.Device }

// TestCopySpans: the device's CopySpans and npu.CopySpans's span-by-span
// fallback copy the same values to the same places, leaving the rest.
func TestCopySpans(t *testing.T) {
	d := New(1)
	src := make([]float32, 64)
	for i := range src {
		src[i] = float32(i + 1)
	}
	spans := []npu.Span{{Dst: 0, Src: 10, N: 4}, {Dst: 20, Src: 0, N: 8}, {Dst: 9, Src: 60, N: 4}}
	var got [2][]float32
	for k, dev := range []npu.Device{d, spanless{d}} {
		dst := make([]float32, 32)
		npu.CopySpans(dev, Buf(dst), Buf(src), spans)
		got[k] = dst
	}
	want := make([]float32, 32)
	for _, s := range spans {
		copy(want[s.Dst:s.Dst+s.N], src[s.Src:s.Src+s.N])
	}
	if !slices.Equal(got[0], want) || !slices.Equal(got[1], want) {
		t.Fatalf("CopySpans %v, span by span %v, want %v", got[0], got[1], want)
	}
}
