package data

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"
)

// rngReference is testdata/dataset/gpt/rng.json, written by numpy's own
// RandomState (scripts/data/gen_gpt_reference.py).
type rngReference struct {
	Version int `json:"version"`
	Raw     []struct {
		Seed   uint32   `json:"seed"`
		N      int      `json:"n"`
		First  []uint32 `json:"first"`
		At624  uint32   `json:"at_624"`
		Last   uint32   `json:"last"`
		SHA256 string   `json:"sha256"`
	} `json:"raw"`
	State []struct {
		Seed    uint32   `json:"seed"`
		KeyHead []uint32 `json:"key_head"`
		KeyTail uint32   `json:"key_tail"`
	} `json:"state"`
	Interval []struct {
		Seed   uint32   `json:"seed"`
		Max    uint64   `json:"max"`
		Values []uint64 `json:"values"`
	} `json:"interval"`
	Shuffle []struct {
		Seed   uint32  `json:"seed"`
		N      int     `json:"n"`
		DType  string  `json:"dtype"`
		Head   []int64 `json:"head"`
		SHA256 string  `json:"sha256"`
	} `json:"shuffle"`
}

func loadRNGReference(t *testing.T) rngReference {
	t.Helper()
	b, err := os.ReadFile("testdata/dataset/gpt/rng.json")
	if err != nil {
		t.Fatal(err)
	}
	var r rngReference
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if r.Version != 1 {
		t.Fatalf("rng.json version %d, want 1: regenerate with scripts/data/gen_gpt_reference.py", r.Version)
	}
	return r
}

func TestRandomStateSeeding(t *testing.T) {
	for _, c := range loadRNGReference(t).State {
		r := NewRandomState(c.Seed)
		for i, k := range c.KeyHead {
			if r.key[i] != k {
				t.Fatalf("seed %d: key[%d] = %d, numpy %d", c.Seed, i, r.key[i], k)
			}
		}
		if r.key[mtN-1] != c.KeyTail || r.pos != mtN {
			t.Fatalf("seed %d: key[623] = %d pos %d, numpy %d pos 624", c.Seed, r.key[mtN-1], r.pos, c.KeyTail)
		}
	}
}

func TestRandomStateRaw(t *testing.T) {
	for _, c := range loadRNGReference(t).Raw {
		r := NewRandomState(c.Seed)
		h := sha256.New()
		var b [4]byte
		for i := 0; i < c.N; i++ {
			v := r.Uint32()
			if (i < len(c.First) && v != c.First[i]) || (i == 624 && v != c.At624) || (i == c.N-1 && v != c.Last) {
				t.Fatalf("seed %d: draw %d = %d differs from numpy", c.Seed, i, v)
			}
			binary.LittleEndian.PutUint32(b[:], v)
			h.Write(b[:])
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != c.SHA256 {
			t.Errorf("seed %d: %d draws hash %s, numpy %s", c.Seed, c.N, got, c.SHA256)
		}
	}
}

// TestRandomStateInterval covers both paths of random_interval: numpy's
// legacy randint(0, max+1) is the same masked rejection, 32-bit draws up to
// 2^32−1 and 64-bit draws beyond.
func TestRandomStateInterval(t *testing.T) {
	for _, c := range loadRNGReference(t).Interval {
		r := NewRandomState(c.Seed)
		for i, want := range c.Values {
			if got := r.Interval(c.Max); got != want {
				t.Fatalf("seed %d max %d: value %d = %d, numpy %d", c.Seed, c.Max, i, got, want)
			}
		}
	}
}

func TestShuffleMatchesNumpy(t *testing.T) {
	for _, c := range loadRNGReference(t).Shuffle {
		x := make([]int64, c.N)
		for i := range x {
			x[i] = int64(i)
		}
		Shuffle(NewRandomState(c.Seed), x)
		for i, v := range c.Head {
			if x[i] != v {
				t.Fatalf("seed %d n %d: x[%d] = %d, numpy %d", c.Seed, c.N, i, x[i], v)
			}
		}
		h := sha256.New()
		var b [8]byte
		for _, v := range x {
			binary.LittleEndian.PutUint64(b[:], uint64(v))
			h.Write(b[:])
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != c.SHA256 {
			t.Errorf("seed %d n %d (%s): shuffle hash %s, numpy %s", c.Seed, c.N, c.DType, got, c.SHA256)
		}
	}
}

func BenchmarkShuffle(b *testing.B) {
	x := make([]uint32, 1<<20)
	r := NewRandomState(1)
	b.SetBytes(int64(4 * len(x)))
	for b.Loop() {
		Shuffle(r, x)
	}
}
