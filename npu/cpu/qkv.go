package cpu

import (
	"fmt"

	"bloom/npu"
)

// checkQKV panics unless the split sizes are consistent.
func checkQKV(op string, B, T, NH, HD, Cap, t0 int) {
	dims(op, B, T, NH, HD, Cap, t0)
	if t0+T > Cap {
		panic(fmt.Sprintf("cpu: %s: times %d..%d do not fit a cache of %d", op, t0, t0+T, Cap))
	}
}

// SplitQKV copies fused qkv (B,T,NH,3,HD) into q (B,NH,T,HD) and into k and
// v (B,NH,Cap,HD) at times t0..t0+T−1.
func (d *Device) SplitQKV(q, k, v, qkv npu.Buf, B, T, NH, HD, Cap, t0 int) {
	const op = "SplitQKV"
	checkQKV(op, B, T, NH, HD, Cap, t0)
	qv := view(op, "q", q, B*NH*T*HD)
	kv := view(op, "k", k, B*NH*Cap*HD)
	vv := view(op, "v", v, B*NH*Cap*HD)
	f := view(op, "qkv", qkv, B*T*NH*3*HD)
	d.pool.parallelFor(B*T, rowGrain(3*NH*HD), func(lo, hi int) {
		for bt := lo; bt < hi; bt++ {
			b, t := bt/T, bt%T
			for h := range NH {
				src := f[(bt*NH+h)*3*HD:]
				bh := b*NH + h
				copy(qv[(bh*T+t)*HD:][:HD], src[:HD])
				copy(kv[(bh*Cap+t0+t)*HD:][:HD], src[HD:2*HD])
				copy(vv[(bh*Cap+t0+t)*HD:][:HD], src[2*HD:3*HD])
			}
		}
	})
}

// MergeQKVBackward adds dq (B,NH,T,HD) and dk, dv (B,NH,Cap,HD) at times
// t0..t0+T−1 into dqkv (B,T,NH,3,HD).
func (d *Device) MergeQKVBackward(dqkv, dq, dk, dv npu.Buf, B, T, NH, HD, Cap, t0 int) {
	const op = "MergeQKVBackward"
	checkQKV(op, B, T, NH, HD, Cap, t0)
	f := view(op, "dqkv", dqkv, B*T*NH*3*HD)
	qv := view(op, "dq", dq, B*NH*T*HD)
	kv := view(op, "dk", dk, B*NH*Cap*HD)
	vv := view(op, "dv", dv, B*NH*Cap*HD)
	d.pool.parallelFor(B*T, rowGrain(3*NH*HD), func(lo, hi int) {
		for bt := lo; bt < hi; bt++ {
			b, t := bt/T, bt%T
			for h := range NH {
				dst := f[(bt*NH+h)*3*HD:]
				bh := b*NH + h
				add(dst[:HD], qv[(bh*T+t)*HD:])
				add(dst[HD:2*HD], kv[(bh*Cap+t0+t)*HD:])
				add(dst[2*HD:3*HD], vv[(bh*Cap+t0+t)*HD:])
			}
		}
	})
}
