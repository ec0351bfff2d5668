"""Reference BLOOM (Hugging Face ``BloomForCausalLM`` semantics) in plain PyTorch.

Hugging Face ``transformers`` is not available on the build machines, so this
module re-implements ``transformers/models/bloom/modeling_bloom.py`` op for op
(see /work/shared/reference/bloom.md, section 4). It is used by
``scripts/golden/gen_golden.py`` (golden files for the Go tests) and by
``scripts/bench/torch_bloom.py`` (the PyTorch benchmark peer).

Needs only torch (Debian python3-torch 1.13 works) and numpy. Run with the
system interpreter, ``/usr/bin/python3``, where python3-torch is installed.

Semantics, exactly as HF:

* ``word_embeddings`` (V, h) -> ``word_embeddings_layernorm`` -> n_layer blocks
  -> ``ln_f`` -> logits = hidden @ word_embeddings.weight^T (lm_head tied, no bias).
* Block (pre-LN, apply_residual_connection_post_layernorm=False):
  ``x1 = x + attn(input_layernorm(x))``;
  ``out = x1 + dense_4h_to_h(gelu(dense_h_to_4h(post_attention_layernorm(x1))))``.
* GELU: tanh approximation with HF's hand-written backward (``GeLUFunction``),
  used in training mode; in eval mode the plain forward (same values).
* Fused QKV: Linear(h, 3h) output viewed (B, T, n_head, 3, head_dim).
* ALiBi: ``build_alibi_tensor`` (slopes in float32, positions
  ``(cumsum(mask)-1)*mask`` so left padding works).
* Scores: ``alibi.baddbmm(q, k^T, beta=1, alpha=1/sqrt(head_dim))``; the boolean
  causal|padding mask is applied with ``masked_fill(finfo(float32).min)``;
  softmax in float32. NOTE: a query row whose keys are *all* masked (a left-pad
  query position) therefore gets a uniform distribution over all kv positions
  (every score equals finfo.min), exactly as HF. Those rows feed the logits of
  pad positions, and the logit at the *last* pad position is used by the
  shifted loss (its label is the first real token).
* Loss: shifted cross-entropy, ignore_index=-100, mean over non-ignored.
* Dropout: all zero, not implemented.
"""

import json
import math
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


# --------------------------------------------------------------------------
# GELU (modeling_bloom.bloom_gelu_forward / bloom_gelu_back / GeLUFunction)
# --------------------------------------------------------------------------

def bloom_gelu_forward(x):
    return x * 0.5 * (1.0 + torch.tanh(0.79788456 * x * (1 + 0.044715 * x * x)))


def bloom_gelu_back(g, x):
    x = x[0]  # x is a tuple of 1 element (ctx.saved_tensors), as in HF
    tanh_out = torch.tanh(0.79788456 * x * (1 + 0.044715 * x * x))
    # sqrt(2/pi) * 3 * 0.044715 -> 0.1070322243
    ff = 0.5 * x * ((1 - tanh_out * tanh_out) * (0.79788456 + 0.1070322243 * x * x)) + 0.5 * (1 + tanh_out)
    return ff * g


class GeLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input):
        ctx.save_for_backward(input)
        return bloom_gelu_forward(input)

    @staticmethod
    def backward(ctx, grad_output):
        input = ctx.saved_tensors
        tmp = bloom_gelu_back(grad_output, input)
        return tmp


class BloomGelu(nn.Module):
    def forward(self, x):
        if self.training:
            return GeLUFunction.apply(x)
        return bloom_gelu_forward(x)


# --------------------------------------------------------------------------
# ALiBi and masks (modeling_bloom.build_alibi_tensor, _make_causal_mask, _expand_mask)
# --------------------------------------------------------------------------

def alibi_slopes(num_heads):
    closest_power_of_2 = 2 ** math.floor(math.log2(num_heads))
    base = torch.tensor(2 ** (-(2 ** -(math.log2(closest_power_of_2) - 3))), dtype=torch.float32)
    powers = torch.arange(1, 1 + closest_power_of_2, dtype=torch.int32)
    slopes = torch.pow(base, powers)
    if closest_power_of_2 != num_heads:
        extra_base = torch.tensor(2 ** (-(2 ** -(math.log2(2 * closest_power_of_2) - 3))), dtype=torch.float32)
        num_remaining_heads = min(closest_power_of_2, num_heads - closest_power_of_2)
        extra_powers = torch.arange(1, 1 + 2 * num_remaining_heads, 2, dtype=torch.int32)
        slopes = torch.cat([slopes, torch.pow(extra_base, extra_powers)], dim=0)
    return slopes


def build_alibi_tensor(attention_mask, num_heads, dtype):
    """(B*n_head, 1, kv_len): slope_h * ((cumsum(mask)-1)*mask)[j]."""
    batch_size, seq_length = attention_mask.shape
    slopes = alibi_slopes(num_heads)
    arange_tensor = ((attention_mask.cumsum(dim=-1) - 1) * attention_mask)[:, None, :]
    alibi = slopes[..., None] * arange_tensor
    return alibi.reshape(batch_size * num_heads, 1, seq_length).to(dtype)


def _make_causal_mask(batch_size, target_length, past_key_values_length):
    mask = torch.empty((target_length, target_length + past_key_values_length), dtype=torch.bool)
    seq_ids = torch.arange(target_length)
    mask[:, past_key_values_length:] = seq_ids[:, None] < seq_ids[None, :]
    if past_key_values_length > 0:
        mask[:, :past_key_values_length] = False
    return mask[None, None, :, :].expand(batch_size, 1, target_length, target_length + past_key_values_length)


def _expand_mask(mask, tgt_length):
    batch_size, src_length = mask.shape
    expanded_mask = ~(mask[:, None, None, :].to(torch.bool))
    return expanded_mask.expand(batch_size, 1, tgt_length, src_length)


def prepare_attn_mask(attention_mask, q_length, past_key_values_length):
    """Boolean (B, 1, q, kv) mask, True = masked out (HF BloomModel._prepare_attn_mask)."""
    batch_size = attention_mask.shape[0]
    combined = None
    if q_length > 1:
        combined = _make_causal_mask(batch_size, q_length, past_key_values_length)
    expanded = _expand_mask(attention_mask, q_length)
    return expanded if combined is None else expanded | combined


# --------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------

class BloomConfig:
    def __init__(self, vocab_size, hidden_size, n_head, n_layer, layer_norm_epsilon=1e-5):
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.n_head = n_head
        self.n_layer = n_layer
        self.layer_norm_epsilon = layer_norm_epsilon
        assert hidden_size % n_head == 0

    def to_hf_dict(self, torch_dtype="float32"):
        return {
            "model_type": "bloom",
            "architectures": ["BloomForCausalLM"],
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "n_layer": self.n_layer,
            "n_head": self.n_head,
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "bos_token_id": 1,
            "eos_token_id": 2,
            "pad_token_id": 3,
            "unk_token_id": 0,
            "apply_residual_connection_post_layernorm": False,
            "hidden_dropout": 0.0,
            "attention_dropout": 0.0,
            "initializer_range": 0.02,
            "torch_dtype": torch_dtype,
        }


class BloomAttention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.hidden_size = cfg.hidden_size
        self.num_heads = cfg.n_head
        self.head_dim = cfg.hidden_size // cfg.n_head
        self.inv_norm_factor = 1.0 / math.sqrt(self.head_dim)
        self.beta = 1.0
        self.query_key_value = nn.Linear(self.hidden_size, 3 * self.hidden_size, bias=True)
        self.dense = nn.Linear(self.hidden_size, self.hidden_size)

    def _split_heads(self, fused_qkv):
        batch_size, seq_length, three_times_hidden_size = fused_qkv.shape
        fused_qkv = fused_qkv.view(batch_size, seq_length, self.num_heads, 3, self.head_dim)
        return fused_qkv[..., 0, :], fused_qkv[..., 1, :], fused_qkv[..., 2, :]

    def _merge_heads(self, x):
        batch_size_and_num_heads, seq_length, _ = x.shape
        batch_size = batch_size_and_num_heads // self.num_heads
        x = x.view(batch_size, self.num_heads, seq_length, self.head_dim)
        x = x.permute(0, 2, 1, 3)
        return x.reshape(batch_size, seq_length, self.num_heads * self.head_dim)

    def forward(self, hidden_states, residual, alibi, attention_mask, layer_past=None, use_cache=False):
        fused_qkv = self.query_key_value(hidden_states)
        query_layer, key_layer, value_layer = self._split_heads(fused_qkv)
        batch_size, q_length, _, _ = query_layer.shape

        query_layer = query_layer.transpose(1, 2).reshape(batch_size * self.num_heads, q_length, self.head_dim)
        key_layer = key_layer.permute(0, 2, 3, 1).reshape(batch_size * self.num_heads, self.head_dim, q_length)
        value_layer = value_layer.transpose(1, 2).reshape(batch_size * self.num_heads, q_length, self.head_dim)
        if layer_past is not None:
            past_key, past_value = layer_past
            # key: (B*nh, hd, kv), value: (B*nh, kv, hd), as HF's legacy cache
            key_layer = torch.cat((past_key, key_layer), dim=2)
            value_layer = torch.cat((past_value, value_layer), dim=1)
        _, _, kv_length = key_layer.shape
        present = (key_layer, value_layer) if use_cache else None

        matmul_result = alibi.baddbmm(batch1=query_layer, batch2=key_layer, beta=self.beta, alpha=self.inv_norm_factor)
        attention_scores = matmul_result.view(batch_size, self.num_heads, q_length, kv_length)
        input_dtype = attention_scores.dtype
        if input_dtype == torch.float16:
            attention_scores = attention_scores.to(torch.float)
        attn_weights = torch.masked_fill(attention_scores, attention_mask, torch.finfo(attention_scores.dtype).min)
        attention_probs = F.softmax(attn_weights, dim=-1, dtype=torch.float32).to(input_dtype)
        attention_probs_reshaped = attention_probs.view(batch_size * self.num_heads, q_length, kv_length)
        context_layer = torch.bmm(attention_probs_reshaped, value_layer)
        context_layer = self._merge_heads(context_layer)
        output_tensor = self.dense(context_layer)
        output_tensor = residual + output_tensor  # dropout_add with p=0
        return output_tensor, present


class BloomMLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        h = cfg.hidden_size
        self.dense_h_to_4h = nn.Linear(h, 4 * h)
        self.gelu_impl = BloomGelu()
        self.dense_4h_to_h = nn.Linear(4 * h, h)

    def forward(self, hidden_states, residual):
        hidden_states = self.gelu_impl(self.dense_h_to_4h(hidden_states))
        intermediate_output = self.dense_4h_to_h(hidden_states)
        return residual + intermediate_output  # dropout_add with p=0


class BloomBlock(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        h = cfg.hidden_size
        self.input_layernorm = nn.LayerNorm(h, eps=cfg.layer_norm_epsilon)
        self.self_attention = BloomAttention(cfg)
        self.post_attention_layernorm = nn.LayerNorm(h, eps=cfg.layer_norm_epsilon)
        self.mlp = BloomMLP(cfg)

    def forward(self, hidden_states, alibi, attention_mask, layer_past=None, use_cache=False):
        layernorm_output = self.input_layernorm(hidden_states)
        residual = hidden_states  # apply_residual_connection_post_layernorm=False
        attention_output, present = self.self_attention(
            layernorm_output, residual, alibi, attention_mask, layer_past=layer_past, use_cache=use_cache)
        layernorm_output = self.post_attention_layernorm(attention_output)
        residual = attention_output
        output = self.mlp(layernorm_output, residual)
        return output, present


class BloomForCausalLM(nn.Module):
    """HF BloomForCausalLM; parameter names are the HF names without "transformer."."""

    def __init__(self, cfg):
        super().__init__()
        self.config = cfg
        h = cfg.hidden_size
        self.word_embeddings = nn.Embedding(cfg.vocab_size, h)
        self.word_embeddings_layernorm = nn.LayerNorm(h, eps=cfg.layer_norm_epsilon)
        self.h = nn.ModuleList([BloomBlock(cfg) for _ in range(cfg.n_layer)])
        self.ln_f = nn.LayerNorm(h, eps=cfg.layer_norm_epsilon)

    def forward(self, input_ids, attention_mask=None, labels=None, past_key_values=None, use_cache=False,
                return_hidden=False):
        """Returns dict(logits, loss?, past_key_values?, hidden?).

        attention_mask covers past + current tokens (B, past_len + T), as in HF.
        hidden (if return_hidden): [embed_ln, block_0 out, ..., block_{L-1} out, ln_f out].
        """
        batch_size, seq_length = input_ids.shape
        past_len = 0 if past_key_values is None else past_key_values[0][0].shape[2]
        if attention_mask is None:
            attention_mask = torch.ones((batch_size, past_len + seq_length), dtype=torch.long)
        inputs_embeds = self.word_embeddings(input_ids)
        hidden_states = self.word_embeddings_layernorm(inputs_embeds)
        hiddens = [hidden_states] if return_hidden else None
        alibi = build_alibi_tensor(attention_mask, self.config.n_head, dtype=hidden_states.dtype)
        causal_mask = prepare_attn_mask(attention_mask, seq_length, past_len)
        presents = [] if use_cache else None
        for i, block in enumerate(self.h):
            layer_past = None if past_key_values is None else past_key_values[i]
            hidden_states, present = block(hidden_states, alibi, causal_mask, layer_past=layer_past,
                                           use_cache=use_cache)
            if use_cache:
                presents.append(present)
            if return_hidden:
                hiddens.append(hidden_states)
        hidden_states = self.ln_f(hidden_states)
        if return_hidden:
            hiddens.append(hidden_states)
        lm_logits = F.linear(hidden_states, self.word_embeddings.weight)  # tied lm_head, no bias
        out = {"logits": lm_logits}
        if labels is not None:
            shift_logits = lm_logits[..., :-1, :].contiguous()
            shift_labels = labels[..., 1:].contiguous()
            b, s, v = shift_logits.shape
            out["loss"] = nn.CrossEntropyLoss()(shift_logits.view(b * s, v), shift_labels.view(b * s))
        if use_cache:
            out["past_key_values"] = presents
        if return_hidden:
            out["hidden"] = hiddens
        return out


def is_no_decay(name):
    """AdamW grouping: no weight decay for biases and layer-norm weights."""
    return name.endswith(".bias") or "layernorm" in name or name.startswith("ln_f")


def adamw_param_groups(model, weight_decay):
    decay, no_decay = [], []
    for n, p in model.named_parameters():
        (no_decay if is_no_decay(n) else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


# --------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------

@torch.no_grad()
def greedy_nocache(model, input_ids, attention_mask, new_tokens):
    """Greedy argmax, rerunning the whole sequence each step (HF generate with use_cache=False).

    Returns (tokens (B, new_tokens), min top-1/top-2 logit gap over all steps and rows).
    """
    ids, mask = input_ids, attention_mask
    out, min_gap = [], float("inf")
    for _ in range(new_tokens):
        logits = model(ids, attention_mask=mask)["logits"][:, -1, :]
        top2 = torch.topk(logits, 2, dim=-1).values
        min_gap = min(min_gap, float((top2[:, 0] - top2[:, 1]).min()))
        nxt = torch.argmax(logits, dim=-1)
        out.append(nxt)
        ids = torch.cat([ids, nxt[:, None]], dim=1)
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
    return torch.stack(out, dim=1), min_gap


@torch.no_grad()
def greedy_cached(model, input_ids, attention_mask, new_tokens):
    """Greedy argmax with a KV cache (past k/v concatenation), as HF generate with use_cache=True."""
    o = model(input_ids, attention_mask=attention_mask, use_cache=True)
    past, mask = o["past_key_values"], attention_mask
    out = []
    nxt = torch.argmax(o["logits"][:, -1, :], dim=-1)
    for step in range(new_tokens):
        out.append(nxt)
        if step == new_tokens - 1:
            break
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        o = model(nxt[:, None], attention_mask=mask, past_key_values=past, use_cache=True)
        past = o["past_key_values"]
        nxt = torch.argmax(o["logits"][:, -1, :], dim=-1)
    return torch.stack(out, dim=1)


# --------------------------------------------------------------------------
# safetensors (written by hand; format: u64 LE header length N, N bytes of JSON
# header padded with spaces to a multiple of 8, then the raw little-endian data)
# --------------------------------------------------------------------------

_ST_DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64"}


def _tensor_bytes(t):
    t = t.detach().contiguous().cpu()
    if t.dtype == torch.bfloat16:
        a = t.view(torch.int16).numpy().astype("<i2", copy=False)
    elif t.dtype == torch.float32:
        a = t.numpy().astype("<f4", copy=False)
    elif t.dtype == torch.float16:
        a = t.numpy().astype("<f2", copy=False)
    elif t.dtype == torch.int64:
        a = t.numpy().astype("<i8", copy=False)
    else:
        raise ValueError("unsupported dtype %s" % t.dtype)
    return a.tobytes()


def safetensors_bytes(tensors, metadata=None):
    """tensors: dict name -> torch tensor (F32/F16/BF16/I64). Data laid out in sorted-name order."""
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in sorted(metadata.items())}
    blobs, off = [], 0
    for name in sorted(tensors):
        t = tensors[name]
        if t.dtype not in _ST_DTYPES:
            raise ValueError("%s: unsupported dtype %s" % (name, t.dtype))
        b = _tensor_bytes(t)
        header[name] = {"dtype": _ST_DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((-len(hjson)) % 8)
    return struct.pack("<Q", len(hjson)) + hjson + b"".join(blobs)


def write_safetensors(path, tensors, metadata=None):
    with open(path, "wb") as f:
        f.write(safetensors_bytes(tensors, metadata))


def read_safetensors(path):
    """Minimal reader (for self-checks): returns (dict name -> torch tensor, metadata)."""
    np_dt = {"F32": "<f4", "F16": "<f2", "BF16": "<i2", "I64": "<i8"}
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    data = raw[8 + n:]
    out = {}
    for name, info in header.items():
        s, e = info["data_offsets"]
        a = np.frombuffer(data[s:e], dtype=np_dt[info["dtype"]]).reshape(info["shape"]).copy()
        t = torch.from_numpy(a)
        if info["dtype"] == "BF16":
            t = t.view(torch.bfloat16)
        out[name] = t
    return out, meta
