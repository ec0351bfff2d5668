package bloom

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"

	"bloom/npu"
	"bloom/npu/cpu"
)

func TestPresetParameterCounts(t *testing.T) {
	// Counts from the model cards (bloom.md §4).
	for name, want := range map[string]int{"bloom-560m": 559_214_592, "bloom-7b1": 7_069_016_064, "bloom": 176_247_271_424} {
		c, err := Preset(name)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.NumParams(); got != want {
			t.Errorf("%s: %d parameters, want %d", name, got, want)
		}
		if got := NewLayout(c).Size; got != want {
			t.Errorf("%s: layout holds %d, want %d", name, got, want)
		}
	}
	if _, err := Preset("bloom-9000"); !errors.Is(err, ErrConfig) {
		t.Errorf("unknown preset: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{{}, {Vocab: 10, Hidden: 10, Heads: 3, Layers: 1, Eps: 1e-5}, {Vocab: 10, Hidden: 12, Heads: 3, Layers: 1}} {
		if err := c.Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: got %v, want ErrConfig", c, err)
		}
	}
}

func TestAlibiSlopes(t *testing.T) {
	// HF raises a float32-rounded base (relative error ≤ 2^-24) to powers up
	// to 2·64−1, so slopes carry up to ~127·6e-8 ≈ 8e-6 relative error.
	close := func(a float32, b float64) bool { return math.Abs(float64(a)-b) <= 1e-5*b }
	s16 := AlibiSlopes(16)
	for k := 1; k <= 16; k++ {
		if !close(s16[k-1], math.Pow(2, -0.5*float64(k))) {
			t.Errorf("16 heads: slope %d = %g, want 2^(-%g)", k, s16[k-1], 0.5*float64(k))
		}
	}
	// 112 heads (bloom 176B): 64 of 2^(-k/8), then 48 of 2^(-(2j-1)/16).
	s := AlibiSlopes(112)
	for k := 1; k <= 64; k++ {
		if !close(s[k-1], math.Pow(2, -float64(k)/8)) {
			t.Errorf("112 heads: slope %d = %g", k, s[k-1])
		}
	}
	for j := 1; j <= 48; j++ {
		if !close(s[63+j], math.Pow(2, -float64(2*j-1)/16)) {
			t.Errorf("112 heads: extra slope %d = %g", j, s[63+j])
		}
	}
}

// tinyModel is a model with a non-power-of-two head count and random weights
// large enough that every path matters.
func tinyModel(t *testing.T) *Model { return tinyModelWith(t, LoRA{}) }

// tinyLoRA adapts every linear that LoRA can, with B random too, so that
// every adapter path carries gradient.
var tinyLoRA = LoRA{R: 2, Alpha: 3, Targets: LoRAQKV | LoRADense | LoRAFC | LoRAProj}

func tinyModelWith(t *testing.T, lora LoRA) *Model {
	t.Helper()
	m, err := New(cpu.New(0), Config{Vocab: 11, Hidden: 12, Heads: 3, Layers: 2, Eps: 1e-5, LoRA: lora})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	host := make([]float32, m.Layout.Size)
	for _, tn := range m.Layout.Tensors {
		for i := tn.Offset; i < tn.Offset+tn.Size; i++ {
			host[i] = float32(0.3 * r.NormFloat64())
			if isNormWeight(tn.Name) {
				host[i] += 1
			}
		}
	}
	m.Dev.Write(m.Params, host)
	return m
}

func tinyBatch() Batch {
	return Batch{B: 2, T: 5,
		IDs:     []int32{3, 3, 4, 9, 1, 5, 2, 7, 7, 10},
		Mask:    []int32{0, 0, 1, 1, 1, 1, 1, 1, 1, 1},
		Targets: []int32{npu.IgnoreIndex, npu.IgnoreIndex, 9, 1, npu.IgnoreIndex, 2, 7, 7, 10, npu.IgnoreIndex}}
}

// TestGradientsFiniteDifference checks every layer's backward through the
// whole model: for a few entries of every parameter tensor, the analytic
// gradient against a central difference of the loss. The loss is float32
// (noise ~1e-7·|L| per evaluation, /2h ≈ 1e-5 at h = 1e-2) and the central
// difference errs by O(h²·L”'), so agreement to 1% of the gradient plus
// 1e-3 of the largest gradient is what a correct backward gives; a wrong
// one is off by O(1).
func TestGradientsFiniteDifference(t *testing.T) {
	for _, lora := range []LoRA{{}, tinyLoRA} {
		t.Run("lora="+strings.Join(lora.Targets.Names(), "+"), func(t *testing.T) { gradientsFiniteDifference(t, tinyModelWith(t, lora)) })
	}
}

func gradientsFiniteDifference(t *testing.T, m *Model) {
	b := tinyBatch()
	m.ZeroGrads()
	if _, _, err := m.Step(b, 1); err != nil {
		t.Fatal(err)
	}
	grads := make([]float32, m.Layout.Size)
	m.Dev.Read(grads, m.Grads)
	params := make([]float32, m.Layout.Size)
	m.Dev.Read(params, m.Params)
	maxG := 0.0
	for _, g := range grads {
		maxG = max(maxG, math.Abs(float64(g)))
	}
	loss := func(i int, v float32) float64 {
		m.Dev.Write(m.Params.Slice(i, 1), []float32{v})
		l, err := m.TokenLosses(b)
		if err != nil {
			t.Fatal(err)
		}
		m.Dev.Write(m.Params.Slice(i, 1), []float32{params[i]})
		sum := 0.0
		for _, x := range l {
			sum += float64(x)
		}
		return sum / 6 // six targets are not ignored
	}
	r := rand.New(rand.NewPCG(3, 4))
	const h = 1e-2
	for _, tn := range m.Layout.Tensors {
		if tn.Frozen {
			continue // its gradient is not computed (LoRA)
		}
		for range 3 {
			i := tn.Offset + r.IntN(tn.Size)
			fd := (loss(i, params[i]+h) - loss(i, params[i]-h)) / (2 * h)
			if g := float64(grads[i]); math.Abs(fd-g) > 1e-2*math.Abs(g)+1e-3*maxG {
				t.Errorf("%s[%d]: analytic %g, finite difference %g", tn.Name, i-tn.Offset, g, fd)
			}
		}
	}
}

// TestDecodeMatchesForward: incremental decoding with the KV cache gives the
// logits the full forward gives at each row's last position, with left
// padding, whether the prompt arrives at once or token by token.
func TestDecodeMatchesForward(t *testing.T) {
	for _, lora := range []LoRA{{}, tinyLoRA} {
		t.Run("lora="+strings.Join(lora.Targets.Names(), "+"), func(t *testing.T) { decodeMatchesForward(t, tinyModelWith(t, lora)) })
	}
}

// TestHalfDecode: decoding with fp16 or bf16 products (inference's --fp16,
// --bf16) gives the full forward's logits under the same precision, and
// they are not float32's.
func TestHalfDecode(t *testing.T) {
	for _, p := range []npu.DType{npu.F16, npu.BF16} {
		t.Run(p.String(), func(t *testing.T) {
			m := tinyModel(t)
			b := tinyBatch()
			b.Targets = nil
			l32, err := m.Forward(b)
			if err != nil {
				t.Fatal(err)
			}
			f32 := make([]float32, l32.Len())
			m.Dev.Read(f32, l32)
			if err := m.SetPrecision(p); err != nil {
				t.Fatal(err)
			}
			lh, err := m.Forward(b)
			if err != nil {
				t.Fatal(err)
			}
			half := make([]float32, lh.Len())
			m.Dev.Read(half, lh)
			if slices.Equal(half, f32) {
				t.Fatalf("%v products gave float32's logits", p)
			}
			decodeMatchesForward(t, m)
		})
	}
}

func decodeMatchesForward(t *testing.T, m *Model) {
	b := tinyBatch()
	b.Targets = nil
	logits, err := m.Forward(b)
	if err != nil {
		t.Fatal(err)
	}
	full := make([]float32, logits.Len())
	m.Dev.Read(full, logits)
	V := m.Cfg.Vocab
	for _, chunk := range []int{5, 2, 1} {
		c := m.NewCache(b.B, b.T)
		var got []float32
		for t0 := 0; t0 < b.T; t0 += chunk {
			n := min(chunk, b.T-t0)
			ids, mask := make([]int32, 0, b.B*n), make([]int32, 0, b.B*n)
			for r := 0; r < b.B; r++ {
				ids = append(ids, b.IDs[r*b.T+t0:r*b.T+t0+n]...)
				mask = append(mask, b.Mask[r*b.T+t0:r*b.T+t0+n]...)
			}
			out, err := m.Decode(c, ids, mask)
			if err != nil {
				t.Fatal(err)
			}
			got = make([]float32, out.Len())
			m.Dev.Read(got, out)
		}
		for r := 0; r < b.B; r++ {
			for v := 0; v < V; v++ {
				want := full[(r*b.T+b.T-1)*V+v]
				if d := math.Abs(float64(got[r*V+v] - want)); d > 1e-5*(1+math.Abs(float64(want))) {
					t.Fatalf("chunk %d row %d logit %d: decode %g, forward %g", chunk, r, v, got[r*V+v], want)
				}
			}
		}
	}
}

func TestBadInput(t *testing.T) {
	m := tinyModel(t)
	for name, b := range map[string]Batch{
		"id past vocab":     {B: 1, T: 2, IDs: []int32{1, 11}},
		"negative id":       {B: 1, T: 2, IDs: []int32{-1, 1}},
		"short ids":         {B: 2, T: 2, IDs: []int32{1, 2, 3}},
		"target past vocab": {B: 1, T: 2, IDs: []int32{1, 2}, Targets: []int32{12, npu.IgnoreIndex}},
		"mask size":         {B: 1, T: 2, IDs: []int32{1, 2}, Mask: []int32{1}},
	} {
		if _, err := m.Forward(b); !errors.Is(err, ErrInput) {
			t.Errorf("%s: got %v, want ErrInput", name, err)
		}
	}
	if _, _, err := m.Step(Batch{B: 1, T: 1, IDs: []int32{1}, Targets: []int32{npu.IgnoreIndex}}, 1); !errors.Is(err, ErrInput) {
		t.Errorf("all targets ignored: got %v", err)
	}
	c := m.NewCache(1, 2)
	if _, err := m.Decode(c, []int32{1, 2, 3}, nil); !errors.Is(err, ErrInput) {
		t.Errorf("cache overflow: got %v", err)
	}
}

func TestSampler(t *testing.T) {
	logits := []float32{0.1, 2, -1, 1.9, 0}
	if got := NewSampler(1, 1, 1, 5).Pick(0, logits); got != 1 {
		t.Errorf("top-k 1 picked %d, want the argmax 1", got)
	}
	a, b := NewSampler(0.8, 3, 0.9, 9), NewSampler(0.8, 3, 0.9, 9)
	seen := map[int32]bool{}
	for range 200 {
		x, y := a.Pick(0, logits), b.Pick(0, logits)
		if x != y {
			t.Fatal("same seed, different samples")
		}
		seen[x] = true
	}
	if seen[2] || seen[4] || seen[0] {
		t.Errorf("sampled outside the top 2 that reach p=0.9: %v", seen)
	}
	if !seen[1] || !seen[3] {
		t.Errorf("expected both top tokens over 200 draws: %v", seen)
	}
	// Top-k keeps the tokens tied with the k-th, as Hugging Face does: k 2
	// over [1, 1, 1, 0] samples the three 1s (it had kept the first two).
	tied := NewSampler(1, 2, 1, 3)
	seen = map[int32]bool{}
	for range 300 {
		seen[tied.Pick(0, []float32{1, 1, 1, 0})] = true
	}
	if !seen[0] || !seen[1] || !seen[2] || seen[3] {
		t.Errorf("top-k 2 over three tied logits sampled %v, want 0, 1 and 2", seen)
	}
}

// TestMergeLoRA: folding the adapters into the base weights gives the
// adapted model's logits, which differ from the base model's; a model
// without LoRA is its own merge.
func TestMergeLoRA(t *testing.T) {
	m := tinyModelWith(t, tinyLoRA)
	b := tinyBatch()
	b.Targets = nil
	logits := func(m *Model) []float32 {
		out, err := m.Forward(b)
		if err != nil {
			t.Fatal(err)
		}
		x := make([]float32, out.Len())
		m.Dev.Read(x, out)
		return x
	}
	want := logits(m)
	merged, err := MergeLoRA(m)
	if err != nil {
		t.Fatal(err)
	}
	if merged.Cfg.LoRA.On() || merged.Layout.Size != NewLayout(Config{Vocab: 11, Hidden: 12, Heads: 3, Layers: 2, Eps: 1e-5}).Size {
		t.Fatalf("merged config %+v, %d parameters", merged.Cfg, merged.Layout.Size)
	}
	got := logits(merged)
	for i := range want {
		if d := math.Abs(float64(got[i] - want[i])); d > 1e-5*(1+math.Abs(float64(want[i]))) {
			t.Fatalf("logit %d: merged %g, adapted %g", i, got[i], want[i])
		}
	}
	// The base alone (adapters' B zeroed) answers differently: the adapters
	// did something.
	for _, blk := range m.W.Blocks {
		for _, l := range blk.linears() {
			m.Dev.Fill(l.LoRA.B, 0)
		}
	}
	base := logits(m)
	differ := false
	for i := range base {
		differ = differ || math.Abs(float64(base[i]-want[i])) > 1e-3
	}
	if !differ {
		t.Error("the adapters change no logit")
	}
	plain := tinyModel(t)
	if same, _ := MergeLoRA(plain); same.Cfg.LoRA.On() {
		t.Error("a model without LoRA merged into one with it")
	}
	// AddLoRA starts with B zero: the same logits as the base, bit for bit.
	added, err := AddLoRA(plain, tinyLoRA, 5)
	if err != nil {
		t.Fatal(err)
	}
	if i := slicesIndexDiff(logits(added), logits(plain)); i >= 0 || !added.Cfg.LoRA.On() {
		t.Errorf("AddLoRA: logit %d differs from the base's (LoRA %+v)", i, added.Cfg.LoRA)
	}
	if _, err := AddLoRA(added, tinyLoRA, 5); err == nil {
		t.Error("adapters added twice")
	}
}

// TestLoRALayout: adapters follow their block, are cut like their linear
// (A's columns for row-parallel, B's rows for column-parallel), start as
// peft starts them (B zero, A within ±1/√in) the same for every layout, and
// everything else is frozen.
func TestLoRALayout(t *testing.T) {
	c := Config{Vocab: 16, Hidden: 8, Heads: 2, Layers: 2, Eps: 1e-5, LoRA: LoRA{R: 3, Alpha: 6, Targets: LoRAQKV | LoRAProj}}
	full := NewLayout(c)
	a, ok := full.Lookup("h.1.mlp.dense_4h_to_h.lora_A.weight")
	if !ok || !a.Adapter || a.Frozen || a.Shape[0] != 3 || a.Shape[1] != 32 {
		t.Fatalf("dense_4h_to_h lora_A: %+v", a)
	}
	if w, _ := full.Lookup("h.0.self_attention.query_key_value.weight"); !w.Frozen {
		t.Error("base weight not frozen")
	}
	if _, ok := full.Lookup("h.0.self_attention.dense.lora_A.weight"); ok {
		t.Error("an adapter for a linear not targeted")
	}
	off, n := full.blockRange(0)
	b1, _ := full.Lookup("h.1.input_layernorm.weight")
	if off+n != b1.Offset {
		t.Errorf("block 0 ends at %d, block 1 starts at %d: its adapters are outside its range", off+n, b1.Offset)
	}
	seed := uint64(9)
	whole := make([]float32, full.Size)
	full.initRandom(c, whole, seed, 0.02, 0.01)
	for _, tn := range full.Tensors {
		if !tn.Adapter {
			continue
		}
		for _, v := range whole[tn.Offset : tn.Offset+tn.Size] {
			if strings.Contains(tn.Name, "lora_B") && v != 0 || math.Abs(float64(v)) > 1/math.Sqrt(float64(tn.Shape[1])) {
				t.Fatalf("%s starts with %g", tn.Name, v)
			}
		}
	}
	for tp := range 2 {
		p := Part{TP: 2, TPRank: tp, Layers: 2, Embed: true, Head: true}
		l := NewPartLayout(c, p)
		part := make([]float32, l.Size)
		l.initRandom(c, part, seed, 0.02, 0.01)
		for _, name := range []string{"h.0.self_attention.query_key_value.lora_A.weight", "h.0.self_attention.query_key_value.lora_B.weight",
			"h.1.mlp.dense_4h_to_h.lora_A.weight", "h.1.mlp.dense_4h_to_h.lora_B.weight"} {
			pt, _ := l.Lookup(name)
			ft, _ := full.Lookup(name)
			want := make([]float32, pt.Size)
			l.Shard(pt, whole[ft.Offset:ft.Offset+ft.Size], want)
			if i := slicesIndexDiff(part[pt.Offset:pt.Offset+pt.Size], want); i >= 0 {
				t.Errorf("TP rank %d: %s element %d differs from its piece of the whole model's", tp, name, i)
			}
		}
	}
}

func slicesIndexDiff(a, b []float32) int {
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}

// TestChoose: the alternatives are the n likeliest, best first, ties in id
// order, each with its log-probability (as LogProb gives), for n below,
// at and above the vocabulary; the picked token's own log-probability too.
func TestChoose(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	logits := make([]float32, 50)
	for i := range logits {
		logits[i] = float32(r.IntN(12)) / 4 // many ties
	}
	order := make([]int, len(logits))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return logits[order[a]] > logits[order[b]] })
	for _, n := range []int{0, 1, 5, 50, 60} {
		c := Choose(logits, 7, n, LogNorm(logits))
		if c.ID != 7 || c.Logprob != LogProb(logits, 7) {
			t.Fatalf("n=%d: chose %d with %v, want 7 with %v", n, c.ID, c.Logprob, LogProb(logits, 7))
		}
		if len(c.Top) != min(n, len(logits)) {
			t.Fatalf("n=%d: %d alternatives", n, len(c.Top))
		}
		for k, a := range c.Top {
			if int(a.ID) != order[k] || a.Logprob != LogProb(logits, a.ID) {
				t.Fatalf("n=%d: alternative %d is %d (%v), want %d (%v)", n, k, a.ID, a.Logprob, order[k], LogProb(logits, int32(order[k])))
			}
		}
	}
}

// TestInitMegatron: training from scratch starts as Megatron-DeepSpeed
// (AscendSpeed) starts a model: the blocks' output projections
// (self_attention.dense, mlp.dense_4h_to_h) from N(0, std²/(2·layers)) —
// its scaled_init_method_normal — and the other weights from N(0, std²);
// InitRandom (Hugging Face's init) draws them all with std. Sample stds of
// thousands of values are within 5%.
func TestInitMegatron(t *testing.T) {
	c := Config{Vocab: 64, Hidden: 64, Heads: 4, Layers: 8, Eps: 1e-5}
	const std = 0.02
	for _, megatron := range []bool{true, false} {
		m, err := New(cpu.New(1), c)
		if err != nil {
			t.Fatal(err)
		}
		if megatron {
			m.InitMegatron(3, std)
		} else {
			m.InitRandom(3, std)
		}
		host := make([]float32, m.Layout.Size)
		m.Dev.Read(host, m.Params)
		for _, name := range []string{"h.2.self_attention.dense.weight", "h.5.mlp.dense_4h_to_h.weight", "h.2.self_attention.query_key_value.weight", "h.5.mlp.dense_h_to_4h.weight", "word_embeddings.weight"} {
			i := slices.IndexFunc(m.Layout.Tensors, func(t Tensor) bool { return t.Name == name })
			tt := m.Layout.Tensors[i]
			ss := 0.0
			for _, v := range host[tt.Offset : tt.Offset+tt.Size] {
				ss += float64(v) * float64(v)
			}
			got, want := math.Sqrt(ss/float64(tt.Size)), std
			if megatron && strings.Contains(name, "dense.weight") || megatron && strings.Contains(name, "4h_to_h") {
				want = std / math.Sqrt(2*float64(c.Layers))
			}
			if math.Abs(got/want-1) > 0.05 {
				t.Errorf("megatron %v: %s's std %.5f, want %.5f", megatron, name, got, want)
			}
		}
	}
}
