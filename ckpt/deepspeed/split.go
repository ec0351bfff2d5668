package deepspeed

import (
	"fmt"
	"slices"
)

// matrix returns the rows and columns of a shape (a vector is one column).
func matrix(shape []int) (int, int) {
	switch len(shape) {
	case 1:
		return shape[0], 1
	case 2:
		return shape[0], shape[1]
	}
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n, 1
}

// shard cuts rank r's part of a row-major tensor of shape into a fresh
// slice, and returns it with its shape.
func shard(data []float32, shape []int, s split, tp, r int) ([]float32, []int, error) {
	if s == replicated || tp == 1 {
		return data, shape, nil
	}
	m, n := matrix(shape)
	out := slices.Clone(shape)
	switch s {
	case rows:
		if m%tp != 0 {
			return nil, nil, fmt.Errorf("%w: dim 0 of %v does not divide by TP %d", ErrLayout, shape, tp)
		}
		k := m / tp
		out[0] = k
		return data[r*k*n : (r+1)*k*n], out, nil
	default:
		if len(shape) != 2 || n%tp != 0 {
			return nil, nil, fmt.Errorf("%w: dim 1 of %v does not divide by TP %d", ErrLayout, shape, tp)
		}
		k := n / tp
		out[1] = k
		piece := make([]float32, 0, m*k)
		for i := range m {
			piece = append(piece, data[i*n+r*k:i*n+(r+1)*k]...)
		}
		return piece, out, nil
	}
}

// merge joins the tensor-parallel parts of one tensor. Replicated parts
// that all agree give rank 0's; parts that differ (after training that let
// them drift) are averaged, as transformers' BLOOM converter does.
func merge(parts [][]float32, shapes [][]int, s split) ([]float32, []int, error) {
	if len(parts) == 1 {
		return parts[0], shapes[0], nil
	}
	for i := range shapes[1:] {
		if !slices.Equal(shapes[i+1], shapes[0]) {
			return nil, nil, fmt.Errorf("%w: tensor-parallel parts of shapes %v and %v", ErrLayout, shapes[0], shapes[i+1])
		}
	}
	shape := slices.Clone(shapes[0])
	m, n := matrix(shape)
	switch s {
	case replicated:
		return average(parts), shape, nil
	case rows:
		out := make([]float32, 0, len(parts)*m*n)
		for _, p := range parts {
			out = append(out, p...)
		}
		shape[0] *= len(parts)
		return out, shape, nil
	default:
		out := make([]float32, 0, len(parts)*m*n)
		for i := range m {
			for _, p := range parts {
				out = append(out, p[i*n:(i+1)*n]...)
			}
		}
		shape[1] *= len(parts)
		return out, shape, nil
	}
}

func average(parts [][]float32) []float32 {
	same := true
	for _, p := range parts[1:] {
		same = same && slices.Equal(p, parts[0])
	}
	if same {
		return parts[0]
	}
	out := make([]float32, len(parts[0]))
	for i := range out {
		var s float64
		for _, p := range parts {
			s += float64(p[i])
		}
		out[i] = float32(s / float64(len(parts)))
	}
	return out
}

// PaddedVocab is the seed's vocab_size_with_padding: the smallest size ≥ v
// that divides by divisibleBy·tp.
func PaddedVocab(v, divisibleBy, tp int) int {
	m := max(divisibleBy, 1) * tp
	return (v + m - 1) / m * m
}

// padRows pads a [v, h] embedding to padded rows. Like the seed's pad_embed
// it appends copies of the last rows (padded-v of them), not zeros.
func padRows(data []float32, shape []int, padded int) ([]float32, []int) {
	v, h := shape[0], shape[1]
	if padded <= v {
		return data, shape
	}
	extra := padded - v
	out := make([]float32, 0, padded*h)
	out = append(out, data...)
	for extra > 0 {
		k := min(extra, v)
		out = append(out, data[(v-k)*h:]...)
		extra -= k
	}
	return out, []int{padded, h}
}
