#!/usr/bin/env python3
"""Writes trainer/tensorboard/testdata/golden.tfevents with Google's protobuf serializer.

Rerun from the repository root with the system interpreter:

    /usr/bin/python3 scripts/tensorboard/golden.py           # (re)writes the golden and its .json
    /usr/bin/python3 scripts/tensorboard/golden.py --check   # regenerate in memory, compare bytes

Needs python3-protobuf, python3-crcmod and protoc (see check_events.py). The Go
test (trainer/tensorboard/golden_test.go) writes the scalars listed in
golden.json with the Go Writer and compares the file byte for byte, and reads
golden.tfevents with the Go reader; it needs no Python.

The events are built as TensorBoard's EventFileWriter and PyTorch's
SummaryWriter.add_scalar build them: first Event(wall_time, file_version=
"brain.Event:2"), then one Event(wall_time, step, summary=Summary(value=
[Value(tag, simple_value)])) per scalar, each serialized by protobuf and
framed as a TFRecord (check_events.frame). Wall times are whole seconds plus
nanoseconds, so that Go's float64(sec) + float64(nsec)/1e9 and Python's
sec + nsec / 1e9 are the same double. Values are finite (golden.json is JSON);
the Go tests cover infinities and NaN.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_events  # noqa: E402

ROOT = os.path.normpath(os.path.join(check_events.HERE, "..", ".."))
OUT = os.path.join(ROOT, "trainer", "tensorboard", "testdata", "golden.tfevents")

VERSION = 1
CREATED = {"sec": 1700000000, "nsec": 0}
# (sec, nsec, step, tag, value): Megatron's tags for two iterations and one
# evaluation, then the encoding's corner cases: step 0 (left out), a negative
# step (a 10-byte varint), a large step, value 0 (written: simple_value is in a
# oneof), -0, a float32 subnormal, float32's largest, a value float32 rounds,
# and a tag past one varint byte of length with non-ASCII characters.
SCALARS = [
    (1700000001, 250000000, 1, "steps-vs-samples/y=steps,x=samples", 1.0),
    (1700000001, 250000000, 1, "lm-loss-training/lm loss", 12.0625),
    (1700000001, 250000000, 2048, "lm-loss-training/lm loss vs samples", 12.0625),
    (1700000001, 250000000, 4194304, "lm-loss-training/lm loss vs tokens", 12.0625),
    (1700000001, 250000000, 1, "learning-rate/learning-rate", 6e-05),
    (1700000001, 250000000, 1, "grad-norm/grad-norm", 3.14159),
    (1700000001, 250000000, 1, "loss-scale/loss-scale", 4096.0),
    (1700000001, 250000000, 1, "iteration-time/TFLOPs per gpu (estimated)", 109.88),
    (1700000002, 500000000, 2, "lm-loss-training/lm loss", 11.5),
    (1700000002, 500000000, 2, "lm-loss-validation/lm loss validation ppl", 98765.4321),
    (1700000003, 123456789, 0, "step zero", 0.0),
    (1700000003, 123456789, -1, "negative step", -0.0),
    (1700000003, 123456789, 1 << 40, "large step", 1e-45),
    (1700000003, 123456789, 7, "float32 max", 3.4028234663852886e38),
    (1700000003, 123456789, 8, "rounded", 0.1),
    (1700000003, 999999999, 9, "损失/" + "long tag " * 16, -2.5),
]


def build(pb):
    """Returns the golden file's bytes."""
    wall = lambda sec, nsec: sec + nsec / 1e9  # noqa: E731
    out = check_events.frame(pb.Event(wall_time=wall(**CREATED), file_version="brain.Event:2").SerializeToString())
    for sec, nsec, step, tag, value in SCALARS:
        ev = pb.Event(wall_time=wall(sec, nsec), step=step)
        ev.summary.value.add(tag=tag, simple_value=value)
        out += check_events.frame(ev.SerializeToString())
    return out


def manifest():
    """golden.json: what the Go test writes."""
    return json.dumps({
        "version": VERSION,
        "generator": "scripts/tensorboard/golden.py",
        "created": CREATED,
        "scalars": [{"sec": s, "nsec": n, "step": st, "tag": t, "value": v} for s, n, st, t, v in SCALARS],
    }, indent=1, ensure_ascii=False) + "\n"


def main():
    blob, js = build(check_events.load_proto()), manifest().encode()
    json_path = os.path.splitext(OUT)[0] + ".json"
    if sys.argv[1:] == ["--check"]:
        for path, want in ((OUT, blob), (json_path, js)):
            with open(path, "rb") as f:
                if f.read() != want:
                    sys.exit(f"{path} differs from what golden.py generates")
        print("golden files match")
        return
    for path, data in ((OUT, blob), (json_path, js)):
        with open(path, "wb") as f:
            f.write(data)
        print(f"wrote {path} ({len(data)} bytes)")


if __name__ == "__main__":
    main()
