// Package suggest finds the known name nearest a mistyped one, for
// "did you mean" hints (flags, job-file keys).
package suggest

import "strings"

// Nearest is the name closest to s by edit distance ("micro-batch" counts
// as one edit from "micro-batch-size": a prefix of four or more), or ""
// when none is near (more than a third of s differs). Ties go to the
// earlier name.
func Nearest(s string, names []string) string {
	best, bestD := "", len(s)/3+1
	for _, n := range names {
		d := Distance(s, n)
		if len(s) >= 4 && strings.HasPrefix(n, s) {
			d = 1
		}
		if d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

// Distance is the edit distance between a and b (bytes): insertions,
// deletions, substitutions and swaps of two neighbours ("jbo" is one edit
// from "job"), each counting one (optimal string alignment).
func Distance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
