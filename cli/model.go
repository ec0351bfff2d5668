package cli

import (
	"errors"
	"fmt"
	"io"
	"time"

	ucli "github.com/urfave/cli/v2"

	"bloom/ckpt"
	"bloom/npu"
	_ "bloom/npu/cpu" // the CPU backend is always available
	"bloom/trainer"
	"bloom/trainer/bloom"
)

// openDevice is the CPU device with the global --threads; bloomctl's
// local compute runs on it.
func openDevice(c *ucli.Context) (npu.Device, error) {
	return npu.Open("cpu", npu.Options{Threads: globalInt(c, "threads")})
}

// errNoModel is the answer to a command that needs --model without it.
var errNoModel = errors.New("--model DIR is required: a Hugging Face BLOOM directory (config.json and safetensors weights) or a native checkpoint (a job's --save directory or one of its iter_* steps)")

// loadModel opens --model DIR (a Hugging Face BLOOM directory or a native
// checkpoint) on the CPU device.
func loadModel(c *ucli.Context) (*bloom.Model, ckpt.BloomConfig, error) {
	dir := c.String("model")
	if dir == "" {
		return nil, ckpt.BloomConfig{}, errNoModel
	}
	m, hf, err := openModel(c, dir)
	if err != nil {
		return nil, hf, err
	}
	p, err := precisionOf(c)
	if err != nil {
		return nil, hf, err
	}
	return m, hf, m.SetPrecision(p)
}

// precisionFlags are --fp16 and --bf16 of the commands that run a model
// (loadModel sets its products' precision from them).
var precisionFlags = []ucli.Flag{
	&ucli.BoolFlag{Name: "fp16", Usage: "matrix products in fp16, as the seed generates, evaluates and serves: weights and activations rounded as they enter a product, float32 sums"},
	&ucli.BoolFlag{Name: "bf16", Usage: "matrix products in bf16: weights and activations rounded as they enter a product, float32 sums"},
}

// packFlag is --no-pack-weights of the commands that decode; packWeights
// packs m's weights once unless it is set.
var packFlag = &ucli.BoolFlag{Name: "no-pack-weights",
	Usage: "keep the weights once, without the copy laid out for the matrix products (in their type under --fp16/--bf16) that spares every decoding step laying out every weight again: 2-5x slower decoding, the copy's memory saved"}

func packWeights(c *ucli.Context, m *bloom.Model) {
	if !c.Bool("no-pack-weights") {
		m.PackWeights()
	}
}

// kvCacheFlag is --kv-cache-dtype of the commands that serve, and
// kvCacheOf its value.
var kvCacheFlag = &ucli.StringFlag{Name: "kv-cache-dtype", Value: "fp32",
	Usage: "the key/value cache's type: fp32, fp16 or bf16; a half type halves the cache's memory and the bytes each decoding step reads from it, its keys and values rounded as they enter it"}

func kvCacheOf(c *ucli.Context) (npu.DType, error) {
	t, err := npu.ParseDType(c.String("kv-cache-dtype"))
	if err != nil {
		return 0, fmt.Errorf("--kv-cache-dtype: %v", err)
	}
	return t, nil
}

// precisionOf is the precision --fp16 or --bf16 asks for (float32 without
// either).
func precisionOf(c *ucli.Context) (npu.DType, error) {
	switch {
	case c.Bool("fp16") && c.Bool("bf16"):
		return 0, fmt.Errorf("--fp16 and --bf16 exclude each other: pick one")
	case c.Bool("fp16"):
		return npu.F16, nil
	case c.Bool("bf16"):
		return npu.BF16, nil
	}
	return npu.F32, nil
}

// openModel opens the model in dir (as loadModel) on the CPU device.
func openModel(c *ucli.Context, dir string) (*bloom.Model, ckpt.BloomConfig, error) {
	dev, err := openDevice(c)
	if err != nil {
		return nil, ckpt.BloomConfig{}, err
	}
	return trainer.LoadModelProgress(dev, dir, tensorProgress(c.App.ErrWriter, "loading "+dir))
}

// progressAfter is how long loading runs before tensorProgress speaks: a
// small model loads at once and prints nothing.
var progressAfter = time.Second

// tensorProgress prints "what: tensor n of N" on w, once the work has taken
// progressAfter, at every tenth of the tensors and at the last: loading a
// large model (bloom-560m: tens of seconds) needs a sign of life.
func tensorProgress(w io.Writer, what string) func(done, total int) {
	start, next := time.Now(), 0
	return func(done, total int) {
		if done < next && done < total || time.Since(start) < progressAfter {
			return
		}
		fmt.Fprintf(w, "%s: tensor %d of %d\n", what, done, total)
		next = done + max(total/10, 1)
	}
}

// modelFlag is --model DIR of the commands that read a model (loadModel).
var modelFlag = &ucli.StringFlag{Name: "model", Usage: "model `DIR`: Hugging Face BLOOM (config.json + model.safetensors or pytorch_model.bin, or either sharded with its index.json), or a native checkpoint: a job's --save directory (its latest committed step) or one iter_* step of it", EnvVars: []string{"BLOOM_MODEL"}}
