package cli

import (
	"fmt"

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

// loadModel opens --model DIR (a Hugging Face BLOOM directory or a native
// checkpoint) on the CPU device.
func loadModel(c *ucli.Context) (*bloom.Model, ckpt.BloomConfig, error) {
	dir := c.String("model")
	if dir == "" {
		return nil, ckpt.BloomConfig{}, fmt.Errorf("--model DIR is required: a Hugging Face BLOOM directory (config.json and safetensors weights) or a native checkpoint (a job's --save directory or one of its iter_* steps)")
	}
	return openModel(c, dir)
}

// openModel opens the model in dir (as loadModel) on the CPU device.
func openModel(c *ucli.Context, dir string) (*bloom.Model, ckpt.BloomConfig, error) {
	dev, err := openDevice(c)
	if err != nil {
		return nil, ckpt.BloomConfig{}, err
	}
	return trainer.LoadModel(dev, dir)
}

// modelFlag is --model DIR of the commands that read a model (loadModel).
var modelFlag = &ucli.StringFlag{Name: "model", Usage: "model `DIR`: Hugging Face BLOOM (config.json + model.safetensors or sharded with index.json), or a native checkpoint: a job's --save directory (its latest committed step) or one iter_* step of it", EnvVars: []string{"BLOOM_MODEL"}}
