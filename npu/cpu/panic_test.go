package cpu_test

import (
	"fmt"
	"strings"
	"testing"

	"bloom/npu"
	"bloom/npu/cpu"
)

// foreign is a buffer of some other backend.
type foreign struct{}

func (foreign) Len() int                 { return 4 }
func (foreign) Slice(off, n int) npu.Buf { return foreign{} }

// TestProgrammerErrorsPanic checks that sizes that do not match their
// buffers, and ids the caller should have validated, panic with a message
// that names the kernel and the argument.
func TestProgrammerErrorsPanic(t *testing.T) {
	dev := cpu.New(2)
	b := dev.Alloc(16)
	s := npu.AttentionShape{B: 1, Tq: 3, Tk: 2, NH: 1, HD: 2, Cap: 2, Slopes: []float32{1}}
	for _, c := range []struct {
		want string
		f    func()
	}{
		{"not a cpu buffer", func() { cpu.Floats(foreign{}) }},
		{"Slice(10, 7) of a buffer of 16 values", func() { b.Slice(10, 7) }},
		{"Slice(-1, 2)", func() { b.Slice(-1, 2) }},
		{"Gemm: c has 16 values, need 20", func() { dev.Gemm(false, false, 4, 5, 1, 1, b, 1, b, 5, 0, b, 5) }},
		{"Gemm: leading dimension of a is 2, need at least 3", func() { dev.Gemm(false, false, 2, 2, 3, 1, b, 2, b, 2, 0, b, 2) }},
		{"LayerNormForward: weight has 16 values, need 17", func() {
			dev.LayerNormForward(dev.Alloc(17), b, b, dev.Alloc(17), b, b, 1, 17, 1e-5)
		}},
		{"LayerNormForward: negative size -1", func() { dev.LayerNormForward(b, b, b, b, b, b, -1, -1, 1e-5) }},
		{"Add: a has 4 values", func() { dev.Add(b, dev.Alloc(4), b, 8) }},
		{"AttentionForward: Tq = 3 exceeds Tk = 2", func() { dev.AttentionForward(b, b, b, b, b, s) }},
		{"CrossEntropy: targets[1] = 5 is outside [0,4)", func() { dev.CrossEntropy(b, nil, b, []int32{0, 5}, 2, 4, 1) }},
		{"CrossEntropy: 1 targets for 2 rows", func() { dev.CrossEntropy(b, nil, b, []int32{0}, 2, 4, 1) }},
		{"EmbeddingForward: ids[0] = 4 is outside the table's 4 rows", func() { dev.EmbeddingForward(b, b, []int32{4}, 4) }},
		{"EmbeddingBackward: ids[1] = -2", func() { dev.EmbeddingBackward(b, b, []int32{0, -2}, 4) }},
		{"SplitQKV: times 1..3 do not fit a cache of 2", func() { dev.SplitQKV(b, b, b, b, 1, 2, 1, 1, 2, 1) }},
	} {
		got := catch(c.f)
		if !strings.Contains(got, c.want) {
			t.Errorf("panic %q, want one containing %q", got, c.want)
		}
	}
}

// catch returns the message f panics with, or "" if it returns.
func catch(f func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprint(r)
		}
	}()
	f()
	return ""
}

// TestFloatsSharesMemory checks that Floats returns the buffer's own memory,
// views included, and that a host slice converted to Buf is a buffer.
func TestFloatsSharesMemory(t *testing.T) {
	dev := cpu.New(1)
	b := dev.Alloc(6)
	v := b.Slice(2, 3)
	cpu.Floats(v)[1] = 7
	if got := cpu.Floats(b)[3]; got != 7 {
		t.Errorf("parent[3] = %v after writing view[1], want 7", got)
	}
	if cap(cpu.Floats(v)) != 3 {
		t.Errorf("a view's capacity is %d, want 3: appending must not overwrite its neighbours", cap(cpu.Floats(v)))
	}
	host := []float32{1, 2, 3}
	dev.Scale(cpu.Buf(host), 2, 3)
	if host[2] != 6 {
		t.Errorf("Scale on cpu.Buf(host) left %v", host)
	}
	if cpu.Floats(nil) != nil {
		t.Error("Floats(nil) is not nil")
	}
}
