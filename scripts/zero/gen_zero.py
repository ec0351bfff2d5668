#!/usr/bin/env python3
"""A Megatron-DeepSpeed training save of a tiny BLOOM with ZeRO stage 1 optimizer shards.

Run from the repository root with the system interpreter (Debian python3-torch):

    /usr/bin/python3 scripts/zero/gen_zero.py    # (re)writes ckpt/deepspeed/testdata/zero/

It writes what DeepSpeed's PipelineEngine saves (deepspeedai/DeepSpeed @edaa722;
shared/reference/checkpoints.md §2.2) for TP=2, PP=2 (one block per stage), DP=2, at
iteration 20 after 160 samples:

  zero/latest                                                   "global_step20"
  zero/global_step20/layer_{idx:02d}-model_{tp:02d}-model_states.pt   each layer's state dict
      (bf16, the model's dtype; module.py save_state_dict)
  zero/global_step20/mp_rank_{pp*TP+tp:02d}_model_states.pt     client state, module None,
      param_shapes: per optimizer group an OrderedDict name → torch.Size in the order of
      the group's flat buffer (engine._get_zero_param_shapes)
  zero/global_step20/zero_pp_rank_{dp}_mp_rank_{pp*TP+tp:02d}_optim_states.pt
      {'optimizer_state_dict': stage_1_and_2.state_dict(), 'ds_config', 'ds_version'}

The mp rank is the rank in the data-parallel slice, pp·TP+tp (topology.py ds_model_rank).
stage_1_and_2.state_dict() without elastic_checkpoint: loss_scaler, dynamic_loss_scale,
overflow, clip_grad, base_optimizer_state = torch Adam's state_dict() over one flat fp32
partition per group (exp_avg, exp_avg_sq of the padded partition size, step),
single_partition_of_fp32_groups = this rank's partition with its padding cut off
(_get_groups_without_padding), zero_stage 1, group_paddings, partition_count, ds_version,
param_slice_mappings (left empty here: bloom does not read it). Each group's flat buffer is
its parameters concatenated in order, padded with zeros to a multiple of 2·DP
(align_dense_tensors with nccl_start_alignment_factor 2), cut into DP equal partitions
(get_data_parallel_partitions); the padding is the last partitions'.

Groups follow Megatron's _get_params_for_weight_decay_optimization: weights (decay 0.1),
then biases and LayerNorm parameters (decay 0). A stage's parameters are the pipeline
module's: tied_modules.embed.* (stage 0, and the last stage's tied copy), {i+3}.*, {L+4}.*.

Values are a formula the Go test knows: the whole (unsplit, vocabulary-padded) tensor of the
k-th Hugging Face name in sorted order has fp32[i] = ((7i + 13k) mod 101 - 50)/64,
exp_avg = fp32/128, exp_avg_sq = fp32²/1024 (all exact in fp32). Model: 2 blocks, hidden 12,
2 heads, vocabulary 40 padded to 48 (divisible by 24·TP). The torch version goes to VERSION.
"""
import argparse
import collections
import os
import sys
import types

import numpy as np
import torch

OUT = "ckpt/deepspeed/testdata/zero"
TAG = "global_step20"
L, H, HEADS, V, VP = 2, 12, 2, 40, 48
TP, PP, DP, PARTITION = 2, 2, 2, [1, 1]
ITER, SAMPLES, STEP = 20, 160, 20

# DeepSpeed's loss scaler, pickled by reference as DeepSpeed does (no DeepSpeed installed here).
for _m in ("deepspeed", "deepspeed.runtime", "deepspeed.runtime.fp16", "deepspeed.runtime.fp16.loss_scaler"):
    sys.modules[_m] = types.ModuleType(_m)
_ls = sys.modules["deepspeed.runtime.fp16.loss_scaler"]


class DynamicLossScaler:
    def __init__(self):
        self.cur_scale, self.cur_iter, self.scale_factor, self.scale_window = 65536.0, ITER, 2.0, 1000


DynamicLossScaler.__module__ = _ls.__name__
_ls.DynamicLossScaler = DynamicLossScaler

BLOCK = [("input_layernorm.weight", [H]), ("input_layernorm.bias", [H]),
         ("self_attention.query_key_value.weight", [3 * H, H]), ("self_attention.query_key_value.bias", [3 * H]),
         ("self_attention.dense.weight", [H, H]), ("self_attention.dense.bias", [H]),
         ("post_attention_layernorm.weight", [H]), ("post_attention_layernorm.bias", [H]),
         ("mlp.dense_h_to_4h.weight", [4 * H, H]), ("mlp.dense_h_to_4h.bias", [4 * H]),
         ("mlp.dense_4h_to_h.weight", [H, 4 * H]), ("mlp.dense_4h_to_h.bias", [H])]
ROW = {"self_attention.query_key_value.weight", "self_attention.query_key_value.bias",
       "mlp.dense_h_to_4h.weight", "mlp.dense_h_to_4h.bias", "word_embeddings.weight"}
COL = {"self_attention.dense.weight", "mlp.dense_4h_to_h.weight"}


def hf_tensors():
    """HF name → (shape, layer index, layer key)."""
    t = {"word_embeddings.weight": ([VP, H], 1, "word_embeddings.weight"),
         "word_embeddings_layernorm.weight": ([H], 1, "word_embeddings.norm.weight"),
         "word_embeddings_layernorm.bias": ([H], 1, "word_embeddings.norm.bias"),
         "ln_f.weight": ([H], L + 4, "weight"), "ln_f.bias": ([H], L + 4, "bias")}
    for i in range(L):
        for key, shape in BLOCK:
            t[f"h.{i}.{key}"] = (shape, i + 3, key)
    return t


def values(k, shape):
    n = int(np.prod(shape))
    i = torch.arange(n, dtype=torch.float64)
    fp32 = ((((7 * i + 13 * k) % 101) - 50) / 64).float().reshape(shape)
    return fp32, fp32 / 128, fp32 * fp32 / 1024


def cut(key, w, tp):
    if key in ROW:
        n = w.shape[0] // TP
        return w[tp * n:(tp + 1) * n].clone()
    if key in COL:
        n = w.shape[1] // TP
        return w[:, tp * n:(tp + 1) * n].clone()
    return w.clone()


def pipe_name(idx, key):
    return f"tied_modules.embed.{key}" if idx == 1 else f"{idx}.{key}"


def main():
    tensors = hf_tensors()
    whole = {name: values(k, tensors[name][0]) for k, name in enumerate(sorted(tensors))}
    starts = [sum(PARTITION[:p]) for p in range(PP)]
    root = os.path.join(OUT, TAG)
    os.makedirs(root, exist_ok=True)
    for pp in range(PP):
        idxs = ([1] if pp == 0 else []) + [i + 3 for i in range(starts[pp], starts[pp] + PARTITION[pp])]
        idxs += [L + 4] if pp == PP - 1 else []
        module_idxs = idxs + ([1] if pp == PP - 1 and pp != 0 else [])  # the last stage's tied embedding
        for tp in range(TP):
            mp = pp * TP + tp
            # Layer files (bf16) and this rank's parameters in module order: tied modules first.
            params = []
            for idx in sorted(set(module_idxs)):
                sd = collections.OrderedDict()
                for name, (shape, i, key) in tensors.items():
                    if i == idx:
                        parts = [cut(key, w, tp) for w in whole[name]]
                        sd[key] = parts[0].to(torch.bfloat16)
                        params.append((pipe_name(idx, key), parts))
                if idx in idxs:
                    torch.save(sd, os.path.join(root, f"layer_{idx:02d}-model_{tp:02d}-model_states.pt"))
            groups = [[p for p in params if p[0].endswith("weight") and "norm" not in p[0] and p[1][0].dim() == 2],
                      [p for p in params if not (p[0].endswith("weight") and "norm" not in p[0] and p[1][0].dim() == 2)]]
            save_model_states(root, mp, groups)
            save_zero(root, mp, groups)
    with open(os.path.join(OUT, "latest"), "w") as f:
        f.write(TAG)
    with open(os.path.join(OUT, "VERSION"), "w") as f:
        f.write(f"torch {torch.__version__}, numpy {np.__version__}, python {sys.version.split()[0]}\n")


def save_model_states(root, mp, groups):
    args = argparse.Namespace(
        num_layers=L, hidden_size=H, num_attention_heads=HEADS, seq_length=16, max_position_embeddings=16,
        padded_vocab_size=VP, make_vocab_size_divisible_by=24, layernorm_epsilon=1e-5, micro_batch_size=2,
        global_batch_size=8, consumed_train_samples=SAMPLES, iteration=ITER, lr=3e-3, min_lr=3e-4,
        lr_decay_style="cosine", adam_beta1=0.9, adam_beta2=0.95, adam_eps=1e-8, weight_decay=0.1,
        fp16=True, params_dtype=torch.float16, tensor_model_parallel_size=TP, pipeline_model_parallel_size=PP,
        data_parallel_size=DP, world_size=TP * PP * DP, zero_stage=1)
    shapes = [collections.OrderedDict((n, parts[0].shape) for n, parts in g) for g in groups]
    torch.save({
        "module": None, "buffer_names": [], "optimizer": None, "param_shapes": shapes, "frozen_param_shapes": None,
        "shared_params": {}, "frozen_param_fragments": None,
        "lr_scheduler": {"max_lr": 3e-3, "warmup_steps": 16, "num_steps": SAMPLES, "decay_style": "cosine",
                         "decay_steps": 320, "min_lr": 3e-4},
        "data_sampler": None, "random_ltd": None, "sparse_tensor_module_names": set(), "skipped_steps": 0,
        "global_steps": ITER, "global_samples": SAMPLES, "dp_world_size": DP, "mp_world_size": TP * PP,
        "ds_config": {"zero_optimization": {"stage": 1}}, "ds_version": "0.9.5",
        "iteration": ITER, "checkpoint_version": 3.0, "args": args,
        "universal_checkpoint_info": {"original_vocab_size": V, "padded_vocab_size": VP},
    }, os.path.join(root, f"mp_rank_{mp:02d}_model_states.pt"))


def save_zero(root, mp, groups):
    align = 2 * DP
    flats = []
    for g in groups:
        flat = [torch.cat([parts[s].reshape(-1) for _, parts in g]) for s in range(3)]
        pad = (-flat[0].numel()) % align
        flats.append(([torch.cat([f, torch.zeros(pad)]) for f in flat], flat[0].numel()))
    for dp in range(DP):
        fp32_parts, paddings, state = [], [], {}
        for gi, (flat, numel) in enumerate(flats):
            size = flat[0].numel() // DP
            lo = dp * size
            padding = size if numel <= lo else max(0, lo + size - numel)
            part = [f[lo:lo + size].clone() for f in flat]
            fp32_parts.append(part[0][:size - padding].clone())
            paddings.append(padding)
            state[gi] = {"step": torch.tensor(float(STEP)), "exp_avg": part[1], "exp_avg_sq": part[2]}
        base = {"state": state, "param_groups": [
            {"lr": 3e-3, "betas": (0.9, 0.95), "eps": 1e-8, "weight_decay": wd, "amsgrad": False, "params": [gi]}
            for gi, wd in enumerate((0.1, 0.0))]}
        osd = {"loss_scaler": DynamicLossScaler(), "dynamic_loss_scale": True, "overflow": False, "clip_grad": 1.0,
               "base_optimizer_state": base, "single_partition_of_fp32_groups": fp32_parts, "zero_stage": 1,
               "group_paddings": paddings, "partition_count": [DP, DP], "ds_version": "0.9.5",
               "param_slice_mappings": [collections.OrderedDict(), collections.OrderedDict()]}
        torch.save({"optimizer_state_dict": osd, "ds_config": {"zero_optimization": {"stage": 1}}, "ds_version": "0.9.5"},
                   os.path.join(root, f"zero_pp_rank_{dp}_mp_rank_{mp:02d}_optim_states.pt"))


if __name__ == "__main__":
    main()
