#!/usr/bin/env python3
"""Fixtures for ckpt's PyTorch .pt reader (ckpt/torchpt.go), written by torch.save.

Run from the repository root with the system interpreter (Debian python3-torch):

    /usr/bin/python3 scripts/torchpt/gen_fixtures.py     # (re)writes ckpt/testdata/torch/

Every tensor's values follow a formula the Go test (ckpt/torchpt_test.go) checks:
value(i) = (i - 3) * 0.25 for the i-th element in row-major order, unless stated.
The torch version that wrote the files goes to ckpt/testdata/torch/VERSION.

Files:
  basic.pt         OrderedDict of str -> tensors of float32/float16/bfloat16/int64
                   (one a transposed view, one a view at a storage offset that shares
                   its storage with another entry), nested dicts, ints (small, negative,
                   2**40), floats, strings, lists, tuples, None, bools, torch.float16,
                   torch.Size and an argparse.Namespace.
  client_state.pt  what Megatron-DeepSpeed's mp_rank_00_model_states.pt holds for a
                   pipeline model: module None, iteration, args (Namespace),
                   lr_scheduler, checkpoint_version and an rng_state list with the
                   numpy RNG state (a numpy array: read leniently, opaque).
  universal/       a universal checkpoint (DeepSpeed ds_to_universal layout) of a tiny
                   BLOOM, 2 layers, hidden 8, 2 heads, vocab 20 (padded 24): one folder
                   per parameter with fp32.pt, exp_avg.pt and exp_avg_sq.pt
                   ({'param': tensor[, 'cat_dim': k][, 'vocab_tensor': True]}), the
                   embedding stripped to the original 20 rows; plus
                   mp_rank_00_model_states.pt with the client state.
  hf_bin/          a Hugging Face BLOOM directory with PyTorch weights only: config.json
                   (hidden 8, 2 heads, 2 layers, vocab 16) and pytorch_model.bin, fp16,
                   names under "transformer." and lm_head.weight sharing the embedding's
                   storage (as BloomForCausalLM's state dict has it). Tensor k (in the
                   order of HF_NAMES) is ramp(shape, base=k) in fp16.
  hf_bin_sharded/  the same tensors in float32 without the prefix or lm_head, in two
                   shards with pytorch_model.bin.index.json, as save_pretrained shards.
"""
import argparse
import collections
import os
import random
import sys

import numpy as np
import torch

OUT = "ckpt/testdata/torch"


def ramp(*shape, dtype=torch.float32, scale=0.25, base=3):
    n = 1
    for d in shape:
        n *= d
    return ((torch.arange(n, dtype=torch.float64) - base) * scale).to(dtype).reshape(shape)


def basic():
    big = ramp(4, 3)
    sd = collections.OrderedDict()
    sd["f32"] = ramp(2, 3)
    sd["f16"] = ramp(4, dtype=torch.float16)
    sd["bf16"] = ramp(3, 2, dtype=torch.bfloat16)
    sd["i64"] = torch.arange(5, dtype=torch.int64) * 1000 - 2
    sd["transposed"] = ramp(2, 3).t()  # shape (3, 2), stride (1, 3)
    sd["big"] = big
    sd["row2"] = big[2]  # offset 6 into big's storage, shape (3,)
    sd["nested"] = {"a": {"b": ramp(2)}, "n": 7}
    ns = argparse.Namespace(hidden_size=8, num_layers=2, lr=3e-4, name="bloom", vocab=None,
                            params_dtype=torch.float16, layers=[6, 6, 4])
    obj = {
        "state_dict": sd,
        "ints": [0, 255, 256, 65535, 65536, -1, -2**31, 2**40, -2**40],
        "floats": [0.5, -1e-8, 3.0],
        "strs": ["", "ascii", "ünïcödé"],
        "tuple": (1, "two", None),
        "none": None,
        "flags": [True, False],
        "dtype": torch.float16,
        "size": torch.Size([2, 3]),
        "args": ns,
        "torch_version": torch.__version__,
    }
    torch.save(obj, os.path.join(OUT, "basic.pt"))


def client_args(**kw):
    base = dict(num_layers=2, hidden_size=8, num_attention_heads=2, padded_vocab_size=24,
                tensor_model_parallel_size=1, pipeline_model_parallel_size=1,
                consumed_train_samples=4096, consumed_valid_samples=128, seq_length=16,
                make_vocab_size_divisible_by=8, layernorm_epsilon=1e-5, params_dtype=torch.bfloat16,
                iteration=512)
    base.update(kw)
    return argparse.Namespace(**base)


def client_state():
    random.seed(1)
    np.random.seed(1)
    torch.manual_seed(1)
    return {
        "module": None,
        "buffer_names": [],
        "optimizer": None,
        "lr_scheduler": {"max_lr": 6e-5, "warmup_steps": 100, "num_steps": 512 * 256, "decay_style": "cosine",
                         "decay_steps": 200000, "min_lr": 6e-6},
        "global_steps": 512,
        "global_samples": 4096,
        "dp_world_size": 4,
        "mp_world_size": 1,
        "ds_version": "0.9.5",
        "iteration": 512,
        "checkpoint_version": 3.0,
        "args": client_args(),
        "rng_state": [{"random_rng_state": random.getstate(), "np_rng_state": np.random.get_state(),
                       "torch_rng_state": torch.get_rng_state()}],
    }


def universal():
    L, h, V, Vp = 2, 8, 20, 24
    root = os.path.join(OUT, "universal")
    params = collections.OrderedDict()
    params["tied_modules.embed.word_embeddings.weight"] = ([Vp, h], 0, True)
    params["tied_modules.embed.word_embeddings.norm.weight"] = ([h], None, False)
    params["tied_modules.embed.word_embeddings.norm.bias"] = ([h], None, False)
    for i in range(L):
        p = f"{i + 3}."
        params[p + "input_layernorm.weight"] = ([h], None, False)
        params[p + "input_layernorm.bias"] = ([h], None, False)
        params[p + "self_attention.query_key_value.weight"] = ([3 * h, h], 0, False)
        params[p + "self_attention.query_key_value.bias"] = ([3 * h], 0, False)
        params[p + "self_attention.dense.weight"] = ([h, h], 1, False)
        params[p + "self_attention.dense.bias"] = ([h], None, False)
        params[p + "post_attention_layernorm.weight"] = ([h], None, False)
        params[p + "post_attention_layernorm.bias"] = ([h], None, False)
        params[p + "mlp.dense_h_to_4h.weight"] = ([4 * h, h], 0, False)
        params[p + "mlp.dense_h_to_4h.bias"] = ([4 * h], 0, False)
        params[p + "mlp.dense_4h_to_h.weight"] = ([h, 4 * h], 1, False)
        params[p + "mlp.dense_4h_to_h.bias"] = ([h], None, False)
    params[f"{L + 4}.weight"] = ([h], None, False)
    params[f"{L + 4}.bias"] = ([h], None, False)
    # Values: fp32 = ramp with base k (the parameter's index), exp_avg = fp32 / 100,
    # exp_avg_sq = fp32**2 / 1000.
    for k, (name, (shape, cat_dim, vocab)) in enumerate(params.items()):
        d = os.path.join(root, "zero", name)
        os.makedirs(d, exist_ok=True)
        full = ramp(*shape, scale=0.125, base=k)
        if vocab:
            full = full[:V].clone()
        for state, val in (("fp32", full), ("exp_avg", full / 100), ("exp_avg_sq", full * full / 1000)):
            obj = {"param": val}
            if cat_dim is not None:
                obj["cat_dim"] = cat_dim
            if vocab:
                obj["vocab_tensor"] = True
            torch.save(obj, os.path.join(d, state + ".pt"))
        torch.save(torch.tensor(512.0), os.path.join(d, "step.pt"))
    cs = client_state()
    cs["universal_checkpoint_info"] = {"original_vocab_size": V, "padded_vocab_size": Vp}
    torch.save(cs, os.path.join(root, "mp_rank_00_model_states.pt"))


HF_SHAPES = [("word_embeddings.weight", (16, 8)), ("word_embeddings_layernorm.weight", (8,)),
             ("word_embeddings_layernorm.bias", (8,))]
for _l in range(2):
    HF_SHAPES += [(f"h.{_l}.{n}", s) for n, s in [
        ("input_layernorm.weight", (8,)), ("input_layernorm.bias", (8,)),
        ("self_attention.query_key_value.weight", (24, 8)), ("self_attention.query_key_value.bias", (24,)),
        ("self_attention.dense.weight", (8, 8)), ("self_attention.dense.bias", (8,)),
        ("post_attention_layernorm.weight", (8,)), ("post_attention_layernorm.bias", (8,)),
        ("mlp.dense_h_to_4h.weight", (32, 8)), ("mlp.dense_h_to_4h.bias", (32,)),
        ("mlp.dense_4h_to_h.weight", (8, 32)), ("mlp.dense_4h_to_h.bias", (8,))]]
HF_SHAPES += [("ln_f.weight", (8,)), ("ln_f.bias", (8,))]
HF_CONFIG = '{"model_type": "bloom", "architectures": ["BloomForCausalLM"], "vocab_size": 16, "hidden_size": 8, ' \
    '"n_layer": 2, "n_head": 2, "layer_norm_epsilon": 1e-05, "torch_dtype": "float16"}\n'


def hf_bin():
    root = os.path.join(OUT, "hf_bin")
    os.makedirs(root, exist_ok=True)
    sd = collections.OrderedDict()
    for k, (name, shape) in enumerate(HF_SHAPES):
        sd["transformer." + name] = ramp(*shape, base=k, dtype=torch.float16)
    sd["lm_head.weight"] = sd["transformer.word_embeddings.weight"]  # tied: one storage
    torch.save(sd, os.path.join(root, "pytorch_model.bin"))
    with open(os.path.join(root, "config.json"), "w") as f:
        f.write(HF_CONFIG)
    root = os.path.join(OUT, "hf_bin_sharded")
    os.makedirs(root, exist_ok=True)
    shards = [collections.OrderedDict(), collections.OrderedDict()]
    weight_map, total = {}, 0
    for k, (name, shape) in enumerate(HF_SHAPES):
        i = 0 if k < len(HF_SHAPES) // 2 else 1
        shards[i][name] = ramp(*shape, base=k)
        weight_map[name] = f"pytorch_model-0000{i + 1}-of-00002.bin"
        total += 4 * shards[i][name].numel()
    for i, sd in enumerate(shards):
        torch.save(sd, os.path.join(root, f"pytorch_model-0000{i + 1}-of-00002.bin"))
    import json
    with open(os.path.join(root, "pytorch_model.bin.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    with open(os.path.join(root, "config.json"), "w") as f:
        f.write(HF_CONFIG.replace("float16", "float32"))


def main():
    os.makedirs(OUT, exist_ok=True)
    hf_bin()
    basic()
    torch.save(client_state(), os.path.join(OUT, "client_state.pt"))
    universal()
    with open(os.path.join(OUT, "VERSION"), "w") as f:
        f.write(f"torch {torch.__version__}, numpy {np.__version__}, python {sys.version.split()[0]}\n")


if __name__ == "__main__":
    main()
