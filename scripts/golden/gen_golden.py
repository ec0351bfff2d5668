#!/usr/bin/env python3
"""Golden-file generator for the Go BLOOM implementation.

Rerun from the repository root with the system interpreter (Debian python3-torch):

    /usr/bin/python3 scripts/golden/gen_golden.py            # (re)writes trainer/testdata/golden/
    /usr/bin/python3 scripts/golden/gen_golden.py --check    # regenerate in memory, compare bytes

(``python3 scripts/golden/gen_golden.py`` works wherever ``python3`` has torch; on the
build machine ``python3`` is a pyenv interpreter without torch, hence /usr/bin/python3.)

Greedy prompts: for each case the prompt is redrawn (seed*1000+7+attempt) until every
step's top-1/top-2 logit gap is >= 1e-2 (the brief asked for >= 1e-3), no eos (2) is
generated (so HF generate's eos->pad handling cannot differ from plain argmax), and
each row has >= 3 distinct tokens (random tied-embedding models like to repeat one
token, which would hide KV-cache/position bugs). The number of attempts is stored in
the metadata (greedy_prompt_attempts); the KV-cached greedy is checked to agree.
Only torch + numpy are needed; Hugging Face transformers is NOT used: the model is
``scripts/golden/bloom_ref.py``, a faithful re-implementation of HF
``BloomForCausalLM``. Everything is deterministic (explicit seeds, float32,
1 thread, torch.use_deterministic_algorithms) and rerunning writes byte-identical
files (``--check`` verifies that against what is on disk).

Output: trainer/testdata/golden/<case>/ with
  config.json                 HF config (sort_keys, indent 2)
  weights                     HF layout, see CASES (single file / sharded + index)
  golden.safetensors          inputs and expected outputs (see README.md written next to it)

Initialization (chosen so the tests are discriminative, i.e. logits far from
uniform, std ~1.6-2.1, and every parameter matters -- except the key third of
query_key_value.bias, whose exact gradient is 0 since softmax cancels it; see README):
  word_embeddings           N(0, 0.3^2)  (tied lm_head: sets the logit scale, std ~1.6-2.1)
  other Linear weights      N(0, 0.3^2)  (0.2 left the residual stream dominated by the
                                          token's own embedding, so greedy decoding just
                                          repeated one token; 0.3 gives varied output)
  Linear biases             N(0, 0.1^2)
  LayerNorm weights         1 + N(0, 0.1^2)
  LayerNorm biases          N(0, 0.1^2)
drawn in named_parameters() order from a torch.Generator seeded per case.
Weights are rounded to the storage dtype (BF16/F16 cases) and the golden values
are computed in float32 from the rounded weights, upcast.
"""

import argparse
import copy
import json
import os
import sys

import torch

sys.dont_write_bytecode = True  # keep __pycache__ out of the repo
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bloom_ref as br  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT_DIR = os.path.join(REPO_ROOT, "trainer", "testdata", "golden")

PAD, EOS = 3, 2
FIRST_NORMAL_TOKEN = 4  # input tokens are drawn from [4, V): no unk/bos/eos/pad

ADAM = {"lr": 1e-2, "beta1": 0.9, "beta2": 0.95, "eps": 1e-8, "weight_decay": 0.1, "adam_steps": 5}
GREEDY_NEW_TOKENS = 6
GREEDY_PROMPT_LEN = 5
MIN_GAP = 1e-2  # top-1/top-2 logit gap required at every greedy step (stricter than 1e-3)
MIN_DISTINCT = 3  # each greedy row must contain >= 3 distinct tokens (not one repeated token)

INIT = {"embed_std": 0.3, "matrix_std": 0.3, "bias_std": 0.1, "ln_weight_std": 0.1, "ln_bias_std": 0.1}

# adam_params: whether adam.<name> (parameters after the AdamW steps) is stored.
# adam.loss is always stored. The parameter snapshots are left out of the two
# cases that would add nothing new for AdamW (h6 is the largest case; h4f16 has
# h4's shape), which keeps trainer/testdata/golden under 2 MB.
CASES = [
    dict(name="h4", vocab=96, hidden=32, heads=4, layers=2, B=2, T=7, seed=1004,
         wdtype=torch.float32, prefix="transformer.", shards=1, adam_params=True),
    dict(name="h6", vocab=128, hidden=48, heads=6, layers=3, B=2, T=9, seed=1006,
         wdtype=torch.float32, prefix="", shards=2, adam_params=False),
    dict(name="h12bf16", vocab=160, hidden=48, heads=12, layers=2, B=2, T=6, seed=1012,
         wdtype=torch.bfloat16, prefix="", shards=1, adam_params=True),
    dict(name="h4f16", vocab=96, hidden=32, heads=4, layers=2, B=2, T=7, seed=2004,
         wdtype=torch.float16, prefix="transformer.", shards=1, adam_params=False),
]

DTYPE_NAMES = {torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16"}


def setup_determinism():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.set_default_dtype(torch.float32)


@torch.no_grad()
def init_params(model, gen):
    for name, p in model.named_parameters():
        if name == "word_embeddings.weight":
            p.normal_(0.0, INIT["embed_std"], generator=gen)
        elif "layernorm" in name or name.startswith("ln_f"):
            if name.endswith(".weight"):
                p.normal_(0.0, INIT["ln_weight_std"], generator=gen)
                p.add_(1.0)
            else:
                p.normal_(0.0, INIT["ln_bias_std"], generator=gen)
        elif name.endswith(".bias"):
            p.normal_(0.0, INIT["bias_std"], generator=gen)
        else:
            p.normal_(0.0, INIT["matrix_std"], generator=gen)


def padded_batch(gen, vocab, B, T, npad):
    """Random ids in [4, V); row 1 (if any) left-padded by npad with PAD, mask 0."""
    ids = torch.randint(FIRST_NORMAL_TOKEN, vocab, (B, T), generator=gen, dtype=torch.int64)
    mask = torch.ones((B, T), dtype=torch.int64)
    if B > 1 and npad > 0:
        ids[1, :npad] = PAD
        mask[1, :npad] = 0
    return ids, mask


def config_json(cfg, wdtype):
    return (json.dumps(cfg.to_hf_dict(DTYPE_NAMES[wdtype]), indent=2, sort_keys=True) + "\n").encode()


def weight_files(case, params):
    """Returns {filename: bytes} in the case's HF layout. params: name -> stored-dtype tensor."""
    names = list(params)  # named_parameters order
    st_meta = {"format": "pt"}  # what HF save_pretrained writes
    if case["shards"] == 1:
        t = {case["prefix"] + n: params[n] for n in names}
        return {"model.safetensors": br.safetensors_bytes(t, st_meta)}
    # Two shards, split in parameter order: embeddings + the first half of the blocks
    # go to shard 1, the rest (+ ln_f) to shard 2 (like save_pretrained's max_shard_size).
    L = case["layers"]
    first = set(n for n in names if n.startswith("word_embeddings")
                or (n.startswith("h.") and int(n.split(".")[1]) < (L + 1) // 2))
    files, weight_map, total = {}, {}, 0
    nshards = case["shards"]
    for k, sel in enumerate([lambda n: n in first, lambda n: n not in first], start=1):
        fname = "model-%05d-of-%05d.safetensors" % (k, nshards)
        t = {case["prefix"] + n: params[n] for n in names if sel(n)}
        files[fname] = br.safetensors_bytes(t, st_meta)
        for n, v in t.items():
            weight_map[n] = fname
            total += v.numel() * v.element_size()
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    files["model.safetensors.index.json"] = (json.dumps(index, indent=2, sort_keys=True) + "\n").encode()
    return files


def build_case(case, log):
    setup_determinism()
    torch.manual_seed(case["seed"])
    gen = torch.Generator().manual_seed(case["seed"])
    cfg = br.BloomConfig(case["vocab"], case["hidden"], case["heads"], case["layers"])
    model = br.BloomForCausalLM(cfg)
    init_params(model, gen)

    # Round to the storage dtype; compute in float32 from the rounded values.
    stored = {}
    with torch.no_grad():
        for n, p in model.named_parameters():
            s = p.detach().to(case["wdtype"]).contiguous()
            stored[n] = s
            p.copy_(s.to(torch.float32))
    init_state = copy.deepcopy(model.state_dict())

    B, T = case["B"], case["T"]
    input_ids, attention_mask = padded_batch(gen, cfg.vocab_size, B, T, 2)
    labels = input_ids.masked_fill(attention_mask == 0, -100)

    # Forward + backward (training mode: HF GeLUFunction backward).
    model.train()
    model.zero_grad(set_to_none=True)
    out = model(input_ids, attention_mask=attention_mask, labels=labels, return_hidden=True)
    loss = out["loss"]
    loss.backward()
    logits = out["logits"].detach()

    g = {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "labels": labels,
        "logits": logits.clone(),
        "loss": loss.detach().reshape(1).clone(),
        "debug.alibi_slopes": br.alibi_slopes(cfg.n_head),
        "debug.embed_ln": out["hidden"][0].detach().clone(),
    }
    for i in range(cfg.n_layer):
        g["debug.block.%d" % i] = out["hidden"][i + 1].detach().clone()
    for n, p in model.named_parameters():
        g["grad." + n] = p.grad.detach().clone()

    # AdamW: 5 steps on the same batch, from the initial weights.
    amodel = br.BloomForCausalLM(cfg)
    amodel.load_state_dict(init_state)
    amodel.train()
    opt = torch.optim.AdamW(br.adamw_param_groups(amodel, ADAM["weight_decay"]), lr=ADAM["lr"],
                            betas=(ADAM["beta1"], ADAM["beta2"]), eps=ADAM["eps"],
                            weight_decay=ADAM["weight_decay"])
    losses = []
    for _ in range(ADAM["adam_steps"]):
        opt.zero_grad()
        l = amodel(input_ids, attention_mask=attention_mask, labels=labels)["loss"]
        losses.append(float(l.detach()))
        l.backward()
        opt.step()
    g["adam.loss"] = torch.tensor(losses, dtype=torch.float32)
    if case["adam_params"]:
        for n, p in amodel.named_parameters():
            g["adam." + n] = p.detach().clone()

    # Greedy generation: no KV cache, full rerun each step, mask extended by ones.
    model.eval()
    attempt = 0
    while True:
        pgen = torch.Generator().manual_seed(case["seed"] * 1000 + 7 + attempt)
        p_ids, p_mask = padded_batch(pgen, cfg.vocab_size, 2, GREEDY_PROMPT_LEN, 1)
        toks, gap = br.greedy_nocache(model, p_ids, p_mask, GREEDY_NEW_TOKENS)
        distinct = min(len(set(r)) for r in toks.tolist())
        ok = gap >= MIN_GAP and not bool((toks == EOS).any()) and distinct >= MIN_DISTINCT
        if ok:
            break
        attempt += 1
        if attempt > 100:
            raise RuntimeError("could not find an unambiguous greedy prompt")
    cached = br.greedy_cached(model, p_ids, p_mask, GREEDY_NEW_TOKENS)
    if not torch.equal(cached, toks):
        raise RuntimeError("%s: KV-cached greedy disagrees with the uncached one" % case["name"])
    g["greedy.input_ids"] = p_ids
    g["greedy.attention_mask"] = p_mask
    g["greedy.tokens"] = toks

    meta = {
        "format": "bloom-golden",
        "version": "1",
        "generator": "scripts/golden/gen_golden.py",
        "torch": torch.__version__,
        "case": case["name"],
        "seed": str(case["seed"]),
        "weights_dtype": DTYPE_NAMES[case["wdtype"]],
        "adam_params": "1" if case["adam_params"] else "0",
        "greedy_min_top2_gap": "%.6g" % gap,
        "greedy_prompt_attempts": str(attempt + 1),
        "init": json.dumps(INIT, sort_keys=True),
    }
    for k, v in ADAM.items():
        meta[k] = repr(v)

    files = {"config.json": config_json(cfg, case["wdtype"])}
    files.update(weight_files(case, stored))
    files["golden.safetensors"] = br.safetensors_bytes(g, meta)

    lstd = float(logits[attention_mask.bool()].std())
    log("  %s: loss %.6f, logits std %.3f, adam.loss %s, greedy %s (gap %.3g, attempts %d)"
        % (case["name"], float(loss), lstd, ["%.4f" % x for x in losses], toks.tolist(), gap, attempt + 1))
    return files


README = """# BLOOM golden files

Generated by `scripts/golden/gen_golden.py` (rerun from the repo root:
`/usr/bin/python3 scripts/golden/gen_golden.py`; `--check` verifies the files are
byte-identical to a fresh run). Do not edit by hand.

The reference model is `scripts/golden/bloom_ref.py`, a PyTorch re-implementation
of Hugging Face `BloomForCausalLM` (HF is not installed here).

Each case directory holds `config.json` (HF form), the weights in HF layout and
`golden.safetensors`. Cases:

| case | V | h | heads | layers | B | T | weights |
|---|---|---|---|---|---|---|---|
| h4 | 96 | 32 | 4 | 2 | 2 | 7 | F32, model.safetensors, names prefixed `transformer.` |
| h6 | 128 | 48 | 6 | 3 | 2 | 9 | F32, 2 shards + model.safetensors.index.json, no prefix |
| h12bf16 | 160 | 48 | 12 | 2 | 2 | 6 | BF16, model.safetensors, no prefix |
| h4f16 | 96 | 32 | 4 | 2 | 2 | 7 | F16, model.safetensors, prefixed `transformer.` |

Golden values are float32 computed from the stored weights upcast to float32.
`golden.safetensors` tensors (`P` = every parameter name, HF names without prefix):

- `input_ids` I64 (B,T); row 1 is left-padded: its first 2 ids are 3 (pad), mask 0
- `attention_mask` I64 (B,T)
- `labels` I64 (B,T) = input_ids with -100 at padded positions
- `logits` F32 (B,T,V): forward with that mask (pad query rows included: all their
  keys are masked, so HF's masked_fill(finfo.min) softmax is uniform over all T keys)
- `loss` F32 [1]: shifted CE (logits[:, :-1] vs labels[:, 1:]), ignore -100, mean
- `grad.P` F32: d loss / d P (word_embeddings.weight: embedding + tied lm_head)
- `adam.loss` F32 [5]: loss before each of 5 torch.optim.AdamW steps on the same batch
- `adam.P` F32: parameters after the 5 steps (only where metadata `adam_params` = "1":
  h4 and h12bf16)
- `greedy.input_ids` I64 (2,5), row 1 left-padded by 1; `greedy.attention_mask` I64 (2,5)
- `greedy.tokens` I64 (2,6): greedy argmax, no KV cache, mask extended by ones each step
  (prompts reseeded until: top-1/top-2 gap >= 1e-2 at every step, no eos generated,
  >= 3 distinct tokens per row; metadata greedy_prompt_attempts counts the tries)
- `debug.alibi_slopes` F32 (n_head); `debug.embed_ln`, `debug.block.<i>` F32 (B,T,h):
  hidden states after word_embeddings_layernorm and after each block (before ln_f)

Measured float32-vs-float64 discrepancies of these files (the reference re-run in
float64 from the same weights; a Go float32 implementation should land in the same
range, suggested test tolerances in brackets):
- logits: max abs 1e-5 (h6), 2-4e-6 elsewhere [atol 1e-4, rtol 1e-4]
- loss, adam.loss: rel 1e-7 / 7e-6 [rtol 1e-4]
- grad.P: max abs diff / max|grad.P| <= 8.5e-6 [atol 1e-4 * max|grad.P|]
- adam.P: <= 4e-6 (h4), <= 3.5e-4 (h12bf16, 4 elements whose gradient is tiny at
  some step) [atol 1e-3], EXCEPT the key third of every
  `h.<i>.self_attention.query_key_value.bias` (rows r with (r // head_dim) % 3 == 1):
  the loss is invariant to the key bias (it adds q.b_k to every score of a row, which
  softmax cancels), so its exact gradient is 0 and grad.P there is rounding noise
  (|g| < 5e-8). Adam normalizes that noise into updates of up to ~lr per step, so
  adam.P differs by up to 0.02 there between float32 and float64: skip those rows
  (or use atol 0.1) in adam.P, and compare their grad.P only with the absolute
  tolerance above.
- greedy.tokens: exact (top-2 gap >= 1e-2)

AdamW (torch 1.13 single-tensor path): p *= 1 - lr*wd; m = b1*m + (1-b1)*g;
v = b2*v + (1-b2)*g*g; p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps);
lr=1e-2, betas (0.9, 0.95), eps 1e-8, wd 0.1 for every parameter except names
ending in `.bias`, containing `layernorm` or starting with `ln_f` (wd 0).
Metadata (all strings): format, version, generator, torch, case, seed,
weights_dtype, adam_params, lr, beta1, beta2, eps, weight_decay, adam_steps,
greedy_min_top2_gap, greedy_prompt_attempts, init.

Mixed precision (mp_bf16, mp_fp16, mp_fp16_z0): README-mixed.md, written by
`scripts/golden/gen_mixed_golden.py`.
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=OUT_DIR)
    ap.add_argument("--check", action="store_true", help="compare with the files on disk instead of writing")
    args = ap.parse_args()
    log = lambda s: print(s, file=sys.stderr)  # noqa: E731

    all_files = {"README.md": README.encode()}
    for case in CASES:
        for fname, data in build_case(case, log).items():
            all_files[os.path.join(case["name"], fname)] = data

    sys.exit(0 if write_files(args.out, all_files, args.check, log) else 1)


def write_files(out, files, check, log):
    """Writes files ({relative path: bytes}) under out, or with check compares them with what is
    there; returns whether all matched (always True when writing)."""
    bad = []
    for rel, data in sorted(files.items()):
        path = os.path.join(out, rel)
        if check:
            try:
                with open(path, "rb") as f:
                    same = f.read() == data
            except FileNotFoundError:
                same = False
            if not same:
                bad.append(rel)
        else:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
    log("%d files, %d bytes total" % (len(files), sum(len(v) for v in files.values())))
    if check:
        if bad:
            log("MISMATCH: " + ", ".join(bad))
            return False
        log("check OK: all files byte-identical")
    return True


if __name__ == "__main__":
    main()
