package nputest

import (
	"math"
)

// testMemory checks Alloc, Write, Read, Copy, Fill and Slice views. Memory
// moves values without arithmetic, so every check is bit for bit.
func testMemory(e *env) {
	for _, n := range []int{0, 1, 7, 1000} {
		b := e.dev.Alloc(n)
		if b.Len() != n {
			e.t.Fatalf("Alloc(%d).Len() = %d", n, b.Len())
		}
		e.same(name("Alloc(%d)", n), e.get(b), make([]float32, n))
	}
	x := e.normal(10, 0, 1)

	b := e.dev.Alloc(10)
	e.dev.Write(b, x)
	e.same("Write then Read", e.get(b), x)

	short := e.dev.Alloc(4)
	e.dev.Write(short, x) // host longer: copies short.Len() values
	e.same("Write of a longer host slice", e.get(short), x[:4])

	e.dev.Fill(b, 7)
	e.dev.Write(b, x[:3]) // host shorter: the rest is untouched
	e.same("Write of a shorter host slice", e.get(b), []float32{x[0], x[1], x[2], 7, 7, 7, 7, 7, 7, 7})

	e.dev.Write(b, x)
	host := []float32{-1, -1, -1}
	e.dev.Read(host, b) // host shorter: copies len(host) values
	e.same("Read into a shorter host slice", host, x[:3])
	host = []float32{-1, -1, -1, -1, -1, -1}
	e.dev.Read(host, short) // host longer: the rest is untouched
	e.same("Read into a longer host slice", host, []float32{x[0], x[1], x[2], x[3], -1, -1})

	c := e.dev.Alloc(10)
	e.dev.Copy(c, b)
	e.same("Copy", e.get(c), x)

	e.dev.Fill(c, 2.5)
	e.same("Fill", e.get(c), []float32{2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5})
	negZero := float32(math.Copysign(0, -1))
	e.dev.Fill(c, negZero)
	for i, v := range e.get(c) {
		if math.Float32bits(v) != math.Float32bits(negZero) {
			e.t.Errorf("Fill(−0)[%d] = %v, want −0", i, v)
			break
		}
	}

	big := e.dev.Alloc(300001) // large enough to be split across threads
	e.dev.Fill(big, 3)
	for i, v := range e.get(big) {
		if v != 3 {
			e.t.Fatalf("Fill of %d values: [%d] = %v, want 3", big.Len(), i, v)
		}
	}

	testViews(e, x)
}

// testViews checks that Slice views share memory with their parent and with
// each other.
func testViews(e *env, x []float32) {
	parent := e.dev.Alloc(10)
	v := parent.Slice(3, 4)
	if v.Len() != 4 {
		e.t.Fatalf("Slice(3, 4).Len() = %d", v.Len())
	}
	e.dev.Write(v, []float32{1, 2, 3, 4})
	e.same("parent after writing a view", e.get(parent), []float32{0, 0, 0, 1, 2, 3, 4, 0, 0, 0})
	w := v.Slice(1, 2) // a view of a view
	e.dev.Fill(w, 9)
	e.same("view of a view", e.get(parent), []float32{0, 0, 0, 1, 9, 9, 4, 0, 0, 0})
	e.dev.Copy(parent.Slice(0, 3), parent.Slice(7, 3))
	e.dev.Copy(parent.Slice(7, 3), v.Slice(0, 3))
	e.same("Copy between views", e.get(parent), []float32{0, 0, 0, 1, 9, 9, 4, 1, 9, 9})
	e.same("empty view", e.get(parent.Slice(10, 0)), nil)
	e.dev.Write(parent, x)
	e.same("Read of a view", e.get(parent.Slice(5, 5)), x[5:])
}
