package trainer

import "bloom/npu"

// hostFloats returns n float32s to stage device data in for the network
// (gradient buckets, pipeline activations): page-locked memory when the
// device has it (npu.HostMemory, an NPU's DMA copies it without staging),
// else Go memory. freeHost gives it back.
func hostFloats(d npu.Device, n int) []float32 {
	if h, ok := d.(npu.HostMemory); ok && n > 0 {
		return h.AllocHost(n)
	}
	return make([]float32, n)
}

// freeHost frees what hostFloats returned.
func freeHost(d npu.Device, b []float32) {
	if h, ok := d.(npu.HostMemory); ok && len(b) > 0 {
		h.FreeHost(b)
	}
}
