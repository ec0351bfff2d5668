package data

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// SplitRanges is Megatron's get_train_valid_test_split_: the weights in
// split ("969,30,1", "98/2/0" or "100"; missing ones are 0, extra ones
// ignored) are normalised, each range gets round(w·n) sequences (Python's
// round, half to even) cumulatively, and every boundary shifts by the
// rounding excess so the last is n. Train is [r[0],r[1]), valid [r[1],r[2]),
// test [r[2],r[3]).
func SplitRanges(split string, n int) ([4]int, error) {
	w, err := splitWeights(split)
	if err != nil {
		return [4]int{}, err
	}
	sum := w[0] + w[1] + w[2]
	if !(sum > 0) {
		return [4]int{}, fmt.Errorf("data: --split %q: the weights must add up to more than 0", split)
	}
	var r [4]int
	for i := range w {
		r[i+1] = r[i] + int(math.RoundToEven(w[i]/sum*float64(n)))
	}
	diff := r[3] - n
	for i := 1; i < 4; i++ {
		r[i] -= diff
	}
	for i := 1; i < 4; i++ {
		if r[i] < r[i-1] || r[i] < 0 {
			return [4]int{}, fmt.Errorf("data: --split %q over %d sequences gives ranges %v that are out of order", split, n, r)
		}
	}
	return r, nil
}

// splitWeights parses the three weights of a split string.
func splitWeights(split string) ([3]float64, error) {
	sep := ""
	if strings.Contains(split, ",") {
		sep = ","
	} else if strings.Contains(split, "/") {
		sep = "/"
	}
	parts := []string{split}
	if sep != "" {
		parts = strings.Split(split, sep)
	}
	var w [3]float64
	for i, p := range parts {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
			return w, fmt.Errorf("data: --split %q: %q is not a weight (want non-negative numbers such as 969,30,1)", split, p)
		}
		if i < 3 {
			w[i] = v
		}
	}
	return w, nil
}

// CheckSplit reports a --split that SplitRanges cannot use: not three
// non-negative weights (or fewer), or weights that add up to 0.
func CheckSplit(split string) error {
	_, err := SplitRanges(split, 1000)
	return err
}
