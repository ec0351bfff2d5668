#!/usr/bin/env python3
"""Golden files for mixed-precision training (--bf16, --fp16 with DeepSpeed's loss scaler).

    /usr/bin/python3 scripts/golden/gen_mixed_golden.py          # (re)writes trainer/testdata/golden/mp_*/
    /usr/bin/python3 scripts/golden/gen_mixed_golden.py --check  # regenerate in memory, compare bytes

The model is bloom_ref's re-implementation of Hugging Face BloomForCausalLM with gen_golden.py's
initialization, in float32, cast exactly as trainer/bloom/precision.go documents:

- every matrix product of a linear (query_key_value, dense, dense_h_to_4h, dense_4h_to_h) and of
  the tied head rounds both operands to the half type (round to nearest even; fp16 overflows to
  +-Inf) and multiplies and sums in float32; the bias is added after, in float32. Its backward
  rounds the incoming gradient and the saved (rounded) operand the same way for both products
  (input gradient dy.W, weight gradient dy^T.x); the input gradient it returns is float32.
- everything else (embedding, layer norms, attention with its softmax, GELU, residuals, the
  cross entropy and the loss) is float32; parameters are float32 master weights.

One training step, as trainer.Rank runs it for one rank (DeepSpeed's order):
  loss = mean CE; (S * loss).backward()            S = the loss scale (1 without a scaler)
  fp16: every gradient rounded to fp16             (DeepSpeed's fp16 .grad)
  norm = sqrt(sum g^2) over all gradients (float64)
  fp16: overflow = norm not finite; the scaler updates (DynamicLossScaler with hysteresis, or
        FP16_Optimizer's rule); an overflow skips the step; else the gradients are multiplied by
        1/combined, combined = S' * max(1, (norm/S' + 1e-6)/clip), S' the UPDATED scale
        (DeepSpeed unscales after _update_scale); the reported norm is norm/S
  bf16: gradients multiplied by clip/(norm + 1e-6) when norm > clip
  torch.optim.AdamW step (constant lr) unless skipped; samples are consumed either way.

Each step trains on the next B samples of `samples` (T+1 tokens: ids = [:T], targets = [1:]).
The same B samples are trained on every step (the loss falls). A case is redrawn (seed + 100*attempt)
until the largest finite value any step rounds lies more than 2% from fp16's overflow threshold (65520):
above it some value is surely +-Inf, below it none can be, so no verdict hinges on summation order.

Output: trainer/testdata/golden/mp_<case>/ with config.json, model.safetensors (the initial
float32 weights) and golden.safetensors:
  samples I64 (K*B, T+1); logits F32 (B,T,V) and loss F32 [1]: step 1's forward;
  grad.<P> F32: the gradients of S*loss, before any rounding of the gradients, of the first step
    whose gradients are finite (metadata grad_step, 0-based; every step before it was skipped, so
    it ran from the initial weights on the same batch);
  step.loss, step.loss_scale, step.skipped (0/1), step.grad_norm F32 [K]: each step's report;
  final.<P> F32: the parameters after K steps.
  metadata: precision, steps, lr, clip, adam, and for fp16 the scaler's settings and rule.
"""

import argparse
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bloom_ref as br  # noqa: E402
import gen_golden as gg  # noqa: E402

FP16_OVERFLOW = 65520.0  # the least float32 that rounds to +Inf in fp16
ADAM = {"lr": 1e-2, "beta1": 0.9, "beta2": 0.95, "eps": 1e-8, "weight_decay": 0.1}
CLIP = 1.0

CASES = [
    dict(name="mp_bf16", dtype=torch.bfloat16, vocab=96, hidden=32, heads=4, layers=2, B=2, T=8, K=6, seed=5001),
    # The scaler starts far above what fp16 holds, so the first steps overflow and are skipped;
    # window 2 makes it double again within the run.
    dict(name="mp_fp16", dtype=torch.float16, vocab=96, hidden=32, heads=4, layers=2, B=2, T=8, K=10, seed=5002,
         scale_power=20, window=2, hysteresis=2, min_scale=1.0, rule="DynamicLossScaler"),
    dict(name="mp_fp16_z0", dtype=torch.float16, vocab=96, hidden=32, heads=4, layers=2, B=2, T=8, K=10, seed=5003,
         scale_power=20, window=2, hysteresis=2, min_scale=1.0, rule="FP16_Optimizer"),
]


class Rounding:
    """Rounds to the half type and records the largest finite magnitude it rounds in a step."""

    def __init__(self, dtype):
        self.dtype = dtype
        self.step_max = 0.0
        self.closest = math.inf  # fp16: least relative distance of a step's largest value to the overflow threshold

    def __call__(self, x):
        a = x.detach().abs()
        a = a[torch.isfinite(a)]
        if a.numel():
            self.step_max = max(self.step_max, float(a.max()))
        return x.to(self.dtype).to(torch.float32)

    def end_step(self):
        """A step's verdict is robust when its largest value is clear of the threshold."""
        if self.dtype == torch.float16:
            self.closest = min(self.closest, abs(self.step_max - FP16_OVERFLOW) / FP16_OVERFLOW)
        self.step_max = 0.0


def half_matmul(rnd):
    class HalfMatmul(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, w):
            xr, wr = rnd(x), rnd(w)
            ctx.save_for_backward(xr, wr)
            return xr @ wr.t()

        @staticmethod
        def backward(ctx, dy):
            xr, wr = ctx.saved_tensors
            dyr = rnd(dy)
            return dyr @ wr, dyr.t() @ xr

    return HalfMatmul.apply


class DynamicLossScaler:
    """DeepSpeed runtime/fp16/loss_scaler.py DynamicLossScaler.update_scale (ZeRO 1-3)."""

    def __init__(self, c):
        self.scale, self.window, self.hyst, self.min = 2.0 ** c["scale_power"], c["window"], c["hysteresis"], c["min_scale"]
        self.cur_hyst, self.cur_iter, self.last_overflow = self.hyst, 0, -1

    def update(self, overflow):
        if overflow:
            if self.hyst == 1 or self.cur_hyst == 1:
                assert self.scale != self.min, "loss scale at its minimum"
                self.scale = max(self.scale / 2, self.min)
            else:
                self.cur_hyst -= 1
            self.last_overflow = self.cur_iter
        elif (self.cur_iter - self.last_overflow) % self.window == 0:
            self.cur_hyst = self.hyst
            self.scale *= 2
        self.cur_iter += 1


class FP16OptimizerScaler(DynamicLossScaler):
    """DeepSpeed runtime/fp16/fused_optimizer.py FP16_Optimizer._update_scale (ZeRO 0)."""

    def update(self, overflow):
        if overflow:
            self.scale = max(self.scale / 2, self.min)
            self.last_overflow = self.cur_iter
        else:
            stable = self.cur_iter - self.last_overflow - 1
            if stable > 0 and stable % self.window == 0:
                self.scale *= 2
        self.cur_iter += 1


def run(case, seed):
    gg.setup_determinism()
    gen = torch.Generator().manual_seed(seed)
    cfg = br.BloomConfig(case["vocab"], case["hidden"], case["heads"], case["layers"])
    model = br.BloomForCausalLM(cfg)
    gg.init_params(model, gen)
    init = {n: p.detach().clone() for n, p in model.named_parameters()}
    B, T, K, V = case["B"], case["T"], case["K"], case["vocab"]
    # One batch, seen every step (so the loss falls): rows k*B..(k+1)*B of samples are equal.
    samples = torch.randint(gg.FIRST_NORMAL_TOKEN, V, (B, T + 1), generator=gen, dtype=torch.int64).repeat(K, 1)

    rnd = Rounding(case["dtype"])
    mm = half_matmul(rnd)
    plain_linear = F.linear

    def mixed_linear(x, w, b=None):
        y = mm(x.reshape(-1, x.shape[-1]), w).reshape(*x.shape[:-1], w.shape[0])
        return y if b is None else y + b

    fp16 = case["dtype"] == torch.float16
    scaler = None
    if fp16:
        scaler = (DynamicLossScaler if case["rule"] == "DynamicLossScaler" else FP16OptimizerScaler)(case)
    opt = torch.optim.AdamW(br.adamw_param_groups(model, ADAM["weight_decay"]), lr=ADAM["lr"],
                            betas=(ADAM["beta1"], ADAM["beta2"]), eps=ADAM["eps"], weight_decay=ADAM["weight_decay"])
    params = list(model.named_parameters())
    g, meta = {"samples": samples}, {}
    rep = {"step.loss": [], "step.loss_scale": [], "step.skipped": [], "step.grad_norm": []}
    F.linear = mixed_linear  # nn.Linear and bloom_ref's head call torch.nn.functional.linear
    try:
        for k in range(K):
            batch = samples[k * B:(k + 1) * B]
            ids, targets = batch[:, :T], batch[:, 1:]
            model.zero_grad(set_to_none=True)
            logits = model(ids)["logits"]
            loss = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1))
            S = scaler.scale if scaler else 1.0
            (loss * S).backward()
            if k == 0:
                g["logits"], g["loss"] = logits.detach().clone(), loss.detach().reshape(1).clone()
            if "grad_step" not in meta and all(p.grad.isfinite().all() for _, p in params):
                # The first step whose gradients are finite. Every step before it was
                # skipped, so it ran from the initial weights on the same batch.
                meta["grad_step"] = str(k)
                for n, p in params:
                    g["grad." + n] = p.grad.detach().clone()
            if fp16:
                for _, p in params:
                    p.grad = rnd(p.grad)
            norm = math.sqrt(sum(float(p.grad.double().pow(2).sum()) for _, p in params))
            skip, factor = False, 1.0
            if fp16:
                overflow = not math.isfinite(norm)
                scaler.update(overflow)
                skip = overflow
                if not skip:
                    combined = scaler.scale
                    clip = (norm / scaler.scale + 1e-6) / CLIP
                    if clip > 1:
                        combined = clip * scaler.scale
                    factor = 1 / combined
                norm = 0.0 if skip else norm / S
            elif norm > CLIP:
                factor = CLIP / (norm + 1e-6)
            if not skip:
                if factor != 1:
                    for _, p in params:
                        p.grad.mul_(factor)
                opt.step()
            rnd.end_step()
            rep["step.loss"].append(float(loss))
            rep["step.loss_scale"].append(S if fp16 else 0.0)
            rep["step.skipped"].append(1.0 if skip else 0.0)
            rep["step.grad_norm"].append(norm)
    finally:
        F.linear = plain_linear
    for name, v in rep.items():
        g[name] = torch.tensor(v, dtype=torch.float32)
    for n, p in params:
        g["final." + n] = p.detach().clone()
    return cfg, init, g, meta, rnd.closest, rep


def build(case, log):
    for attempt in range(20):
        seed = case["seed"] + 100 * attempt
        cfg, init, g, gmeta, closest, rep = run(case, seed)
        if closest > 0.02:
            break
    else:
        raise SystemExit("%s: every seed put a value within 2%% of the fp16 overflow threshold" % case["name"])
    skipped = int(sum(rep["step.skipped"]))
    if case["dtype"] == torch.float16:
        scales = rep["step.loss_scale"]
        assert skipped >= 2 and any(b > a for a, b in zip(scales, scales[1:])), (case["name"], scales, rep["step.skipped"])
    meta = dict(gmeta)
    meta.update({"format": "bloom-golden", "version": "1", "generator": "scripts/golden/gen_mixed_golden.py",
            "torch": torch.__version__, "case": case["name"], "seed": str(seed), "attempts": str(attempt + 1),
            "precision": {torch.float16: "fp16", torch.bfloat16: "bf16"}[case["dtype"]],
            "steps": str(case["K"]), "micro_batch": str(case["B"]), "seq_length": str(case["T"]),
            "lr": repr(ADAM["lr"]), "clip_grad": repr(CLIP), "adam_beta1": repr(ADAM["beta1"]),
            "adam_beta2": repr(ADAM["beta2"]), "adam_eps": repr(ADAM["eps"]), "weight_decay": repr(ADAM["weight_decay"])})
    if case["dtype"] == torch.float16:
        meta.update({"initial_scale_power": str(case["scale_power"]), "loss_scale_window": str(case["window"]),
                     "hysteresis": str(case["hysteresis"]), "min_loss_scale": repr(case["min_scale"]),
                     "rule": case["rule"]})
    log("%s: seed %d, loss %.4f -> %.4f, %d skipped, scales %s, closest to overflow %.3f" % (
        case["name"], seed, rep["step.loss"][0], rep["step.loss"][-1], skipped,
        [int(s) for s in rep["step.loss_scale"]], closest))
    return {"config.json": gg.config_json(cfg, torch.float32),
            "model.safetensors": br.safetensors_bytes(init, {"format": "pt"}),
            "golden.safetensors": br.safetensors_bytes(g, meta)}


README = """# Mixed-precision golden files: `mp_bf16`, `mp_fp16`, `mp_fp16_z0`

Generated by `scripts/golden/gen_mixed_golden.py` (`--check` regenerates in memory and compares bytes, which
holds on the CPU kind that wrote them: PyTorch's float32 kernels round differently on others): the same
reference model as README.md's cases, cast exactly as `trainer/bloom`'s package doc documents (every linear's and the tied head's
matrix product rounds both operands to bf16 or fp16 and sums in float32, in the forward and in
both backward products; everything else float32), trained for K steps as `trainer.Rank` runs one
rank: fp16 gradients, DeepSpeed's loss scaler (`mp_fp16`: DynamicLossScaler with hysteresis, the
ZeRO 1-3 rule; `mp_fp16_z0`: FP16_Optimizer's rule, ZeRO 0 as the seed runs), skipped steps,
unscaling by the moved scale, clipping, torch AdamW. V 96, h 32, 4 heads, 2 layers, B 2, T 8, one
batch trained on every step; the fp16 scaler starts at 2^20 (window 2), so the first steps overflow.
Each directory holds `config.json`, `model.safetensors` (initial F32 weights) and
`golden.safetensors`: `samples`, step 1's `logits` and `loss`, `grad.P` (of S·loss, the first step
with finite gradients: metadata `grad_step`), `step.loss`, `step.loss_scale`, `step.skipped`,
`step.grad_norm` per step, and `final.P`. The seed is redrawn until every step's largest finite
rounded value is more than 2% away from fp16's overflow threshold, so no skip hinges on
summation order. Tolerances and why: `trainer/golden_mixed_test.go`.
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true", help="compare with the files on disk instead of writing")
    args = ap.parse_args()
    files = {"README-mixed.md": README.encode()}
    for case in CASES:
        for name, data in build(case, print).items():
            files[os.path.join(case["name"], name)] = data
    sys.exit(0 if gg.write_files(gg.OUT_DIR, files, args.check, print) else 1)


if __name__ == "__main__":
    main()
