#!/usr/bin/env python3
"""PyTorch benchmark peer for `make bench` (BLOOM, HF semantics via scripts/golden/bloom_ref.py).

Run with the system interpreter (Debian python3-torch), from anywhere:

    /usr/bin/python3 scripts/bench/torch_bloom.py --mode step --vocab 320 --hidden 64 --heads 4 \
        --layers 2 --seq 16 --batch 2 --threads 1 --steps 20 --warmup 3
    /usr/bin/python3 scripts/bench/torch_bloom.py --mode gemm --m 512 --n 512 --k 512 --transb 1 --threads 1
    /usr/bin/python3 scripts/bench/torch_bloom.py --mode generate --vocab 4096 --hidden 256 --heads 8 \
        --layers 4 --batch 1 --prompt-len 32 --new-tokens 64 --threads 1

Modes (each prints ONE JSON line on stdout; diagnostics go to stderr):
  step      full training step: forward, shifted-CE loss, backward, AdamW.step, zero_grad
            (float32, attention_mask all ones), timed over --steps after --warmup steps.
            {"peer","torch","blas",...,"threads","shape":[V,h,nh,L,T,B],"tokens_per_s","ms_per_step"}
            tokens_per_s = batch*seq / mean step time.
  gemm      C = op(A) op(B), float32, op = transpose when --transa/--transb is 1;
            {"gflops": 2mnk/mean time, ...}
  generate  greedy decoding with a KV cache (past k/v concatenation, HF legacy layout):
            prefill --prompt-len tokens, then --new-tokens tokens (batch rows = --batch).
            tokens_per_s = batch*new_tokens / mean total time (prefill included);
            decode_tokens_per_s excludes the prefill.

Weights are random (HF init: N(0, 0.02^2) matrices, LayerNorm 1/0, biases 0); no golden
files are involved.

BLAS: Debian's torch is built with BLAS_INFO=generic and calls whatever libblas.so.3
resolves to (update-alternatives; libopenblas0-pthread provides it). The script reports
the library actually mapped into the process and warns on stderr when it is the
reference BLAS. --threads sets torch's intra-op threads AND OpenBLAS's own thread
count (openblas_set_num_threads via ctypes), since torch does not forward its thread
count to OpenBLAS. OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (and other OPENBLAS_*)
may be set in the environment on the benchmark machine: the script leaves them as
they are and only reports them ("openblas_env"). OMP_WAIT_POLICY defaults to PASSIVE
(see below) unless set by the caller.
"""

import argparse
import ctypes
import json
import os
import re
import statistics
import sys
import time

# Debian's torch runs its elementwise ops on libgomp threads while GEMMs run on
# OpenBLAS's own pthreads: two pools. With the default (active) wait policy the idle
# OpenMP workers spin after every parallel region and steal the cores OpenBLAS needs
# (measured 2.5-4x slower 2-thread steps on the 2-core bench machine). Unless the
# caller set it, use the passive policy; it must be set before libgomp loads (import
# torch). The value used is reported as "omp_wait_policy".
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

sys.dont_write_bytecode = True  # keep __pycache__ out of the repo
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "golden"))
import bloom_ref as br  # noqa: E402


def warn(msg):
    print("torch_bloom: " + msg, file=sys.stderr)


# --------------------------------------------------------------------------
# BLAS detection
# --------------------------------------------------------------------------

def mapped_blas_libs():
    libs = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 6 and re.search(r"blas|mkl", os.path.basename(parts[5]), re.I):
                    p = parts[5]
                    if p not in libs:
                        libs.append(p)
    except OSError:
        pass
    return libs


def torch_blas_info():
    m = re.search(r"BLAS_INFO=([^,\s]+)", torch.__config__.show())
    return m.group(1) if m else "unknown"


class Blas:
    def __init__(self):
        a = torch.ones(8, 8)
        torch.mm(a, a)  # make sure the BLAS is loaded
        self.libs = mapped_blas_libs()
        self.path = None
        self.kind = "unknown"
        self.openblas = None
        for p in self.libs:
            rp = os.path.realpath(p)
            if "openblas" in rp:
                self.path, self.kind = rp, "openblas"
                m = re.search(r"openblas-(pthread|openmp|serial)", rp)
                if m:
                    self.kind = "openblas-" + m.group(1)
                break
            if re.search(r"/blas/libblas\.so", rp) or os.path.basename(rp).startswith("libblas.so"):
                self.path, self.kind = rp, "reference-blas"
            elif "mkl" in rp:
                self.path, self.kind = rp, "mkl"
        self.config = self.corename = None
        if self.path and self.kind.startswith("openblas"):
            try:
                self.openblas = ctypes.CDLL(self.path)  # same handle as the mapped library
                self.openblas.openblas_get_config.restype = ctypes.c_char_p
                self.openblas.openblas_get_corename.restype = ctypes.c_char_p
                self.config = self.openblas.openblas_get_config().decode().strip()
                self.corename = self.openblas.openblas_get_corename().decode().strip()
            except (OSError, AttributeError):
                self.openblas = None
        if self.kind == "reference-blas":
            warn("WARNING: torch is using the REFERENCE BLAS (%s); numbers are not representative. "
                 "Install libopenblas0-pthread (update-alternatives libblas.so.3)." % self.path)
        elif not self.kind.startswith("openblas"):
            warn("WARNING: could not identify an OpenBLAS in the process (mapped: %s)" % self.libs)

    def set_threads(self, n):
        if self.openblas is not None:
            self.openblas.openblas_set_num_threads(ctypes.c_int(n))

    def threads(self):
        if self.openblas is not None:
            try:
                return int(self.openblas.openblas_get_num_threads())
            except AttributeError:
                return None
        return None

    def describe(self):
        s = "%s (%s" % (self.kind, self.path)
        if self.config:
            s += "; %s" % self.config
        if self.corename:
            s += "; core %s" % self.corename
        return s + "; torch BLAS_INFO=%s)" % torch_blas_info()


# --------------------------------------------------------------------------
# Model helpers
# --------------------------------------------------------------------------

@torch.no_grad()
def hf_init(model, gen, std=0.02):
    for name, p in model.named_parameters():
        if "layernorm" in name or name.startswith("ln_f"):
            p.fill_(1.0 if name.endswith(".weight") else 0.0)
        elif name.endswith(".bias"):
            p.zero_()
        else:
            p.normal_(0.0, std, generator=gen)


def make_model(args, gen):
    cfg = br.BloomConfig(args.vocab, args.hidden, args.heads, args.layers)
    model = br.BloomForCausalLM(cfg)
    hf_init(model, gen)
    return model


def timed(fn, steps, warmup):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return ts


def bench_step(args, gen):
    model = make_model(args, gen)
    model.train()
    opt = torch.optim.AdamW(br.adamw_param_groups(model, 0.1), lr=1e-4, betas=(0.9, 0.95), eps=1e-8,
                            weight_decay=0.1)
    ids = torch.randint(0, args.vocab, (args.batch, args.seq), generator=gen)
    mask = torch.ones_like(ids)
    losses = []

    def step():
        loss = model(ids, attention_mask=mask, labels=ids)["loss"]
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))

    ts = timed(step, args.steps, args.warmup)
    mean = statistics.fmean(ts)
    return {
        "mode": "step",
        "shape": [args.vocab, args.hidden, args.heads, args.layers, args.seq, args.batch],
        "params": sum(p.numel() for p in model.parameters()),
        "steps": args.steps,
        "warmup": args.warmup,
        "tokens_per_s": args.batch * args.seq / mean,
        "ms_per_step": mean * 1e3,
        "ms_per_step_median": statistics.median(ts) * 1e3,
        "ms_per_step_min": min(ts) * 1e3,
        "last_loss": losses[-1],
    }


def bench_gemm(args, gen):
    m, n, k = args.m, args.n, args.k
    a = torch.randn((k, m) if args.transa else (m, k), generator=gen)
    b = torch.randn((n, k) if args.transb else (k, n), generator=gen)
    opa = a.t() if args.transa else a
    opb = b.t() if args.transb else b
    c = torch.empty(m, n)
    ts = timed(lambda: torch.mm(opa, opb, out=c), args.steps, args.warmup)
    mean = statistics.fmean(ts)
    return {
        "mode": "gemm",
        "m": m, "n": n, "k": k, "transa": int(args.transa), "transb": int(args.transb),
        "steps": args.steps,
        "gflops": 2.0 * m * n * k / mean / 1e9,
        "gflops_best": 2.0 * m * n * k / min(ts) / 1e9,
        "ms": mean * 1e3,
    }


@torch.no_grad()
def bench_generate(args, gen):
    model = make_model(args, gen)
    model.eval()
    prompt = torch.randint(0, args.vocab, (args.batch, args.prompt_len), generator=gen)
    pmask = torch.ones_like(prompt)
    times = {"prefill": [], "decode": []}
    out_tokens = []

    def run():
        t0 = time.perf_counter()
        o = model(prompt, attention_mask=pmask, use_cache=True)
        past, mask = o["past_key_values"], pmask
        nxt = torch.argmax(o["logits"][:, -1, :], dim=-1)
        t1 = time.perf_counter()
        toks = [nxt]
        for _ in range(args.new_tokens - 1):
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
            o = model(nxt[:, None], attention_mask=mask, past_key_values=past, use_cache=True)
            past = o["past_key_values"]
            nxt = torch.argmax(o["logits"][:, -1, :], dim=-1)
            toks.append(nxt)
        t2 = time.perf_counter()
        times["prefill"].append(t1 - t0)
        times["decode"].append(t2 - t1)
        out_tokens[:] = [torch.stack(toks, 1)]

    for _ in range(args.warmup):
        run()
    times["prefill"].clear()
    times["decode"].clear()
    for _ in range(args.steps):
        run()
    pre = statistics.fmean(times["prefill"])
    dec = statistics.fmean(times["decode"])
    return {
        "mode": "generate",
        "shape": [args.vocab, args.hidden, args.heads, args.layers, args.prompt_len, args.batch],
        "prompt_len": args.prompt_len,
        "new_tokens": args.new_tokens,
        "runs": args.steps,
        "tokens_per_s": args.batch * args.new_tokens / (pre + dec),
        "decode_tokens_per_s": (args.batch * (args.new_tokens - 1) / dec) if args.new_tokens > 1 else None,
        "prefill_ms": pre * 1e3,
        "ms_per_token": dec * 1e3 / max(1, args.new_tokens - 1),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=["step", "gemm", "generate"], default="step")
    ap.add_argument("--vocab", type=int, default=320)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--seq", type=int, default=16)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=10, help="timed iterations (steps, gemm calls, generations)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--m", type=int, default=256)
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--k", type=int, default=256)
    ap.add_argument("--transa", type=int, choices=[0, 1], default=0)
    ap.add_argument("--transb", type=int, choices=[0, 1], default=0)
    ap.add_argument("--prompt-len", dest="prompt_len", type=int, default=16)
    ap.add_argument("--new-tokens", dest="new_tokens", type=int, default=32)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    blas = Blas()
    blas.set_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)

    res = {"gemm": bench_gemm, "step": bench_step, "generate": bench_generate}[args.mode](args, gen)
    out = {
        "peer": "pytorch",
        "torch": torch.__version__,
        "blas": blas.describe(),
        "blas_lib": blas.path,
        "openblas_threads": blas.threads(),
        "openblas_env": {k: v for k, v in sorted(os.environ.items()) if k.startswith("OPENBLAS_")},
        "threads": torch.get_num_threads(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
    }
    out.update(res)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
