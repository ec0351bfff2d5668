//go:build !amd64 || purego

package half

// kernels lists the kernel sets this CPU can run, slowest first.
var kernels = []kernelSet{scalarSet}
