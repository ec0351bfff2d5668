#!/usr/bin/env python3
"""The seed converter's own output for a tiny BLOOM, for bloom's reader of it.

Run from the repository root with the system interpreter (Debian python3-torch):

    /usr/bin/python3 scripts/ascendspeed/gen_release.py   # (re)writes ckpt/deepspeed/testdata/release/

It does what AscendSpeed's tools/ckpt_convert/bloom/convert_weights_from_huggingface.py does in
its default DeepSpeed mode (shared/reference/bloom.md §2.1, the seed's converter), to the golden
Hugging Face model trainer/testdata/golden/h4 (2 blocks, hidden 32, 4 heads, vocabulary 96),
with --tensor-model-parallel-size 2 --pipeline-model-parallel-size 2 --partition-layers 1,1
--make-vocab-size-divisible-by 20:

  release/latest                                  "release\n"
  release/release/mp_rank_{pp*TP+tp:02d}_model_states.pt
      {'checkpoint_version': 3.0, 'module': {'module': rank_model}, 'dp_world_size': 0}

rank_model keys carry global pipeline spec indices: tied_modules.embed.word_embeddings.weight
and .norm.{weight,bias} on pp rank 0 only, {i+3}.<block key> for block i of the stage,
{4+L}.{weight,bias} (the final norm) on the last stage. query_key_value, dense_h_to_4h and the
embedding are row_split (dim 0), the attention's dense and dense_4h_to_h weights column_split
(dim 1), the rest replicated. The embedding is first padded to a multiple of 20·TP rows (96 →
120) with copies of its last rows (pad_embed). The parts are the slicing views the converter's
helpers return (not cloned), so torch saves their whole storages with offsets and strides, as a
converter that does not clone would. The torch version goes to VERSION.
"""
import json
import os
import struct
import sys

import numpy as np
import torch

SRC = "trainer/testdata/golden/h4"
OUT = "ckpt/deepspeed/testdata/release"
TP, PP, PARTITION, DIVISIBLE = 2, 2, [1, 1], 20


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", info
        a, b = info["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[a:b], dtype="<f4").copy()).reshape(info["shape"])
    return out


def row_split(w, tp, r):  # ckpt_utils.row_split
    n = w.shape[0]
    assert n % tp == 0
    return w[r * n // tp:(r + 1) * n // tp, ...]


def column_split(w, tp, r):  # ckpt_utils.column_split
    n = w.shape[1]
    assert n % tp == 0
    return w[:, r * n // tp:(r + 1) * n // tp]


def vocab_size_with_padding(v, d, tp):
    m = d * tp
    return (v + m - 1) // m * m


def pad_embed(w, d, tp):
    v = w.shape[0]
    extra = vocab_size_with_padding(v, d, tp) - v
    return torch.cat([w, w[-extra:]]) if extra else w


ROW = ("self_attention.query_key_value.weight", "self_attention.query_key_value.bias",
       "mlp.dense_h_to_4h.weight", "mlp.dense_h_to_4h.bias")
COL = ("self_attention.dense.weight", "mlp.dense_4h_to_h.weight")


def cut(key, w, tp):
    if key in ROW:
        return row_split(w, TP, tp)
    if key in COL:
        return column_split(w, TP, tp)
    return w


def main():
    with open(os.path.join(SRC, "config.json")) as f:
        cfg = json.load(f)
    L = cfg["n_layer"]
    hf = {k.removeprefix("transformer."): v for k, v in read_safetensors(os.path.join(SRC, "model.safetensors")).items()}
    emb = pad_embed(hf["word_embeddings.weight"], DIVISIBLE, TP)
    starts = [sum(PARTITION[:p]) for p in range(PP)]
    root = os.path.join(OUT, "release")
    os.makedirs(root, exist_ok=True)
    for pp in range(PP):
        for tp in range(TP):
            m = {}
            if pp == 0:
                m["tied_modules.embed.word_embeddings.weight"] = row_split(emb, TP, tp)
                m["tied_modules.embed.word_embeddings.norm.weight"] = hf["word_embeddings_layernorm.weight"]
                m["tied_modules.embed.word_embeddings.norm.bias"] = hf["word_embeddings_layernorm.bias"]
            for i in range(starts[pp], starts[pp] + PARTITION[pp]):
                for name, w in hf.items():
                    if name.startswith(f"h.{i}."):
                        key = name[len(f"h.{i}."):]
                        m[f"{i + 3}.{key}"] = cut(key, w, tp)
            if pp == PP - 1:
                m[f"{4 + L}.weight"] = hf["ln_f.weight"]
                m[f"{4 + L}.bias"] = hf["ln_f.bias"]
            torch.save({"checkpoint_version": 3.0, "module": {"module": m}, "dp_world_size": 0},
                       os.path.join(root, f"mp_rank_{pp * TP + tp:02d}_model_states.pt"))
    with open(os.path.join(OUT, "latest"), "w") as f:
        f.write("release\n")
    with open(os.path.join(OUT, "VERSION"), "w") as f:
        f.write(f"torch {torch.__version__}, numpy {np.__version__}, python {sys.version.split()[0]}\n")


if __name__ == "__main__":
    main()
