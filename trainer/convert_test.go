package trainer

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"bloom/ckpt"
	"bloom/npu/cpu"
	"bloom/trainer/bloom"
)

// sameDirs fails unless dirs a and b hold the same files, byte for byte.
func sameDirs(t *testing.T, a, b string) {
	t.Helper()
	list := func(dir string) []string {
		es, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range es {
			out = append(out, e.Name())
		}
		return out
	}
	na, nb := list(a), list(b)
	if !slices.Equal(na, nb) {
		t.Fatalf("%s holds %v, %s holds %v", a, na, b, nb)
	}
	for _, n := range na {
		x, err := os.ReadFile(filepath.Join(a, n))
		if err != nil {
			t.Fatal(err)
		}
		y, err := os.ReadFile(filepath.Join(b, n))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs (%d and %d bytes)", n, len(x), len(y))
		}
	}
}

// TestConvertHFStreams: ConvertHF writes what LoadHF then SaveHF write,
// byte for byte, for every dtype, in one file and in shards, from a sharded
// F16 source, reading each tensor once and in order.
func TestConvertHFStreams(t *testing.T) {
	m, _ := bloom.New(cpu.New(1), tinyJob().Model)
	m.InitRandom(7, 0.5)
	src := t.TempDir()
	if err := SaveHF(m, ckpt.DefaultBloomConfig(), src, ckpt.F16, 20000); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(src, ckpt.SafetensorsIndexName)); err != nil {
		t.Fatalf("the source is not sharded: %v", err)
	}
	for _, dt := range []ckpt.DType{ckpt.F32, ckpt.F16, ckpt.BF16} {
		for _, shard := range []int64{0, 30000} {
			want, got := t.TempDir(), t.TempDir()
			lm, cfg, err := LoadHF(cpu.New(1), src)
			if err != nil {
				t.Fatal(err)
			}
			if err := SaveHF(lm, cfg, want, dt, shard); err != nil {
				t.Fatal(err)
			}
			var calls []int
			total := 0
			if _, err := ConvertHF(src, got, dt, shard, func(done, n int) { calls, total = append(calls, done), n }); err != nil {
				t.Fatal(err)
			}
			sameDirs(t, want, got)
			if n := len(m.Layout.Tensors); total != n || len(calls) != n || calls[0] != 1 || calls[n-1] != n {
				t.Errorf("%s: progress %v of %d, want 1..%d", dt, calls, total, n)
			}
		}
	}
}

// TestConvertHFMismatch: a source that does not fit its config is refused
// before anything is written.
func TestConvertHFMismatch(t *testing.T) {
	m, _ := bloom.New(cpu.New(1), tinyJob().Model)
	src := t.TempDir()
	cfg := ckpt.DefaultBloomConfig()
	if err := SaveHF(m, cfg, src, ckpt.F32, 0); err != nil {
		t.Fatal(err)
	}
	cfg = HFConfig(m, cfg)
	cfg.NLayer++ // the config now implies a block the weights lack
	if err := cfg.WriteFile(filepath.Join(src, ckpt.ConfigName)); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	if _, err := ConvertHF(src, out, ckpt.BF16, 0, nil); !errors.Is(err, ErrMismatch) {
		t.Fatalf("err = %v, want ErrMismatch", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("%s was created: %v", out, err)
	}
}

// TestConvertNativeStreams: a native checkpoint of any layout converts, a
// tensor at a time, to what LoadModel then SaveHF write, byte for byte,
// with progress over every tensor; a checkpoint missing a shard is refused
// before anything is written.
func TestConvertNativeStreams(t *testing.T) {
	c := tinyJob().Model
	m, _ := bloom.New(cpu.New(1), c)
	m.InitRandom(11, 0.5)
	params := readBuf(m.Dev, m.Params)
	full := bloom.NewLayout(c)
	for _, lay := range []NativeSpec{{TP: 1, PP: 1}, {TP: 2, PP: 2, Partition: []int{c.Layers - 1, 1}}, {TP: 4, PP: 1}} {
		lay.Model = c
		root := t.TempDir()
		step, err := WriteNative(root, lay, fullTensors{full, [3][]float32{params, nil, nil}})
		if err != nil {
			t.Fatal(err)
		}
		for _, dt := range []ckpt.DType{ckpt.F32, ckpt.BF16} {
			for _, shard := range []int64{0, 30000} {
				want, got := t.TempDir(), t.TempDir()
				lm, cfg, err := LoadModel(cpu.New(1), root)
				if err != nil {
					t.Fatal(err)
				}
				if err := SaveHF(lm, cfg, want, dt, shard); err != nil {
					t.Fatal(err)
				}
				calls := 0
				if _, err := ConvertModel(cpu.New(1), step, got, dt, shard, func(done, n int) { calls++ }); err != nil {
					t.Fatalf("TP %d PP %d: %v", lay.TP, lay.PP, err)
				}
				sameDirs(t, want, got)
				if calls != len(full.Tensors) {
					t.Errorf("progress called %d times for %d tensors", calls, len(full.Tensors))
				}
			}
		}
		back, _, err := LoadHF(cpu.New(1), func() string {
			out := t.TempDir()
			if _, err := ConvertModel(cpu.New(1), root, out, ckpt.F32, 0, nil); err != nil {
				t.Fatal(err)
			}
			return out
		}())
		if err != nil {
			t.Fatal(err)
		}
		if i := sameBits(readBuf(back.Dev, back.Params), params); i >= 0 {
			t.Fatalf("TP %d PP %d: parameter %d differs", lay.TP, lay.PP, i)
		}
		if lay.TP > 1 {
			man, _ := ckpt.ReadManifest(step)
			if err := os.Remove(filepath.Join(step, man.Shards[1].File)); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "out")
			if _, err := ConvertModel(cpu.New(1), step, out, ckpt.BF16, 0, nil); !errors.Is(err, ckpt.ErrNotFound) {
				t.Errorf("a shard missing: %v", err)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("%s was created: %v", out, err)
			}
		}
	}
}

// TestHFConfigEpsilon: an exported config keeps layer_norm_epsilon as the
// source wrote it when the model's float32 epsilon is its rounding (1e-05
// stayed 1e-05 only in name: it was written 9.999999747378752e-06), and
// takes the model's otherwise.
func TestHFConfigEpsilon(t *testing.T) {
	m, err := bloom.New(cpu.New(1), bloom.Config{Vocab: 64, Hidden: 16, Heads: 2, Layers: 1, Eps: 1e-5})
	if err != nil {
		t.Fatal(err)
	}
	if got := HFConfig(m, ckpt.DefaultBloomConfig()).LayerNormEpsilon; got != 1e-5 {
		t.Errorf("layer_norm_epsilon %v, want 1e-05", got)
	}
	m.Cfg.Eps = 1e-6
	if got := HFConfig(m, ckpt.DefaultBloomConfig()).LayerNormEpsilon; got != float64(float32(1e-6)) {
		t.Errorf("layer_norm_epsilon %v, want the model's %v", got, float32(1e-6))
	}
}
