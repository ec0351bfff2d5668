package memplan

import (
	"errors"
	"testing"

	"bloom/trainer/bloom"
)

// Seed7B is the seed's pretrain_bloom_7b1.sh (shared/reference/bloom.md
// §1.1): TP8 PP1 on 8 devices (DP 1), micro-batch 4, global batch 512 (128
// micro-batches), seq 2048, --fp16, no recomputation.
var seed7B = Job{Model: bloom.Presets["bloom-7b1"], TP: 8, PP: 1, DP: 1, MicroBatch: 4, SeqLength: 2048,
	MicroBatches: 512 / 4, Precision: FP16}

// seed176B is the seed's 176B layout (§1.2 and the converter's
// --partition-layers): TP8 PP12 DP1, 6,…,6,4, micro-batch 2, global
// batch 2048, seq 2048, --bf16, --checkpoint-activations.
var seed176B = Job{Model: bloom.Presets["bloom"], TP: 8, PP: 12, DP: 1,
	Partition: []int{6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 4}, MicroBatch: 2, SeqLength: 2048, MicroBatches: 2048 / 2,
	Precision: BF16, Recompute: true}

// TestSeed7B checks the plan against hand arithmetic. h = 4096, a = 32,
// V = 250880, L = 30, t = 8, s = 2048, b = 4.
//
// Parameters of one rank: a layer holds 12h²/t = 25,165,824 weights and
// 3h/t + h + 4h + 4h/t + h = 1536 + 4096 + 16384 + 2048 + 4096 = 28,160
// biases and norms: 25,193,984; ×30 = 755,819,520. The embedding V/t·h =
// 31360·4096 = 128,450,560, its norm and ln_f 2h each: 16,384. Total
// 884,286,464 (7.07e9/8 ≈ 0.884e9). At 16 bytes each (4 weights, 4 grads,
// 8 moments): 14,148,583,424.
//
// Activations, one micro-batch in flight (PP 1): s·b·h = 33,554,432; a
// layer keeps sbh·(10 + 24/8) + 5·a·s²·b/t = 436,207,616 + 335,544,320 =
// 771,751,936 16-bit bytes, of which the linears' inputs, kept in fp16,
// are 4sbh + 10sbh/8 = 176,160,768; the rest ×2 for float32:
// 1,191,182,336 + 176,160,768 = 1,367,343,104; ×30 = 41,020,293,120.
// Plus the embedding norm's input 2sbh·2 = 134,217,728, ln_f's 2sbh·2 and
// the head's 2sbh (fp16) = 201,326,592 and the fp32 logits 4·s·b·V/t =
// 4·8192·31360 = 1,027,604,480: 42,383,441,920 in all.
func TestSeed7B(t *testing.T) {
	p, err := New(seed7B)
	if err != nil {
		t.Fatal(err)
	}
	st := p.Stages[0]
	want := Bytes{Weights: 4 * 884286464, Grads: 4 * 884286464, Optimizer: 8 * 884286464, Activations: 42383441920}
	want.Total = 14148583424 + want.Activations
	if len(p.Stages) != 1 || st.Params != 884286464 || st.InFlight != 1 || st.Rank != want {
		t.Errorf("plan %+v\nwant params 884286464, in flight 1, %+v", p.Stages, want)
	}
	for r := range p.Ranks() {
		if p.PerRank(r) != want {
			t.Errorf("rank %d: %+v", r, p.PerRank(r))
		}
	}
}

// TestSeed176B checks the plan against hand arithmetic. h = 14336, a =
// 112, V = 250880, t = 8, s = 2048, b = 2, 12 stages of 6 layers but the
// last of 4, bf16, full recomputation.
//
// Parameters: a layer holds 12h²/t = 308,281,344 weights and 3h/t + h +
// 4h + 4h/t + h = 5376 + 14336 + 57344 + 7168 + 14336 = 98,560 others:
// 308,379,904. The embedding V/t·h = 31360·14336 = 449,576,960 and a norm
// of 2h = 28,672 sit on the first stage, the tied head's copy and ln_f on
// the last. Stage 0: 6·308,379,904 + 449,605,632 = 2,299,885,056; stages
// 1-10: 1,850,279,424; stage 11: 4·308,379,904 + 449,605,632 =
// 1,683,125,248. On average (176.2e9 + 3.6e9 for the head's copy)/96 ≈
// 1.87e9 a rank.
//
// Activations: s·b·h = 58,720,256. Recomputation keeps each layer's input,
// 2sbh 16-bit bytes, ×2 for float32: 234,881,024 a layer. Stage i keeps
// 12−i micro-batches. Stage 0: (6 + 1 for the embedding norm's input) ·
// 234,881,024 = 1,644,167,168 a micro-batch, ×12 = 19,730,006,016, plus
// the working set of the layer being recomputed: sbh·(10 + 3) +
// 5·a·s²·b/t = 763,363,328 + 587,202,560 = 1,350,565,888 16-bit bytes,
// of which the linears' inputs (bf16) are 4sbh + 10sbh/8 = 308,281,344;
// the rest ×2: 2,084,569,088 + 308,281,344 = 2,392,850,432;
// 22,122,856,448 in all. Stage 11: 4 layers (939,524,096), ln_f's input
// 2sbh·2 and the head's 2sbh (bf16) = 352,321,536, the logits 4·s·b·V/t
// = 513,802,240, one micro-batch, plus the working set: 4,198,498,304.
func TestSeed176B(t *testing.T) {
	p, err := New(seed176B)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Stages) != 12 || p.Ranks() != 96 {
		t.Fatalf("%d stages, %d ranks", len(p.Stages), p.Ranks())
	}
	for _, c := range []struct {
		stage, inFlight int
		params, acts    int64
	}{
		{0, 12, 2299885056, 22122856448},
		{1, 11, 1850279424, 11*6*234881024 + 2392850432},
		{11, 1, 1683125248, 4198498304},
	} {
		st := p.Stages[c.stage]
		want := Bytes{Weights: 4 * c.params, Grads: 4 * c.params, Optimizer: 8 * c.params, Activations: c.acts}
		want.Total = 16*c.params + c.acts
		if st.Params != c.params || st.InFlight != c.inFlight || st.Rank != want {
			t.Errorf("stage %d: %+v\nwant params %d, in flight %d, %+v", c.stage, st, c.params, c.inFlight, want)
		}
		if got := p.PerRank(c.stage * 8); got != want {
			t.Errorf("rank %d: %+v", c.stage*8, got)
		}
	}
	if m := p.Max(); m.Stage != 0 {
		t.Errorf("the largest stage is %d, want 0", m.Stage)
	}
	var params int64
	for _, st := range p.Stages {
		params += st.Params * 8
	}
	// The whole model, the head's copy of the embeddings (V·h), and 7 more
	// copies of what every tensor-parallel rank holds whole: a layer's
	// norms and row-parallel biases (6h) and the two other norms (4h).
	h := int64(14336)
	if n := int64(bloom.Presets["bloom"].NumParams()) + 250880*h + 7*(70*6*h+4*h); params != n {
		t.Errorf("the stages hold %d parameters, want %d", params, n)
	}
}

// TestLoRAFrozen: under LoRA only the adapters have gradients and moments.
// The seed's tune_bloom_7b1.sh adapts query_key_value and dense with r 16:
// per layer and rank, qkv's A (r, h) whole and B (3h/t, r), dense's A
// (r, h/t) and B (h, r): 16·(4096 + 1536 + 512 + 4096) = 163,840; ×30 =
// 4,915,200 trainable parameters a rank.
func TestLoRAFrozen(t *testing.T) {
	j := seed7B
	j.Model.LoRA = bloom.LoRA{R: 16, Alpha: 32, Targets: bloom.LoRAQKV | bloom.LoRADense}
	p, err := New(j)
	if err != nil {
		t.Fatal(err)
	}
	st := p.Stages[0]
	if st.Trainable != 4915200 || st.Params != 884286464+4915200 {
		t.Errorf("trainable %d of %d parameters, want 4915200 of %d", st.Trainable, st.Params, 884286464+4915200)
	}
	if st.Rank.Grads != 4*4915200 || st.Rank.Optimizer != 8*4915200 {
		t.Errorf("grads %d, optimizer %d bytes", st.Rank.Grads, st.Rank.Optimizer)
	}
}

// TestHalfLinearInputs: under fp16 (and bf16) the inputs of the linears
// without an adapter and of the head are kept in 2 bytes, not 4. seed7B:
// a layer's are 4sbh + 10sbh/8 = 176,160,768 16-bit bytes (sbh =
// 33,554,432), ×30, and the head's 2sbh = 67,108,864: 5,351,931,904 bytes
// fewer than at fp32. Adapting query_key_value and dense keeps their 2sbh
// and 2sbh/8 in float32: 30·3sbh + 2sbh = 3,087,007,744 fewer.
func TestHalfLinearInputs(t *testing.T) {
	for _, c := range []struct {
		lora  bloom.LoRATarget
		fewer int64
	}{{0, 5351931904}, {bloom.LoRAQKV | bloom.LoRADense, 3087007744}} {
		acts := map[Precision]int64{}
		for _, prec := range []Precision{FP32, FP16, BF16} {
			j := seed7B
			j.Precision = prec
			if c.lora != 0 {
				j.Model.LoRA = bloom.LoRA{R: 16, Alpha: 32, Targets: c.lora}
			}
			p, err := New(j)
			if err != nil {
				t.Fatal(err)
			}
			acts[prec] = p.Stages[0].Rank.Activations
		}
		if d := acts[FP32] - acts[FP16]; d != c.fewer || acts[BF16] != acts[FP16] {
			t.Errorf("LoRA %v: activations fp32 %d, fp16 %d, bf16 %d: %d fewer, want %d", c.lora.Names(), acts[FP32], acts[FP16], acts[BF16], d, c.fewer)
		}
	}
}

// TestInFlight: 1F1B keeps PP−i micro-batches on stage i, no more than a
// step has.
func TestInFlight(t *testing.T) {
	j := Job{Model: bloom.Presets["bloom-small"], TP: 1, PP: 4, MicroBatch: 1, SeqLength: 16, Precision: FP32, MicroBatches: 2}
	for mb, want := range map[int][]int{0: {4, 3, 2, 1}, 2: {2, 2, 2, 1}, 8: {4, 3, 2, 1}} {
		j.MicroBatches = mb
		p, err := New(j)
		if err != nil {
			t.Fatal(err)
		}
		for i, st := range p.Stages {
			if st.InFlight != want[i] {
				t.Errorf("%d micro-batches: stage %d keeps %d, want %d", mb, i, st.InFlight, want[i])
			}
		}
	}
}

func TestBadJobs(t *testing.T) {
	ok := Job{Model: bloom.Presets["bloom-small"], TP: 1, PP: 1, MicroBatch: 1, SeqLength: 16, Precision: FP32}
	for name, change := range map[string]func(*Job){
		"TP 3 (8 heads)":   func(j *Job) { j.TP = 3 },
		"PP 3 (4 layers)":  func(j *Job) { j.PP = 3 },
		"partition sum":    func(j *Job) { j.PP, j.Partition = 2, []int{1, 2} },
		"no micro-batch":   func(j *Job) { j.MicroBatch = 0 },
		"precision":        func(j *Job) { j.Precision = "fp8" },
		"partition stages": func(j *Job) { j.Partition = []int{2, 2} },
	} {
		j := ok
		change(&j)
		if _, err := New(j); !errors.Is(err, ErrJob) {
			t.Errorf("%s: %v, want ErrJob", name, err)
		}
	}
}

// TestInferenceWeights: an inference job holds its parameters as loaded
// (float32) and a copy of the matrices packed for its products — the
// blocks' four linears, and the tied head on the last stage only — in
// float32, or the half type of fp16 and bf16 products. No gradients, no
// optimizer. bloom-560m: h = 1024, 24 layers, V = 250880, PP 2.
func TestInferenceWeights(t *testing.T) {
	const h, layers, V = 1024, 24, 250880
	linears := int64(layers/2) * 12 * h * h // a stage's blocks
	for _, c := range []struct {
		p    Precision
		each int64 // bytes a packed value
	}{{FP32, 4}, {FP16, 2}, {BF16, 2}} {
		j := Job{Model: bloom.Presets["bloom-560m"], TP: 1, PP: 2, MicroBatch: 1, SeqLength: 64, Precision: c.p, Inference: true, KVTokens: 64}
		p, err := New(j)
		if err != nil {
			t.Fatal(err)
		}
		for stage, head := range []int64{0, V * h} {
			r := p.PerRank(stage)
			want := 4*p.Stages[stage].Params + c.each*(linears+head)
			if r.Weights != want || r.Grads != 0 || r.Optimizer != 0 {
				t.Errorf("%v stage %d: weights %d, want %d; grads %d, optimizer %d", c.p, stage, r.Weights, want, r.Grads, r.Optimizer)
			}
		}
	}
}
