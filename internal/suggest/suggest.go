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

// Distance is Levenshtein's edit distance between a and b (bytes).
func Distance(a, b string) int {
	prev, cur := make([]int, len(b)+1), make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
