#!/usr/bin/env python3
"""A resumable DeepSpeed universal checkpoint of a tiny BLOOM, for bloom's universal → native conversion.

Run from the repository root with the system interpreter (Debian python3-torch):

    /usr/bin/python3 scripts/universal/gen_universal.py    # (re)writes ckpt/deepspeed/testdata/universal/

It writes what DeepSpeed's ds_to_universal.py (deepspeed/checkpoint/ds_to_universal.py,
_merge_tp_slice_files and main) leaves for a BLOOM Megatron-DeepSpeed run (the BigScience
branch's universal_checkpoint_info, shared/reference/checkpoints.md §2.3):

  universal/latest_universal                          "global_step30_universal"
  universal/global_step30_universal/
    mp_rank_00_model_states.pt                         the client state, copied from the run
    zero/optimizer_state.pt                            the optimizer's param_groups
    zero/<param>/{fp32,exp_avg,exp_avg_sq}.pt          {'cat_dim': d (concatenated params),
                                                        'vocab_tensor': True (the embedding),
                                                        'param': the whole fp32 tensor}
    zero/<param>/step.pt                               Adam's step, a tensor

The model: 2 blocks, hidden 16, 2 heads, vocabulary 260 padded to 264 (the embedding is
stored stripped to 260 rows, as ds_to_universal strips it). The run stands at iteration 30
after 240 samples (global batch 8), its LR scheduler at num_steps 240 (samples), Adam at step
30. Values come from torch.manual_seed(21): weights N(0, 0.02²), layer norms 1 + N(0, 0.01²),
biases N(0, 0.001²); exp_avg N(0, 1e-3²); exp_avg_sq |N(0, 1e-6²)|. The Go test
(cli/convert_native_test.go) reads these files back through torch's own bits, so it needs no
formula. The torch version that wrote them goes to VERSION.
"""
import argparse
import collections
import os
import random
import sys

import numpy as np
import torch

OUT = "ckpt/deepspeed/testdata/universal"
TAG = "global_step30_universal"
L, H, HEADS, V, VP = 2, 16, 2, 260, 264
ITER, SAMPLES, GLOBAL_BATCH = 30, 240, 8


def params():
    """Megatron-DeepSpeed's parameter names in pipeline order: (shape, cat_dim, vocab, kind)."""
    p = collections.OrderedDict()
    p["tied_modules.embed.word_embeddings.weight"] = ([VP, H], 0, True, "w")
    p["tied_modules.embed.word_embeddings.norm.weight"] = ([H], None, False, "ln")
    p["tied_modules.embed.word_embeddings.norm.bias"] = ([H], None, False, "b")
    for i in range(L):
        n = f"{i + 3}."
        p[n + "input_layernorm.weight"] = ([H], None, False, "ln")
        p[n + "input_layernorm.bias"] = ([H], None, False, "b")
        p[n + "self_attention.query_key_value.weight"] = ([3 * H, H], 0, False, "w")
        p[n + "self_attention.query_key_value.bias"] = ([3 * H], 0, False, "b")
        p[n + "self_attention.dense.weight"] = ([H, H], 1, False, "w")
        p[n + "self_attention.dense.bias"] = ([H], None, False, "b")  # averaged: no cat_dim
        p[n + "post_attention_layernorm.weight"] = ([H], None, False, "ln")
        p[n + "post_attention_layernorm.bias"] = ([H], None, False, "b")
        p[n + "mlp.dense_h_to_4h.weight"] = ([4 * H, H], 0, False, "w")
        p[n + "mlp.dense_h_to_4h.bias"] = ([4 * H], 0, False, "b")
        p[n + "mlp.dense_4h_to_h.weight"] = ([H, 4 * H], 1, False, "w")
        p[n + "mlp.dense_4h_to_h.bias"] = ([H], None, False, "b")
    p[f"{L + 4}.weight"] = ([H], None, False, "ln")
    p[f"{L + 4}.bias"] = ([H], None, False, "b")
    return p


def client_state():
    random.seed(21)
    np.random.seed(21)
    args = argparse.Namespace(
        num_layers=L, hidden_size=H, num_attention_heads=HEADS, ffn_hidden_size=4 * H, seq_length=16,
        max_position_embeddings=16, padded_vocab_size=VP, make_vocab_size_divisible_by=4,
        layernorm_epsilon=1e-5, micro_batch_size=2, global_batch_size=GLOBAL_BATCH, train_samples=960,
        consumed_train_samples=SAMPLES, consumed_valid_samples=0, iteration=ITER, lr=3e-3, min_lr=3e-4,
        lr_decay_style="cosine", lr_warmup_samples=24, lr_decay_samples=160, adam_beta1=0.9,
        adam_beta2=0.95, adam_eps=1e-8, weight_decay=0.1, clip_grad=0.5, seed=7, bf16=True,
        params_dtype=torch.bfloat16, tensor_model_parallel_size=1, pipeline_model_parallel_size=2,
        data_parallel_size=2, world_size=4, tokenizer_type="PretrainedFromHF")
    return {
        "module": None,
        "buffer_names": [],
        "optimizer": None,
        "lr_scheduler": {"max_lr": 3e-3, "warmup_steps": 24, "num_steps": SAMPLES, "decay_style": "cosine",
                         "decay_steps": 160, "min_lr": 3e-4},
        "sparse_tensor_module_names": set(),
        "skipped_steps": 0,
        "global_steps": ITER,
        "global_samples": SAMPLES,
        "dp_world_size": 2,
        "mp_world_size": 1,
        "ds_version": "0.9.5",
        "iteration": ITER,
        "checkpoint_version": 3.0,
        "args": args,
        "universal_checkpoint_info": {"original_vocab_size": V, "padded_vocab_size": VP},
        "rng_state": [{"random_rng_state": random.getstate(), "np_rng_state": np.random.get_state(),
                       "torch_rng_state": torch.get_rng_state()}],
    }


def main():
    torch.manual_seed(21)
    root = os.path.join(OUT, TAG)
    os.makedirs(os.path.join(root, "zero"), exist_ok=True)
    for name, (shape, cat_dim, vocab, kind) in params().items():
        scale = {"w": 0.02, "ln": 0.01, "b": 0.001}[kind]
        fp32 = torch.randn(*shape) * scale + (1.0 if kind == "ln" else 0.0)
        states = {"fp32": fp32, "exp_avg": torch.randn(*shape) * 1e-3, "exp_avg_sq": torch.randn(*shape).abs() * 1e-6}
        d = os.path.join(root, "zero", name)
        os.makedirs(d, exist_ok=True)
        torch.save(torch.tensor(float(ITER)), os.path.join(d, "step.pt"))
        for state, val in states.items():
            sd = {}
            if cat_dim is not None:
                sd["cat_dim"] = cat_dim
            if vocab:
                val = val[:V, :].clone()  # ds_to_universal strips the padding rows
                sd["vocab_tensor"] = True
            sd["param"] = val
            torch.save(sd, os.path.join(d, state + ".pt"))
    groups = [{"lr": 3e-3, "betas": (0.9, 0.95), "eps": 1e-8, "weight_decay": wd, "amsgrad": False,
               "params": list(range(k))} for wd, k in ((0.1, 1), (0.0, 1))]
    torch.save({"clip_grad": 0.5, "param_groups": groups}, os.path.join(root, "zero", "optimizer_state.pt"))
    torch.save(client_state(), os.path.join(root, "mp_rank_00_model_states.pt"))
    with open(os.path.join(OUT, "latest_universal"), "w") as f:
        f.write(TAG)
    with open(os.path.join(OUT, "VERSION"), "w") as f:
        f.write(f"torch {torch.__version__}, numpy {np.__version__}, python {sys.version.split()[0]}\n")


if __name__ == "__main__":
    main()
