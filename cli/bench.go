package cli

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"syscall"
	"time"

	ucli "github.com/urfave/cli/v2"

	"bloom/internal/cpuid"
	"bloom/npu"
	"bloom/npu/cpu"
	"bloom/trainer"
	"bloom/trainer/bloom"
)

func benchCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "bench",
		Usage: "measure this machine: GEMM, training step, generation",
		Description: `Each subcommand prints one line per measurement; with --output json, one
JSON object per line (what scripts/bench.sh reads to compare with PyTorch).`,
		Subcommands: []*ucli.Command{benchGemmCommand(), benchTrainCommand(), benchGenerateCommand(), benchServeCommand(), benchAllreduceCommand(), benchAllreduceWorkerCommand()},
	}
}

// benchResult is one measurement, shaped like the PyTorch peer's output.
type benchResult struct {
	Peer         string  `json:"peer"`
	Kind         string  `json:"kind"`
	Threads      int     `json:"threads"`
	Shape        []int   `json:"shape"`
	DType        string  `json:"dtype,omitempty"` // gemm: the operands' type
	GFLOPS       float64 `json:"gflops,omitempty"`
	TokensPerSec float64 `json:"tokens_per_s,omitempty"`
	MsPerIter    float64 `json:"ms_per_iter"`
	// CPU is the instruction sets this CPU offers (internal/cpuid), and
	// Kernel the GEMM micro-kernel the CPU device picked for them (for
	// half operands, GemmHalf's).
	CPU    string `json:"cpu"`
	Kernel string `json:"gemm_kernel"`
	// Precision is a training step's matrix products (fp32, bf16, fp16),
	// and PeakRSSMiB the process's peak resident memory when it ends.
	Precision  string  `json:"precision,omitempty"`
	PeakRSSMiB float64 `json:"peak_rss_mib,omitempty"`
}

// peakRSSMiB is this process's peak resident set so far, in MiB (0 where
// the system does not say).
func peakRSSMiB() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Maxrss) / 1024 // KiB on Linux
}

// printBench prints one measurement as a table line, or as JSON with
// --output json.
func printBench(c *ucli.Context, r benchResult) error {
	asJSON, err := outputJSON(c)
	if err != nil {
		return err
	}
	r.CPU, r.Kernel = cpuid.X86.String(), cpu.GemmKernel()
	if dt, err := npu.ParseDType(r.DType); err == nil && dt != npu.F32 {
		r.Kernel = cpu.GemmHalfKernel(dt)
		if r.Kind == "generate" { // its products read weights packed in their half type
			r.Kernel = cpu.PackedHalfKernel(dt)
		}
	}
	if asJSON {
		return writeJSON(c.App.Writer, r)
	}
	rate := fmt.Sprintf("%.1f GFLOP/s", r.GFLOPS)
	if r.Kind != "gemm" {
		rate = fmt.Sprintf("%.0f tokens/s", r.TokensPerSec)
	}
	if r.Precision != "" {
		rate += fmt.Sprintf(" in %s, peak RSS %.0f MiB", r.Precision, r.PeakRSSMiB)
	}
	kind := r.Kind
	if r.DType != "" {
		kind += " " + r.DType
	}
	_, err = fmt.Fprintf(c.App.Writer, "%s %s threads=%d: %s (%.2f ms/iter; cpu %s, gemm kernel %s)\n", kind, shapeLabel(r.Kind, r.Shape), r.Threads, rate, r.MsPerIter, r.CPU, r.Kernel)
	return err
}

// shapeLabel names a benchmark's shape figures: gemm's m n k, a model's
// vocab hidden heads layers seq batch (and generate's new tokens).
func shapeLabel(kind string, shape []int) string {
	names := []string{"vocab", "hidden", "heads", "layers", "seq", "batch", "new-tokens"}
	if kind == "gemm" {
		names = []string{"m", "n", "k"}
	}
	var out []string
	for i, v := range shape {
		if i < len(names) {
			out = append(out, fmt.Sprintf("%s=%d", names[i], v))
		} else {
			out = append(out, fmt.Sprint(v))
		}
	}
	return strings.Join(out, " ")
}

// timeIters runs f until at least minTime has passed (after one warm-up call)
// and returns the mean seconds per call.
func timeIters(minIters int, minTime time.Duration, f func() error) (float64, error) {
	if err := f(); err != nil {
		return 0, err
	}
	start, n := time.Now(), 0
	for n < minIters || time.Since(start) < minTime {
		if err := f(); err != nil {
			return 0, err
		}
		n++
	}
	return time.Since(start).Seconds() / float64(n), nil
}

func benchGemmCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "gemm",
		Usage:     "GEMM GFLOP/s: C(m,n) = op(A)·op(B), float32 or half operands (GemmHalf)",
		UsageText: "bloomctl bench gemm --m 1024 --n 1024 --k 1024 [--transa] [--transb] [--dtype fp32|fp16|bf16] [--threads N]",
		Flags: []ucli.Flag{
			&ucli.IntFlag{Name: "m", Value: 1024, Usage: "rows of C and of op(A)"}, &ucli.IntFlag{Name: "n", Value: 1024, Usage: "columns of C and of op(B)"},
			&ucli.IntFlag{Name: "k", Value: 1024, Usage: "the inner dimension: columns of op(A), rows of op(B)"},
			&ucli.BoolFlag{Name: "transa", Usage: "A is stored k×m: op(A) = Aᵀ"}, &ucli.BoolFlag{Name: "transb", Usage: "B is stored n×k: op(B) = Bᵀ (a linear layer's forward)"},
			&ucli.StringFlag{Name: "dtype", Value: "fp32", Usage: "A and B's type: fp32 (Gemm), fp16 or bf16 (GemmHalf: half operands, float32 products, sums and C)"},
		},
		Action: func(c *ucli.Context) error {
			m, n, k := c.Int("m"), c.Int("n"), c.Int("k")
			if m <= 0 || n <= 0 || k <= 0 {
				return fmt.Errorf("--m, --n and --k must be positive")
			}
			dt, err := npu.ParseDType(c.String("dtype"))
			if err != nil {
				return fmt.Errorf("--dtype: %v", err)
			}
			dev, err := openDevice(c)
			if err != nil {
				return err
			}
			gemm := benchGemmCall(dev, dt, c.Bool("transa"), c.Bool("transb"), m, n, k)
			sec, err := timeIters(3, 500*time.Millisecond, func() error { gemm(); return nil })
			if err != nil {
				return err
			}
			return printBench(c, benchResult{Peer: "bloom", Kind: "gemm", DType: dt.String(), Threads: dev.Threads(), Shape: []int{m, n, k},
				GFLOPS: 2 * float64(m) * float64(n) * float64(k) / sec / 1e9, MsPerIter: sec * 1e3})
		},
	}
}

// benchGemmCall allocates random operands of type dt on dev and returns a
// call of Gemm (fp32) or GemmHalf (fp16, bf16) on them.
func benchGemmCall(dev npu.Device, dt npu.DType, ta, tb bool, m, n, k int) func() {
	a, b, out := randomBuf(dev, m*k, 1), randomBuf(dev, k*n, 2), dev.Alloc(m*n)
	lda, ldb := k, n
	if ta {
		lda = m
	}
	if tb {
		ldb = k
	}
	if dt == npu.F32 {
		return func() { dev.Gemm(ta, tb, m, n, k, 1, a, lda, b, ldb, 0, out, n) }
	}
	ha, hb := dev.AllocHalf(dt, m*k), dev.AllocHalf(dt, k*n)
	dev.ToHalf(ha, a, m*k)
	dev.ToHalf(hb, b, k*n)
	return func() { dev.GemmHalf(ta, tb, m, n, k, 1, ha, lda, hb, ldb, 0, out, n) }
}

// randomBuf is n standard-normal values on dev, the same for the same seed.
func randomBuf(dev npu.Device, n int, seed uint64) npu.Buf {
	r := rand.New(rand.NewPCG(seed, seed))
	host := make([]float32, n)
	for i := range host {
		host[i] = float32(r.NormFloat64())
	}
	b := dev.Alloc(n)
	dev.Write(b, host)
	return b
}

// shapeFlags are the random model's shape flags of bench train, generate
// and serve, then --seq (its usage says what a sequence is to the
// command) and, when batch is not empty, --batch.
func shapeFlags(seq, batch string) []ucli.Flag {
	f := []ucli.Flag{
		&ucli.IntFlag{Name: "vocab", Value: 4096, Usage: "the random model's vocabulary"},
		&ucli.IntFlag{Name: "hidden", Value: 256, Usage: "the random model's hidden size"},
		&ucli.IntFlag{Name: "heads", Value: 8, Usage: "the random model's attention heads (they divide --hidden)"},
		&ucli.IntFlag{Name: "layers", Value: 4, Usage: "the random model's transformer blocks"},
		&ucli.IntFlag{Name: "seq", Value: 128, Usage: seq},
	}
	if batch != "" {
		f = append(f, &ucli.IntFlag{Name: "batch", Value: 8, Usage: batch})
	}
	return f
}

// benchModel makes a random model of the shape flags and a random batch of
// B sequences of --seq tokens.
func benchModel(c *ucli.Context, B int) (*bloom.Model, bloom.Batch, []int, error) {
	cfg := bloom.Config{Vocab: c.Int("vocab"), Hidden: c.Int("hidden"), Heads: c.Int("heads"), Layers: c.Int("layers"), Eps: 1e-5}
	T := c.Int("seq")
	if B <= 0 || T <= 0 {
		return nil, bloom.Batch{}, nil, fmt.Errorf("--batch and --seq must be positive")
	}
	dev, err := openDevice(c)
	if err != nil {
		return nil, bloom.Batch{}, nil, err
	}
	m, err := bloom.New(dev, cfg)
	if err != nil {
		return nil, bloom.Batch{}, nil, err
	}
	m.InitRandom(1, 0.02)
	r := rand.New(rand.NewPCG(7, 7))
	b := bloom.Batch{B: B, T: T, IDs: make([]int32, B*T), Targets: make([]int32, B*T)}
	for i := range b.IDs {
		b.IDs[i], b.Targets[i] = int32(r.IntN(cfg.Vocab)), int32(r.IntN(cfg.Vocab))
	}
	return m, b, []int{cfg.Vocab, cfg.Hidden, cfg.Heads, cfg.Layers, T, B}, nil
}

func benchTrainCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "train",
		Usage:     "training step tokens/s: forward, loss, backward, AdamW",
		UsageText: "bloomctl bench train --vocab V --hidden C --heads NH --layers L --seq T --batch B [--bf16|--fp16] [--threads N]",
		Flags: append([]ucli.Flag{
			&ucli.BoolFlag{Name: "bf16", Usage: "mixed precision: bf16 matrix products over float32 master weights"},
			&ucli.BoolFlag{Name: "fp16", Usage: "mixed precision: fp16 matrix products (loss scaled by 4096)"},
			&ucli.BoolFlag{Name: "checkpoint-activations", Usage: "recompute each block in backward instead of keeping its activations"},
		}, shapeFlags("tokens per sequence", "sequences per step")...),
		Action: func(c *ucli.Context) error {
			m, b, shape, err := benchModel(c, c.Int("batch"))
			if err != nil {
				return err
			}
			p, err := precisionOf(c)
			if err != nil {
				return err
			}
			scale := float32(1)
			if p == npu.F16 {
				scale = 4096
			}
			if err := m.SetPrecision(p); err != nil {
				return err
			}
			m.Recompute = c.Bool("checkpoint-activations")
			opt := trainer.NewAdamW(m, trainer.AdamWConfig{Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1})
			sec, err := timeIters(3, 2*time.Second, func() error {
				m.ZeroGrads()
				if _, _, err := m.Step(b, scale); err != nil {
					return err
				}
				opt.Update(1e-4)
				return nil
			})
			if err != nil {
				return err
			}
			return printBench(c, benchResult{Peer: "bloom", Kind: "train", Threads: m.Dev.Threads(), Shape: shape,
				TokensPerSec: float64(b.B*b.T) / sec, MsPerIter: sec * 1e3, Precision: p.String(), PeakRSSMiB: peakRSSMiB()})
		},
	}
}

func benchGenerateCommand() *ucli.Command {
	flags := shapeFlags("prompt tokens", "prompts generated together")
	flags = append(flags, &ucli.IntFlag{Name: "new-tokens", Value: 32, Usage: "tokens generated after each prompt"})
	flags = append(flags, precisionFlags...)
	return &ucli.Command{
		Name:      "generate",
		Usage:     "KV-cached greedy generation tokens/s (prompt of --seq tokens, --batch rows), the weights packed once as bloomctl generate packs them",
		UsageText: "bloomctl bench generate --vocab V --hidden C --heads NH --layers L --seq T --batch B --new-tokens N [--fp16|--bf16]",
		Flags:     flags,
		Action: func(c *ucli.Context) error {
			m, b, shape, err := benchModel(c, c.Int("batch"))
			if err != nil {
				return err
			}
			p, err := precisionOf(c)
			if err != nil {
				return err
			}
			if err := m.SetPrecision(p); err != nil {
				return err
			}
			m.PackWeights()
			n := c.Int("new-tokens")
			prompts := make([][]int32, b.B)
			for i := range prompts {
				prompts[i] = b.IDs[i*b.T : (i+1)*b.T]
			}
			sec, err := timeIters(2, time.Second, func() error {
				_, err := m.Generate(prompts, 3, bloom.GenerateOptions{MaxNew: n, EOS: -1, Pick: bloom.Greedy})
				return err
			})
			if err != nil {
				return err
			}
			return printBench(c, benchResult{Peer: "bloom", Kind: "generate", DType: p.String(), Threads: m.Dev.Threads(), Shape: append(shape, n),
				TokensPerSec: float64(b.B*n) / sec, MsPerIter: sec * 1e3})
		},
	}
}
