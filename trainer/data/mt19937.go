package data

// RandomState reproduces numpy's legacy np.random.RandomState(seed) bit for
// bit, as far as Megatron's index building uses it: the MT19937 generator
// seeded by mt19937_seed, next32/next64, random_interval and the legacy
// Fisher–Yates shuffle (numpy/random/src/mt19937/mt19937.c,
// numpy/random/src/distributions/distributions.c, mtrand.pyx shuffle).
type RandomState struct {
	key [mtN]uint32
	pos int
}

const (
	mtN     = 624
	mtM     = 397
	mtUpper = 0x80000000
	mtLower = 0x7fffffff
	mtMatA  = 0x9908b0df
)

// NewRandomState is np.random.RandomState(seed) for an integer seed; numpy
// accepts seeds in [0, 2^32−1], which is what uint32 holds.
func NewRandomState(seed uint32) *RandomState {
	r := &RandomState{pos: mtN}
	s := seed
	for i := 0; i < mtN; i++ {
		r.key[i] = s
		s = 1812433253*(s^(s>>30)) + uint32(i) + 1
	}
	return r
}

// generate refills the state (mt19937_gen).
func (r *RandomState) generate() {
	k := &r.key
	var i int
	for ; i < mtN-mtM; i++ {
		y := k[i]&mtUpper | k[i+1]&mtLower
		k[i] = k[i+mtM] ^ y>>1 ^ -(y&1)&mtMatA
	}
	for ; i < mtN-1; i++ {
		y := k[i]&mtUpper | k[i+1]&mtLower
		k[i] = k[i+(mtM-mtN)] ^ y>>1 ^ -(y&1)&mtMatA
	}
	y := k[mtN-1]&mtUpper | k[0]&mtLower
	k[mtN-1] = k[mtM-1] ^ y>>1 ^ -(y&1)&mtMatA
	r.pos = 0
}

// Uint32 is numpy's next_uint32 (mt19937_next with tempering).
func (r *RandomState) Uint32() uint32 {
	if r.pos == mtN {
		r.generate()
	}
	y := r.key[r.pos]
	r.pos++
	y ^= y >> 11
	y ^= y << 7 & 0x9d2c5680
	y ^= y << 15 & 0xefc60000
	return y ^ y>>18
}

// Uint64 is numpy's next_uint64 for MT19937: two draws, the first high.
func (r *RandomState) Uint64() uint64 {
	hi := uint64(r.Uint32())
	return hi<<32 | uint64(r.Uint32())
}

// Interval is numpy's random_interval(max): a uniform integer in [0, max]
// by masked rejection, drawing 32 bits while max fits in them and 64 bits
// beyond.
func (r *RandomState) Interval(max uint64) uint64 {
	if max == 0 {
		return 0
	}
	mask := max
	mask |= mask >> 1
	mask |= mask >> 2
	mask |= mask >> 4
	mask |= mask >> 8
	mask |= mask >> 16
	mask |= mask >> 32
	if max <= 0xffffffff {
		for {
			if v := uint64(r.Uint32()) & mask; v <= max {
				return v
			}
		}
	}
	for {
		if v := r.Uint64() & mask; v <= max {
			return v
		}
	}
}

// Shuffle permutes x in place exactly as RandomState.shuffle does for a
// one-dimensional array: for i from n−1 down to 1, swap x[i] with
// x[random_interval(i)].
func Shuffle[T any](r *RandomState, x []T) {
	for i := len(x) - 1; i > 0; i-- {
		j := r.Interval(uint64(i))
		x[i], x[j] = x[j], x[i]
	}
}
