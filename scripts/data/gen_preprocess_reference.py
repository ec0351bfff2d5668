#!/usr/bin/python3
"""Reference outputs for trainer/data/preprocess, following Megatron's
tools/preprocess_data.py and AscendSpeed's data_handler.py
(GeneralPretrainHandler, GeneralInstructionHandler) with numpy alone.

The tokenizer is a stand-in both sides share: UTF-8 bytes + 4 (the project's
byte-level ids), with vocabulary 260 (uint16 outputs) or 100000 (int32), so
what is checked is the pipeline: record order, empty documents skipped,
EOD, output names, dtypes, the alpaca prompt and its label mask, and the
MMIDIDX bytes. Parquet rows come from the parquet fixtures' expected.json
(written by an independent parquet writer, scripts/data/gen_parquet.mjs).

Run: /usr/bin/python3 scripts/data/gen_preprocess_reference.py
Output: trainer/data/preprocess/testdata/ (overwritten).
"""

import json
import os
import shutil
import struct
import sys

import numpy as np

VERSION = 1
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "trainer", "data")
OUT = os.path.join(ROOT, "preprocess", "testdata")
PARQUET = os.path.join(ROOT, "parquet", "testdata")
EOD = 2
SYSTEM = ("Below is an instruction that describes a task, paired with an input that provides further context. "
          "Write a response that appropriately completes the request. "
          "Please note that you need to think through your response logically and step by step.")


def tokenize(text):
    return [b + 4 for b in text.encode("utf-8")]


def best_fitting_dtype(vocab_size=None):
    if vocab_size is not None and vocab_size < 65500:
        return np.uint16
    return np.int32


class Builder:
    """MMapIndexedDatasetBuilder."""

    def __init__(self, prefix, dtype):
        self.prefix, self.dtype = prefix, dtype
        self.data, self.sizes, self.doc_idx = bytearray(), [], [0]

    def add_item(self, ids):
        self.data += np.array(ids, dtype=self.dtype).tobytes(order="C")
        self.sizes.append(len(ids))

    def end_document(self):
        self.doc_idx.append(len(self.sizes))

    def finalize(self):
        with open(self.prefix + ".bin", "wb") as f:
            f.write(self.data)
        code = {np.uint16: 8, np.int32: 4}[self.dtype]
        with open(self.prefix + ".idx", "wb") as f:
            f.write(b"MMIDIDX\x00\x00" + struct.pack("<Q", 1) + struct.pack("<B", code))
            f.write(struct.pack("<Q", len(self.sizes)) + struct.pack("<Q", len(self.doc_idx)))
            f.write(np.array(self.sizes, dtype=np.int32).tobytes())
            ptr = np.cumsum([0] + self.sizes[:-1], dtype=np.int64) * np.dtype(self.dtype).itemsize
            f.write(np.array(ptr if self.sizes else [], dtype=np.int64).tobytes())
            f.write(np.array(self.doc_idx, dtype=np.int64).tobytes())


def pretrain(records, keys, prefix, vocab, append_eod):
    """preprocess_data.py / GeneralPretrainHandler with the identity splitter."""
    builders = {k: Builder("{}_{}_document".format(prefix, k), best_fitting_dtype(vocab)) for k in keys}
    for rec in records:
        for key in keys:
            text = rec[key]
            doc_ids = []
            for sentence in [text]:
                if len(sentence) > 0:
                    doc_ids.append(tokenize(sentence))
            if len(doc_ids) > 0 and append_eod:
                doc_ids[-1].append(EOD)
            if len(doc_ids) == 0:
                continue
            for s in doc_ids:
                builders[key].add_item(s)
            builders[key].end_document()
    for b in builders.values():
        b.finalize()


def alpaca(records, prefix, append_eod):
    """GeneralInstructionHandler._filter + serialize_to_disk (vocab_size=None: int32)."""
    keys = ["input_ids", "attention_mask", "labels"]
    builders = {k: Builder("{}_packed_{}_document".format(prefix, k), np.int32) for k in keys}
    for rec in records:
        messages = [dict(role="user", content=rec["instruction"] + "\n" + rec["input"]),
                    dict(role="assistant", content=rec["output"])]
        prompt = "" + "\n" + SYSTEM + "" + "\n"
        for m in messages:
            tok = "### Instruction:" if m["role"] == "user" else "### Response:"
            prompt += tok + "\n" + m["content"] + "" + "\n"
        full = {"input_ids": tokenize(prompt)}
        full["attention_mask"] = [1] * len(full["input_ids"])
        full["labels"] = list(full["input_ids"])
        if append_eod:
            for k, v in (("input_ids", EOD), ("attention_mask", 1), ("labels", EOD)):
                full[k].append(v)
        user = prompt.rsplit("### Response:", maxsplit=1)[0] + "### Response:" + "\n"
        n = len(tokenize(user))
        full["labels"][:n] = [-100] * n
        for k in keys:
            builders[k].add_item(full[k])
            builders[k].end_document()
    for b in builders.values():
        b.finalize()


def parquet_rows(files):
    exp = json.load(open(os.path.join(PARQUET, "expected.json")))
    rows = []
    for f in sorted(files):
        cols = exp["rows"][exp["files"][f]]
        n = len(next(iter(cols.values())))
        rows += [{k: v[i] for k, v in cols.items()} for i in range(n)]
    return rows


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    # JSON-lines input: two keys, empty documents, non-ASCII, a blank line.
    docs = [{"text": "Hello world", "title": "Greeting"},
            {"text": "", "title": "Empty text"},
            {"text": "Ελληνικά και 中文\n🤗 emoji", "title": ""},
            {"text": "tab\there", "title": "T", "extra": 5},
            {"title": "last", "text": "The end."}]
    with open(os.path.join(OUT, "docs.jsonl"), "w", encoding="utf-8") as f:
        for i, d in enumerate(docs):
            f.write(json.dumps(d, ensure_ascii=(i % 2 == 0)) + "\n")
            if i == 2:
                f.write("\n")
    # alpaca_data.json style: one JSON array.
    inst = [{"instruction": "Give three tips.", "input": "", "output": "1. Eat.\n2. Sleep.\n3. Code."},
            {"instruction": "Translate", "input": "Guten Tag", "output": "Good day"},
            {"instruction": "Echo ### Response: twice", "input": "x", "output": "### Response: y"}]
    with open(os.path.join(OUT, "alpaca_data.json"), "w", encoding="utf-8") as f:
        json.dump(inst, f, indent=1, ensure_ascii=False)

    pretrain(docs, ["text", "title"], os.path.join(OUT, "jsonl_i32"), 100000, False)
    pretrain(parquet_rows(["enwiki/train-00000-of-00002.parquet", "enwiki/train-00001-of-00002.parquet"]),
             ["text"], os.path.join(OUT, "enwiki_eod"), 260, True)
    alpaca(parquet_rows(["alpaca/train-00000-of-00001.parquet"]), os.path.join(OUT, "alpaca_pq"), True)
    alpaca(inst, os.path.join(OUT, "alpaca_json"), False)
    with open(os.path.join(OUT, "reference.json"), "w") as f:
        json.dump({"version": VERSION, "eod": EOD, "tokenizer": "utf-8 bytes + 4"}, f)
    print("wrote", OUT, file=sys.stderr)


if __name__ == "__main__":
    main()
