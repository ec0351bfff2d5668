#!/usr/bin/env python3
"""Golden file for LoRA: a BLOOM model with peft-style adapters on all four linears of
every block (query_key_value, dense, dense_h_to_4h, dense_4h_to_h), computed in PyTorch.

    /usr/bin/python3 scripts/golden/gen_lora_golden.py          # (re)writes trainer/testdata/golden/lora/
    /usr/bin/python3 scripts/golden/gen_lora_golden.py --check  # regenerate in memory, compare bytes

The adapted linear is peft's LoraLayer (lora_dropout 0, fan_in_fan_out False):
    y = W x + b + (lora_alpha / r) * B (A x),  A (r, in), B (out, r)
written here by hand (peft is not installed); the base model is bloom_ref's re-implementation
of Hugging Face BloomForCausalLM with gen_golden.py's initialization. A and B are random
(B nonzero, unlike peft's start, so every path carries gradient). The base weights are frozen:
only the adapters get gradients.

Output: trainer/testdata/golden/lora/
  config.json, model.safetensors   the base model (F32, no prefix)
  golden.safetensors               input_ids, attention_mask, labels, lora.<name> (A and B values,
                                   names as trainer/bloom lays them out: h.<i>.<module>.lora_A.weight),
                                   logits, loss, grad.<name> for every adapter tensor;
                                   metadata: r, lora_alpha, seed
"""

import argparse
import os
import sys

import torch
import torch.nn as nn

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bloom_ref as br  # noqa: E402
import gen_golden as gg  # noqa: E402

OUT = os.path.join(gg.OUT_DIR, "lora")
CASE = dict(vocab=96, hidden=32, heads=4, layers=2, B=2, T=7, seed=3004, r=2, alpha=3.0)
MODULES = [("self_attention", "query_key_value"), ("self_attention", "dense"),
           ("mlp", "dense_h_to_4h"), ("mlp", "dense_4h_to_h")]


class LoraLinear(nn.Module):
    def __init__(self, base, r, alpha, gen):
        super().__init__()
        self.base = base
        self.scale = alpha / r
        self.lora_A = nn.Parameter(torch.randn(r, base.in_features, generator=gen) * 0.3)
        self.lora_B = nn.Parameter(torch.randn(base.out_features, r, generator=gen) * 0.3)

    def forward(self, x):
        return self.base(x) + (x @ self.lora_A.t() @ self.lora_B.t()) * self.scale


def build():
    gg.setup_determinism()
    c = CASE
    gen = torch.Generator().manual_seed(c["seed"])
    cfg = br.BloomConfig(c["vocab"], c["hidden"], c["heads"], c["layers"])
    model = br.BloomForCausalLM(cfg)
    gg.init_params(model, gen)
    base = {n: p.detach().clone() for n, p in model.named_parameters()}
    for p in model.parameters():
        p.requires_grad_(False)
    adapters = {}
    for i, block in enumerate(model.h):
        for part, name in MODULES:
            owner = getattr(block, part)
            lora = LoraLinear(getattr(owner, name), c["r"], c["alpha"], gen)
            setattr(owner, name, lora)
            prefix = "h.%d.%s.%s" % (i, part, name)
            adapters[prefix + ".lora_A.weight"] = lora.lora_A
            adapters[prefix + ".lora_B.weight"] = lora.lora_B

    input_ids, attention_mask = gg.padded_batch(gen, cfg.vocab_size, c["B"], c["T"], 2)
    labels = input_ids.masked_fill(attention_mask == 0, -100)
    out = model(input_ids, attention_mask=attention_mask, labels=labels)
    out["loss"].backward()

    g = {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels,
         "logits": out["logits"].detach().clone(), "loss": out["loss"].detach().reshape(1).clone()}
    for n, p in adapters.items():
        g["lora." + n] = p.detach().clone()
        g["grad." + n] = p.grad.detach().clone()
    meta = {"format": "bloom-golden", "version": "1", "generator": "scripts/golden/gen_lora_golden.py",
            "torch": torch.__version__, "case": "lora", "seed": str(c["seed"]),
            "r": str(c["r"]), "lora_alpha": repr(c["alpha"])}
    files = {"config.json": gg.config_json(cfg, torch.float32),
             "model.safetensors": br.safetensors_bytes(base, {"format": "pt"}),
             "golden.safetensors": br.safetensors_bytes(g, meta)}
    print("lora: loss %.6f" % float(out["loss"]))
    return files


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true", help="compare with the files on disk instead of writing")
    args = ap.parse_args()
    sys.exit(0 if gg.write_files(OUT, build(), args.check, print) else 1)


if __name__ == "__main__":
    main()
