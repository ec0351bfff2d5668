#!/usr/bin/env python3
"""Independent check of a TensorBoard event file: Google's protobuf, not our Go code.

    /usr/bin/python3 scripts/tensorboard/check_events.py FILE...

Needs Debian's python3-protobuf, python3-crcmod and protobuf-compiler (protoc):
    apt-get install -y python3-protobuf python3-crcmod protobuf-compiler
(on the build machine ``python3`` is a pyenv interpreter without them, hence
/usr/bin/python3).

For every record it checks the TFRecord framing (uint64 length, masked CRC-32C
of the length, data, masked CRC-32C of the data; the CRC from crcmod's
predefined 'crc-32c'), parses the data as an Event with protobuf's own parser
(tb_event.proto, next to this script, compiled by protoc into a temporary
directory), and checks that protobuf serializes the parsed Event back to the
same bytes, i.e. that the writer's hand encoding is the canonical one. The
first record must be the file_version event "brain.Event:2". It prints one
JSON line per event and exits 1 on the first failure.
"""

import importlib
import json
import os
import re
import struct
import subprocess
import sys
import tempfile

import crcmod.predefined

_crc32c = crcmod.predefined.mkCrcFun("crc-32c")
HERE = os.path.dirname(os.path.abspath(__file__))


def masked_crc(data):
    crc = _crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def frame(data):
    """One TFRecord holding data."""
    head = struct.pack("<Q", len(data))
    return head + struct.pack("<I", masked_crc(head)) + data + struct.pack("<I", masked_crc(data))


def load_proto():
    """Compiles tb_event.proto with protoc into a temporary directory and imports it."""
    with tempfile.TemporaryDirectory(prefix="tb_event_pb2.") as out:
        subprocess.run(["protoc", "--proto_path", HERE, "--python_out", out, "tb_event.proto"], check=True)
        sys.path.insert(0, out)
        try:
            return importlib.import_module("tb_event_pb2")
        finally:
            sys.path.remove(out)


def records(blob):
    """Yields (offset, data) for each TFRecord of blob, checking both CRCs."""
    off = 0
    while off < len(blob):
        if len(blob) - off < 12:
            raise ValueError(f"byte {off}: file ends inside a record header")
        head = blob[off:off + 8]
        (length,) = struct.unpack("<Q", head)
        (head_crc,) = struct.unpack("<I", blob[off + 8:off + 12])
        if head_crc != masked_crc(head):
            raise ValueError(f"byte {off}: length CRC {head_crc:#010x} != {masked_crc(head):#010x}")
        end = off + 12 + length
        if end + 4 > len(blob):
            raise ValueError(f"byte {off}: file ends inside a record of {length} bytes")
        data = blob[off + 12:end]
        (data_crc,) = struct.unpack("<I", blob[end:end + 4])
        if data_crc != masked_crc(data):
            raise ValueError(f"byte {off}: data CRC {data_crc:#010x} != {masked_crc(data):#010x}")
        yield off, data
        off = end + 4


def check(path, pb):
    name = os.path.basename(path)
    if not re.fullmatch(r"events\.out\.tfevents\.\d{10}\..+", name):
        print(f"note: {name} is not named events.out.tfevents.<10-digit seconds>.<host>...", file=sys.stderr)
    with open(path, "rb") as f:
        blob = f.read()
    n, i = 0, -1
    for i, (off, data) in enumerate(records(blob)):
        ev = pb.Event.FromString(data)
        if ev.SerializeToString() != data:
            raise ValueError(f"record {i} at byte {off}: protobuf re-encodes the Event differently")
        what = ev.WhichOneof("what")
        if i == 0 and (what != "file_version" or ev.file_version != "brain.Event:2"):
            raise ValueError(f"record 0 is not the file_version event brain.Event:2: {ev}")
        if what == "file_version":
            print(json.dumps({"wall_time": ev.wall_time, "file_version": ev.file_version}))
        elif what == "summary":
            for v in ev.summary.value:
                if v.WhichOneof("value") == "simple_value":
                    print(json.dumps({"wall_time": ev.wall_time, "step": ev.step, "tag": v.tag,
                                      "simple_value": v.simple_value}, ensure_ascii=False))
                    n += 1
    if i < 0:
        raise ValueError("no records")
    print(f"{path}: {i + 1} records, {n} scalars, CRCs and encoding OK", file=sys.stderr)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    pb = load_proto()
    for path in sys.argv[1:]:
        try:
            check(path, pb)
        except ValueError as e:
            sys.exit(f"{path}: {e}")


if __name__ == "__main__":
    main()
