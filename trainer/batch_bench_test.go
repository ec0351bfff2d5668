package trainer

import (
	"testing"

	"bloom/npu"
	"bloom/npu/cpu"
	"bloom/trainer/bloom"
)

// BenchmarkBatcher times a decode step of 1 and 16 rows and a 128-token
// prefill (apart, and inside a step of 8 rows) on bench serve's model
// (V=4096 C=256 NH=8 L=4), 2 threads: the parts of serving's cost. Rows
// hold prompts of 128 (or 448) and decode 32 tokens before they are
// joined again (out of the timing).
func BenchmarkBatcher(b *testing.B) {
	newBatcher := func(b *testing.B, kv ...npu.DType) *Batcher {
		m, err := bloom.New(cpu.New(2), bloom.Config{Vocab: 4096, Hidden: 256, Heads: 8, Layers: 4, Eps: 1e-5})
		if err != nil {
			b.Fatal(err)
		}
		m.InitRandom(1, 0.02)
		d, err := LocalBatcher(m, BatchShape{Rows: 16, Positions: 512, KV: append(kv, npu.F32)[0]})
		if err != nil {
			b.Fatal(err)
		}
		return d
	}
	prompt := make([]int32, 128)
	for i := range prompt {
		prompt[i] = int32(100 + i)
	}
	join := func(b *testing.B, d *Batcher, row int, prompt []int32) {
		if err := d.Prefill(prompt, true); err != nil {
			b.Fatal(err)
		}
		if _, err := d.Join(row, len(prompt)+32, bloom.Sampling{}, 0); err != nil {
			b.Fatal(err)
		}
	}
	// Steps of 1 and 16 rows at contexts 128-160 (16 rows also with the
	// cache in fp16), and of 16 rows at 448-480 with the cache in float32
	// and in fp16 (16 × 480 positions of 4 layers are 63 MB of float32
	// keys and values, more than L3).
	long := make([]int32, 448)
	for i := range long {
		long[i] = int32(100 + i%3000)
	}
	for _, c := range []struct {
		name   string
		rows   int
		prompt []int32
		kv     npu.DType
	}{{"step/rows=1", 1, prompt, npu.F32}, {"step/rows=16", 16, prompt, npu.F32}, {"step/rows=16/kv=fp16", 16, prompt, npu.F16},
		{"step/rows=16/context=448/kv=fp32", 16, long, npu.F32}, {"step/rows=16/context=448/kv=fp16", 16, long, npu.F16}} {
		rows := c.rows
		b.Run(c.name, func(b *testing.B) {
			d := newBatcher(b, c.kv)
			ids := make([]int32, rows)
			for i := range b.N {
				if i%32 == 0 {
					b.StopTimer()
					for r := range rows {
						if i > 0 {
							if err := d.Leave(r, r); err != nil {
								b.Fatal(err)
							}
						}
						join(b, d, r, c.prompt)
					}
					b.StartTimer()
				}
				if _, err := d.Step(ids); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// A step of 8 rows that also prefills a joining request's 128-token
	// prompt (StepChunk), the request then leaving out of the timing.
	b.Run("step/rows=8+prompt=128", func(b *testing.B) {
		d := newBatcher(b)
		const rows = 8
		ids := make([]int32, rows)
		for i := range b.N {
			b.StopTimer()
			if i%32 == 0 {
				for r := range rows {
					if i > 0 {
						if err := d.Leave(r, r); err != nil {
							b.Fatal(err)
						}
					}
					join(b, d, r, prompt)
				}
			}
			if err := d.Reserve(len(prompt)+32, bloom.Sampling{}, 0); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if _, err := d.StepChunk(ids, [][]int32{prompt}, 1); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if err := d.Leave(rows, rows); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	})
	b.Run("prefill=128", func(b *testing.B) {
		d := newBatcher(b)
		for range b.N {
			if err := d.Prefill(prompt, true); err != nil {
				b.Fatal(err)
			}
		}
	})
}
