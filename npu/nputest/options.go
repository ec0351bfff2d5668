package nputest

import (
	"strings"
	"testing"

	"bloom/npu"
)

// Options state where a backend computes with less precision than the
// contract's float32, so that the suite's tolerances can say so instead of
// being loosened by hand. The zero value is the contract: float32 GEMMs and
// both half types.
type Options struct {
	// GemmRoundoff is the relative error with which a float32 GEMM rounds
	// each operand before multiplying: 0 for a float32 GEMM, 2⁻¹¹ for one
	// that multiplies in fp16 with float32 accumulation (Ascend 910's cube
	// under ALLOW_FP32_DOWN_PRECISION). A product of two rounded operands
	// errs by 2r + r² relative to the exact one, so Gemm's tolerance and
	// attention's (whose scores, outputs and gradients are GEMMs) grow by
	// that much per term. Operands are drawn in fp16's normal range, so
	// underflow is not counted. GemmHalf is unaffected: its operands are
	// already halves.
	GemmRoundoff float64
	// NoBF16 skips every bf16 subtest, for a device that has no bf16
	// (Ascend 910 refuses AllocHalf(BF16)); the skip says why.
	NoBF16 bool
}

// RunWith runs the conformance suite against dev as Run does, with the
// tolerances and skips o states.
func RunWith(t *testing.T, dev npu.Device, o Options) {
	t.Helper()
	run(t, dev, o)
}

// gemmTerm is the relative error of one GEMM product term beyond float32's
// rounding of the sums: 2r + r² for operands rounded with roundoff r.
func (o Options) gemmTerm() float64 {
	r := o.GemmRoundoff
	return 2*r + r*r
}

// skip skips t when it tests a half type o rules out. The half subtests are
// named after their type ("bf16", "bf16,tA=…"), which is what it matches.
func (o Options) skip(t *testing.T, name string) {
	if o.NoBF16 && strings.HasPrefix(name, npu.BF16.String()) {
		t.Skip("the device has no bf16 (Options.NoBF16)")
	}
}

// halfTypes returns the half types o lets the suite use.
func (o Options) halfTypes() []npu.DType {
	if o.NoBF16 {
		return []npu.DType{npu.F16}
	}
	return halfTypes
}

// lab returns a determinism scenario's lab on e's device, using the half
// types e's options allow.
func (e *env) lab(name string) *lab {
	l := newLab(e.dev, name)
	l.types = e.opt.halfTypes()
	return l
}
