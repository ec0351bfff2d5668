package bloom

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// Config is the shape of a BLOOM model: the one in-memory model shape of
// the project (ckpt.BloomConfig is a Hugging Face config.json on disk). Its
// JSON, in checkpoint manifests and job specs, names the shape as
// config.json does and the adapters, when there are any, as AscendSpeed's
// flags do, beside the shape (LoRA is embedded for that).
type Config struct {
	Vocab  int     `json:"vocab_size"`         // rows of the word embedding (padded vocabulary)
	Hidden int     `json:"hidden_size"`        // model width C
	Heads  int     `json:"n_head"`             // attention heads NH; Hidden must divide by it
	Layers int     `json:"n_layer"`            // transformer blocks
	Eps    float32 `json:"layer_norm_epsilon"` // layer norm epsilon (1e-5)
	LoRA           // low-rank adapters (lora.go); the zero value: none
}

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("bloom: invalid config")

// Validate reports what is wrong with c, if anything.
func (c Config) Validate() error {
	switch {
	case c.Vocab <= 0 || c.Hidden <= 0 || c.Heads <= 0 || c.Layers <= 0:
		return fmt.Errorf("%w: vocab %d, hidden %d, heads %d, layers %d must all be positive", ErrConfig, c.Vocab, c.Hidden, c.Heads, c.Layers)
	case c.Hidden%c.Heads != 0:
		return fmt.Errorf("%w: hidden size %d is not divisible by %d heads", ErrConfig, c.Hidden, c.Heads)
	case !(c.Eps > 0):
		return fmt.Errorf("%w: layer norm epsilon %g must be positive", ErrConfig, c.Eps)
	}
	return c.LoRA.validate()
}

// HeadDim is the width of one attention head.
func (c Config) HeadDim() int { return c.Hidden / c.Heads }

// NumParams counts the parameters: V·C + 4C (embedding and final norms) +
// L·(12C² + 13C).
func (c Config) NumParams() int {
	C := c.Hidden
	return c.Vocab*C + 4*C + c.Layers*(12*C*C+13*C)
}

// Presets are the released BLOOM shapes plus tiny ones for tests and the demo.
var Presets = map[string]Config{
	"bloom-560m": {Vocab: 250880, Hidden: 1024, Heads: 16, Layers: 24, Eps: 1e-5},
	"bloom-1b1":  {Vocab: 250880, Hidden: 1536, Heads: 16, Layers: 24, Eps: 1e-5},
	"bloom-1b7":  {Vocab: 250880, Hidden: 2048, Heads: 16, Layers: 24, Eps: 1e-5},
	"bloom-3b":   {Vocab: 250880, Hidden: 2560, Heads: 32, Layers: 30, Eps: 1e-5},
	"bloom-7b1":  {Vocab: 250880, Hidden: 4096, Heads: 32, Layers: 30, Eps: 1e-5},
	"bloom":      {Vocab: 250880, Hidden: 14336, Heads: 112, Layers: 70, Eps: 1e-5},
	// Tiny shapes: the demo and the tests. bloom-tiny is the first benchmark
	// shape; bloom-tiny-6h has a head count that is not a power of two.
	"bloom-tiny":    {Vocab: 320, Hidden: 64, Heads: 4, Layers: 2, Eps: 1e-5},
	"bloom-tiny-6h": {Vocab: 512, Hidden: 96, Heads: 6, Layers: 3, Eps: 1e-5},
	"bloom-small":   {Vocab: 4096, Hidden: 256, Heads: 8, Layers: 4, Eps: 1e-5},
}

// PresetNames lists the presets, sorted.
func PresetNames() []string {
	names := make([]string, 0, len(Presets))
	for n := range Presets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Preset returns the named preset or an error listing the known ones.
func Preset(name string) (Config, error) {
	c, ok := Presets[name]
	if !ok {
		return Config{}, fmt.Errorf("%w: unknown preset %q (known: %v)", ErrConfig, name, PresetNames())
	}
	return c, nil
}

// AlibiSlopes returns BLOOM's per-head ALiBi slopes (HF build_alibi_tensor):
// for the largest power of two c ≤ n, slopes base^1..base^c with
// base = 2^(−2^−(log2 c − 3)); when c < n, the remaining n−c heads take the odd
// powers 1, 3, 5, … of the base for 2c.
func AlibiSlopes(n int) []float32 {
	c := 1 << int(math.Floor(math.Log2(float64(n))))
	slopes := make([]float32, 0, n)
	// HF rounds each base to float32 before raising it to integer powers.
	base := float64(float32(math.Pow(2, -math.Pow(2, -(math.Log2(float64(c))-3)))))
	for i := 1; i <= c; i++ {
		slopes = append(slopes, float32(math.Pow(base, float64(i))))
	}
	extra := float64(float32(math.Pow(2, -math.Pow(2, -(math.Log2(float64(2*c))-3)))))
	for i := 0; i < n-c; i++ {
		slopes = append(slopes, float32(math.Pow(extra, float64(2*i+1))))
	}
	return slopes
}
