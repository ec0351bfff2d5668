//go:build !purego

package collective

//go:noescape
func sumF32SSE(d, a, b *float32, n int)

// sumF32 is d = a + b, the hot kernel of a float32 gradient allreduce.
func sumF32(d, a, b []float32) {
	a, b = a[:len(d)], b[:len(d)]
	n := len(d) &^ 15
	if n > 0 {
		sumF32SSE(&d[0], &a[0], &b[0], n)
	}
	sumF32Go(d[n:], a[n:], b[n:])
}
