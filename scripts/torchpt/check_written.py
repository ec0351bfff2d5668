#!/usr/bin/env python3
"""Checks that torch.load reads the .pt files bloom's Go writer (ckpt.WriteTorch) makes.

Run from the repository root with the system interpreter (Debian python3-torch):

    /usr/bin/python3 scripts/torchpt/check_written.py [FILE]

FILE defaults to ckpt/testdata/torch/go_written.pt, the checked-in output of
TestWriteTorch (ckpt/torchpt_test.go, goWritten); every value is compared with
what goWritten puts there. Also loads it with mmap=True where torch has it (2.1+),
which needs the storages 64-byte aligned. Exits 1 on a mismatch.
"""
import collections
import inspect
import sys

import torch

path = sys.argv[1] if len(sys.argv) > 1 else "ckpt/testdata/torch/go_written.pt"


def ramp(n, scale, base, dtype=torch.float32):
    return ((torch.arange(n, dtype=torch.float64) - base) * scale).to(dtype)


def check(obj):
    sd = obj["state_dict"]
    assert isinstance(sd, collections.OrderedDict), type(sd)
    assert list(sd) == ["f32", "f16", "bf16", "i64", "scalar", "lazy"], list(sd)
    want = {
        "f32": ramp(6, 0.25, 3).reshape(2, 3),
        "f16": ramp(4, 0.25, 3, torch.float16),
        "bf16": ramp(6, 0.25, 3, torch.bfloat16).reshape(3, 2),
        "i64": torch.tensor([-2, 1 << 40, 7], dtype=torch.int64),
        "scalar": torch.tensor(1.5),
        "lazy": ramp(4, 1, 0).reshape(2, 2),
    }
    for k, w in want.items():
        g = sd[k]
        assert g.dtype == w.dtype and g.shape == w.shape and torch.equal(g, w), (k, g, w)
    assert obj["iteration"] == 512
    assert obj["ints"] == [0, 255, 256, 65535, 65536, -1, -2**31, 2**40, -2**40], obj["ints"]
    assert obj["lr"] == 3e-4 and obj["name"] == "ünïcödé" and obj["none"] is None
    assert obj["flags"] == [True, False] and obj["tuple"] == (1, "two", None)
    assert obj["layers"] == [6, 6, 4]
    assert obj["nested"] == {"a": {"x": 1.0}, "b": 2}, obj["nested"]


def main():
    check(torch.load(path))
    kw = {}
    # weights_only=True (the default from torch 2.6) allows only the classes a
    # state dict needs; torch 1.13's version of it lacks the BINFLOAT opcode that
    # torch.save itself writes for floats, so it is checked from torch 2 on.
    if int(torch.__version__.split(".")[0]) >= 2:
        kw["weights_only"] = True
        check(torch.load(path, **kw))
    if "mmap" in inspect.signature(torch.load).parameters:
        check(torch.load(path, mmap=True, **kw))
    print(f"ok: torch {torch.__version__} loads {path}")


if __name__ == "__main__":
    main()
