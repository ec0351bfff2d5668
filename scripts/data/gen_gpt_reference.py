#!/usr/bin/python3
"""Reference data for trainer/data: Megatron's MMIDIDX files, GPTDataset index
maps and numpy's legacy RandomState, written with numpy alone.

This is an independent implementation that follows Megatron-LM /
AscendSpeed (ascendspeed/data/gpt_dataset.py, indexed_dataset.py,
helpers.cpp build_sample_idx in its Python form) line by line, using numpy's
own RandomState for every random draw. The Go tests compare against its
output bit for bit and never run Python.

Run with Debian's python3-numpy:  /usr/bin/python3 scripts/data/gen_gpt_reference.py
Output: trainer/data/testdata/dataset/gpt/ (overwritten).
"""

import hashlib
import json
import os
import shutil
import struct
import sys

import numpy as np

VERSION = 1
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                   "..", "..", "trainer", "data", "testdata", "dataset", "gpt")

# ---------------------------------------------------------------- MMIDIDX

DTYPES = {1: np.uint8, 2: np.int8, 3: np.int16, 4: np.int32, 5: np.int64, 8: np.uint16}


def code(dtype):
    for k, v in DTYPES.items():
        if v == dtype:
            return k
    raise ValueError(dtype)


def write_mmidx(prefix, docs, dtype):
    """MMapIndexedDatasetBuilder: one item per document, then finalize."""
    sizes, doc_idx = [], [0]
    with open(prefix + ".bin", "wb") as f:
        for d in docs:
            f.write(np.array(d, dtype=dtype).tobytes(order="C"))
            sizes.append(len(d))
            doc_idx.append(len(sizes))
    with open(prefix + ".idx", "wb") as f:
        f.write(b"MMIDIDX\x00\x00")
        f.write(struct.pack("<Q", 1))
        f.write(struct.pack("<B", code(dtype)))
        f.write(struct.pack("<Q", len(sizes)))
        f.write(struct.pack("<Q", len(doc_idx)))
        f.write(np.array(sizes, dtype=np.int32).tobytes(order="C"))
        pointers = np.array(sizes, dtype=np.int64) * np.dtype(dtype).itemsize
        pointers = np.concatenate(([0], np.cumsum(pointers)[:-1])).astype(np.int64) if len(sizes) else pointers
        f.write(pointers.tobytes(order="C"))
        f.write(np.array(doc_idx, dtype=np.int64).tobytes(order="C"))
    return np.array(sizes, dtype=np.int32)


class MMIDIDX:
    """Reads what write_mmidx wrote (MMapIndexedDataset.get)."""

    def __init__(self, prefix, sizes, dtype):
        self.bin = np.fromfile(prefix + ".bin", dtype=dtype)
        self.sizes = sizes
        self.pointers = np.concatenate(([0], np.cumsum(sizes.astype(np.int64))[:-1]))

    def get(self, idx, offset=0, length=None):
        size = self.sizes[idx]
        if length is None:
            length = size - offset
        start = self.pointers[idx] + offset
        return self.bin[start:start + length]


# ---------------------------------------------------------------- GPTDataset

def get_train_valid_test_split_(splits_string, size):
    splits = []
    if splits_string.find(",") != -1:
        splits = [float(s) for s in splits_string.split(",")]
    elif splits_string.find("/") != -1:
        splits = [float(s) for s in splits_string.split("/")]
    else:
        splits = [float(splits_string)]
    while len(splits) < 3:
        splits.append(0.)
    splits = splits[:3]
    splits_sum = sum(splits)
    assert splits_sum > 0.0
    splits = [split / splits_sum for split in splits]
    splits_index = [0]
    for index, split in enumerate(splits):
        splits_index.append(splits_index[index] + int(round(split * float(size))))
    diff = splits_index[-1] - size
    for index in range(1, len(splits_index)):
        splits_index[index] -= diff
    assert len(splits_index) == 4
    assert splits_index[-1] == size
    return splits_index


def _num_epochs(tokens_per_epoch, seq_length, num_samples):
    num_epochs = 0
    total_tokens = 0
    while True:
        num_epochs += 1
        total_tokens += tokens_per_epoch
        if ((total_tokens - 1) // seq_length) >= num_samples:
            return num_epochs


def _build_doc_idx(documents, num_epochs, np_rng, separate_last_epoch):
    if not separate_last_epoch or num_epochs == 1:
        doc_idx = np.mgrid[0:num_epochs, 0:len(documents)][1]
        doc_idx[:] = documents
        doc_idx = doc_idx.reshape(-1)
        doc_idx = doc_idx.astype(np.int32)
        np_rng.shuffle(doc_idx)
        return doc_idx
    doc_idx_first = _build_doc_idx(documents, num_epochs - 1, np_rng, False)
    doc_idx_last = _build_doc_idx(documents, 1, np_rng, False)
    return np.concatenate((doc_idx_first, doc_idx_last))


def _build_sample_idx(sizes, doc_idx, seq_length, num_epochs, tokens_per_epoch):
    num_samples = (num_epochs * tokens_per_epoch - 1) // seq_length
    sample_idx = np.zeros([num_samples + 1, 2], dtype=np.int32)
    sample_index = 0
    doc_idx_index = 0
    doc_offset = 0
    sample_idx[sample_index][0] = doc_idx_index
    sample_idx[sample_index][1] = doc_offset
    sample_index += 1
    while sample_index <= num_samples:
        remaining_seq_length = seq_length + 1
        while remaining_seq_length != 0:
            doc_id = doc_idx[doc_idx_index]
            doc_length = sizes[doc_id] - doc_offset
            remaining_seq_length -= doc_length
            if remaining_seq_length <= 0:
                doc_offset += (remaining_seq_length + doc_length - 1)
                remaining_seq_length = 0
            else:
                doc_idx_index += 1
                doc_offset = 0
        sample_idx[sample_index][0] = doc_idx_index
        sample_idx[sample_index][1] = doc_offset
        sample_index += 1
    return sample_idx


def _build_shuffle_idx(num_samples, total_size, np_rng):
    dtype_ = np.uint32
    if total_size >= (np.iinfo(np.uint32).max - 1):
        dtype_ = np.int64
    shuffle_idx_first = np.arange(start=0, stop=num_samples, step=1, dtype=dtype_)
    np_rng.shuffle(shuffle_idx_first)
    if num_samples == total_size:
        return shuffle_idx_first
    shuffle_idx_last = np.arange(start=num_samples, stop=total_size, step=1, dtype=dtype_)
    np_rng.shuffle(shuffle_idx_last)
    return np.concatenate((shuffle_idx_first, shuffle_idx_last))


def build_index_mappings(name, data_prefix, documents, sizes, num_samples, seq_length, seed,
                         exact_epochs=None):
    """_build_index_mappings, writing the three .npy files with Megatron's names."""
    tokens_per_epoch = np.sum(sizes[documents])
    num_epochs = _num_epochs(tokens_per_epoch, seq_length, num_samples)
    np_rng = np.random.RandomState(seed=seed)
    _filename = data_prefix + "_{}_indexmap".format(name)
    if exact_epochs is not None and name == "train":
        num_epochs = exact_epochs
        _filename += "_exact{}ep".format(num_epochs)
    else:
        _filename += "_{}ns".format(num_samples)
    _filename += "_{}sl".format(seq_length)
    _filename += "_{}s".format(seed)
    if num_epochs == 1:
        separate_last_epoch = False
    else:
        num_samples_from_epochs_minus_one = ((num_epochs - 1) * tokens_per_epoch - 1) // seq_length
        last_epoch_num_samples = num_samples - num_samples_from_epochs_minus_one
        assert last_epoch_num_samples >= 0
        num_samples_per_epoch = (tokens_per_epoch - 1) // seq_length
        assert last_epoch_num_samples < (num_samples_per_epoch + 1)
        separate_last_epoch = (last_epoch_num_samples < int(0.80 * num_samples_per_epoch))
    doc_idx = _build_doc_idx(documents, num_epochs, np_rng, separate_last_epoch)
    np.save(_filename + "_doc_idx.npy", doc_idx, allow_pickle=True)
    assert doc_idx.dtype == np.int32 and sizes.dtype == np.int32
    sample_idx = _build_sample_idx(sizes, doc_idx, seq_length, num_epochs, tokens_per_epoch)
    np.save(_filename + "_sample_idx.npy", sample_idx, allow_pickle=True)
    if separate_last_epoch:
        num_samples_ = num_samples_from_epochs_minus_one
    else:
        num_samples_ = sample_idx.shape[0] - 1
    shuffle_idx = _build_shuffle_idx(num_samples_, sample_idx.shape[0] - 1, np_rng)
    np.save(_filename + "_shuffle_idx.npy", shuffle_idx, allow_pickle=True)
    return doc_idx, sample_idx, shuffle_idx, num_epochs, separate_last_epoch, _filename


def getitem(ds, doc_idx, sample_idx, shuffle_idx, idx):
    """GPTDataset.__getitem__."""
    idx = shuffle_idx[idx]
    doc_index_f = sample_idx[idx][0]
    doc_index_l = sample_idx[idx + 1][0]
    offset_f = sample_idx[idx][1]
    offset_l = sample_idx[idx + 1][1]
    if doc_index_f == doc_index_l:
        sample = ds.get(doc_idx[doc_index_f], offset=offset_f, length=offset_l - offset_f + 1)
    else:
        sample_list = [ds.get(doc_idx[doc_index_f], offset=offset_f)]
        for i in range(doc_index_f + 1, doc_index_l):
            sample_list.append(ds.get(doc_idx[i]))
        sample_list.append(ds.get(doc_idx[doc_index_l], length=offset_l + 1))
        sample = np.concatenate(sample_list)
    return np.array(sample, dtype=np.int64)


# ---------------------------------------------------------------- numpy RNG

def random_interval(raw32, raw64, mx):
    """distributions.c random_interval, written out, for the self-check."""
    if mx == 0:
        return 0
    mask = mx
    for s in (1, 2, 4, 8, 16, 32):
        mask |= mask >> s
    if mx <= 0xFFFFFFFF:
        while True:
            v = raw32() & mask
            if v <= mx:
                return v
    while True:
        v = raw64() & mask
        if v <= mx:
            return v


def rng_reference():
    out = {"version": VERSION, "raw": [], "state": [], "interval": [], "shuffle": []}
    for seed in (0, 1, 42, 1234, 2**31 - 1, 2**32 - 1):
        rs = np.random.RandomState(seed)
        key = rs.get_state()[1]
        out["state"].append({"seed": seed, "key_head": [int(k) for k in key[:5]],
                             "key_tail": int(key[-1])})
        raw = rs._bit_generator.random_raw(1300)  # crosses two refills
        out["raw"].append({"seed": seed, "n": 1300, "first": [int(v) for v in raw[:8]],
                           "at_624": int(raw[624]), "last": int(raw[-1]),
                           "sha256": hashlib.sha256(raw.astype("<u4").tobytes()).hexdigest()})
    # random_interval = legacy randint(0, max+1) (masked rejection), both paths.
    for seed, mx in ((5, 1), (5, 6), (7, 1000), (9, 2**31), (11, 2**32 - 1),
                     (13, 2**32), (17, 2**33 + 5), (19, 3 * 2**40 + 17), (23, 2**63 - 1)):
        rs = np.random.RandomState(seed)
        vals = rs.randint(0, mx + 1, size=16, dtype=np.uint64)
        check = np.random.RandomState(seed)
        bg = check._bit_generator
        raw32 = lambda: int(bg.random_raw())
        raw64 = lambda: (raw32() << 32) | raw32()
        mine = [random_interval(raw32, raw64, mx) for _ in range(16)]
        assert mine == [int(v) for v in vals], (seed, mx)
        out["interval"].append({"seed": seed, "max": mx, "values": [int(v) for v in vals]})
    for seed, n, dt in ((0, 0, "uint32"), (0, 1, "uint32"), (1, 2, "int32"), (42, 10, "int32"),
                        (1234, 1000, "uint32"), (7, 100003, "int64"), (2**32 - 1, 65536, "uint32")):
        x = np.arange(n, dtype=dt)
        np.random.RandomState(seed).shuffle(x)
        out["shuffle"].append({"seed": seed, "n": n, "dtype": dt, "head": [int(v) for v in x[:10]],
                               "sha256": hashlib.sha256(x.astype("<i8").tobytes()).hexdigest()})
    return out


# ---------------------------------------------------------------- cases

def make_docs(seed, n, lo, hi, vocab, zeros=()):
    rs = np.random.RandomState(seed)
    lens = rs.randint(lo, hi + 1, size=n)
    for z in zeros:
        lens[z] = 0
    return [rs.randint(0, vocab, size=int(l)).tolist() for l in lens]


DATASETS = {
    # name: (docs, dtype)
    "small_u16": (make_docs(101, 60, 1, 50, 65000), np.uint16),
    "mixed_i32": (make_docs(202, 150, 1, 120, 250680, zeros=(3, 77)), np.int32),
}

# (case, dataset, split, name, num_samples, seq_length, seed, exact_epochs)
CASES = [
    ("one_epoch", "small_u16", "969,30,1", "train", 40, 16, 1234, None),
    ("sep_last", "small_u16", "969,30,1", "train", 110, 16, 1234, None),   # 2 epochs, last < 80%
    ("joint_last", "small_u16", "969, 30, 1", "train", 170, 16, 42, None),  # 2 epochs, last >= 80%
    ("many_epochs", "small_u16", "8,1,1", "valid", 200, 8, 7, None),
    ("seq2", "small_u16", "100", "train", 300, 2, 0, None),
    ("int32_train", "mixed_i32", "98/2", "train", 900, 32, 2**32 - 1, None),
    ("int32_test", "mixed_i32", "90,5,5", "test", 50, 64, 31337, None),
    ("exact_epochs", "mixed_i32", "949,50,1", "train", 400, 32, 5, 2),
]

SPLITS = [("969,30,1", 60), ("969, 30, 1", 100000), ("98/2", 150), ("100", 7), ("1,1,1", 10),
          ("1,1,1", 2), ("2,1", 5), ("0.5,0.25,0.25", 3), ("969,30,1", 1), ("1,0,0", 0),
          ("3,3,3,5", 11), ("1,2,3", 101), ("5,5,0", 9)]


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    meta = {"version": VERSION, "numpy": np.__version__, "datasets": {}, "cases": [], "splits": []}
    handles = {}
    for name, (docs, dtype) in DATASETS.items():
        prefix = os.path.join(OUT, name)
        sizes = write_mmidx(prefix, docs, dtype)
        handles[name] = (MMIDIDX(prefix, sizes, dtype), sizes)
        meta["datasets"][name] = {"dtype": np.dtype(dtype).name, "sequences": len(docs),
                                  "tokens": int(sizes.sum())}
    for case, dsname, split, name, ns, sl, seed, exact in CASES:
        ds, sizes = handles[dsname]
        splits = get_train_valid_test_split_(split, len(sizes))
        index = ["train", "valid", "test"].index(name)
        documents = np.arange(start=splits[index], stop=splits[index + 1], step=1, dtype=np.int32)
        d = os.path.join(OUT, case)
        os.makedirs(d)
        doc_idx, sample_idx, shuffle_idx, epochs, sep, fn = build_index_mappings(
            name, os.path.join(d, dsname), documents, sizes, ns, sl, seed, exact)
        n = min(len(shuffle_idx), 64)
        samples = np.stack([getitem(ds, doc_idx, sample_idx, shuffle_idx, i) for i in range(n)])
        np.save(os.path.join(d, "samples.npy"), samples.astype(np.int32))
        meta["cases"].append({"case": case, "dataset": dsname, "split": split, "name": name,
                              "num_samples": ns, "seq_length": sl, "seed": seed,
                              "exact_epochs": exact or 0, "ranges": splits, "epochs": int(epochs),
                              "separate_last_epoch": bool(sep), "total_samples": int(len(shuffle_idx)),
                              "shuffle_dtype": shuffle_idx.dtype.name,
                              "files": os.path.basename(fn)})
    for s, n in SPLITS:
        meta["splits"].append({"split": s, "size": n, "ranges": get_train_valid_test_split_(s, n)})
    with open(os.path.join(OUT, "reference.json"), "w") as f:
        json.dump(meta, f, indent=1)
    with open(os.path.join(OUT, "rng.json"), "w") as f:
        json.dump(rng_reference(), f, indent=1)
    print("wrote", OUT, file=sys.stderr)


if __name__ == "__main__":
    main()
