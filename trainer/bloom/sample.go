package bloom

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"
)

// Greedy picks the highest logit (the first one on ties).
func Greedy(_ int, logits []float32) int32 {
	best := 0
	for i, v := range logits {
		if v > logits[best] {
			best = i
		}
	}
	return int32(best)
}

// Sampler draws tokens from temperature-scaled logits restricted to the top k
// tokens (with any tied with the k-th) and then to the smallest set whose
// probability reaches top p, as Hugging Face's TopK and TopP warpers do. It
// is deterministic for a seed.
type Sampler struct {
	Temperature float64 // > 0
	TopK        int     // 0 = no limit
	TopP        float64 // in (0,1]; 1 = no limit
	rng         *rand.Rand
	idx         []int
	probs       []float64
}

// NewSampler returns a sampler seeded with seed.
func NewSampler(temperature float64, topK int, topP float64, seed uint64) *Sampler {
	return &Sampler{Temperature: temperature, TopK: topK, TopP: topP, rng: rand.New(rand.NewPCG(seed, 0x73616d706c65))}
}

// Pick implements GenerateOptions.Pick.
func (s *Sampler) Pick(_ int, logits []float32) int32 {
	V := len(logits)
	s.idx = s.idx[:0]
	for i := 0; i < V; i++ {
		s.idx = append(s.idx, i)
	}
	sort.SliceStable(s.idx, func(a, b int) bool { return logits[s.idx[a]] > logits[s.idx[b]] })
	keep := V
	if s.TopK > 0 && s.TopK < keep {
		keep = s.TopK
		// Tokens tied with the k-th stay, as Hugging Face's TopKLogitsWarper
		// keeps every score not below the k-th.
		for keep < V && logits[s.idx[keep]] == logits[s.idx[keep-1]] {
			keep++
		}
	}
	s.probs = s.probs[:0]
	maxv, sum := float64(logits[s.idx[0]])/s.Temperature, 0.0
	for _, i := range s.idx[:keep] {
		p := math.Exp(float64(logits[i])/s.Temperature - maxv)
		s.probs = append(s.probs, p)
		sum += p
	}
	if s.TopP > 0 && s.TopP < 1 {
		cum := 0.0
		for j, p := range s.probs {
			cum += p / sum
			if cum >= s.TopP {
				keep = j + 1
				break
			}
		}
		s.probs = s.probs[:keep]
		sum = 0
		for _, p := range s.probs {
			sum += p
		}
	}
	u := s.rng.Float64() * sum
	for j, p := range s.probs {
		u -= p
		if u < 0 {
			return int32(s.idx[j])
		}
	}
	return int32(s.idx[len(s.probs)-1])
}

// LogProb is log softmax(logits)[id], computed in float64.
func LogProb(logits []float32, id int32) float64 {
	return float64(logits[id]) - LogNorm(logits)
}

// LogNorm is the log-partition log Σ_j e^(logits[j]) of a row, computed
// in float64 (m + log Σ e^(logits−m) with m the maximum).
func LogNorm(logits []float32) float64 {
	m := math.Inf(-1)
	for _, v := range logits {
		m = max(m, float64(v))
	}
	sum := 0.0
	for _, v := range logits {
		sum += math.Exp(float64(v) - m)
	}
	return m + math.Log(sum)
}

// Sampling says how a request's tokens are picked: greedily at temperature
// 0, otherwise by a Sampler of these settings (TopP 0 meaning 1).
type Sampling struct {
	Temperature float64
	TopK        int
	TopP        float64
	Seed        uint64
}

// Picker returns the pick function of s (GenerateOptions.Pick's kind), a
// fresh sampler state for one sequence.
func (s Sampling) Picker() func(int, []float32) int32 {
	if s.Temperature <= 0 {
		return Greedy
	}
	topP := s.TopP
	if topP <= 0 {
		topP = 1
	}
	return NewSampler(s.Temperature, s.TopK, topP, s.Seed).Pick
}

// Choice is a picked token with its log-probability and, when asked for,
// the likeliest tokens' (best first).
type Choice struct {
	ID      int32
	Logprob float64
	Top     []Alt
}

// Alt is one of the likeliest tokens at a position.
type Alt struct {
	ID      int32
	Logprob float64
}

// Choose describes id, picked from logits, with the n likeliest tokens
// (ties in id order); norm is the row's log-partition log Σ_j e^(logits[j])
// (LogNorm, or the device's), so that log softmax(logits)[j] = logits[j] − norm.
func Choose(logits []float32, id int32, n int, norm float64) Choice {
	c := Choice{ID: id, Logprob: float64(logits[id]) - norm}
	if n <= 0 {
		return c
	}
	var best []int // the n likeliest so far, best first; a later id ranks after an equal earlier one
	for i, v := range logits {
		k := len(best)
		for k > 0 && v > logits[best[k-1]] {
			k--
		}
		if k < n {
			best = slices.Insert(best, k, i)[:min(n, len(best)+1)]
		}
	}
	for _, i := range best {
		c.Top = append(c.Top, Alt{ID: int32(i), Logprob: float64(logits[i]) - norm})
	}
	return c
}
