#!/usr/bin/python3
"""Quantised GGUF files of a tiny family, for the end-to-end check of quantised models.

The Llama 3.x tiny family of tools/make_tiny_families.py (same code, config and GGUF layout:
arch llama, q/k row permutation, tied embeddings, rope_freqs), widened to hidden 256 and
intermediate 256 so that every matrix row is a whole number of 256-element K-quant blocks
(llama.cpp keeps a tensor whose rows are not in F32/Q8_0 otherwise). Two files, as llama.cpp
lays them out (1-D norms stay F32):
  tiny-llama3-wide-q8_0.gguf   every matrix Q8_0                         (label q8_0)
  tiny-llama3-wide-q4_k.gguf   matrices Q4_K, token_embd (tied output) Q6_K (label q4_k+q6_k,
                               like a Q4_K_M file's output tensor)
plus config.json (the widened Hugging Face config, for the reference). No safetensors: the
reference (tools/ref/make_golden_families.py --quantised) reads the GGUF's own blocks.

The quantisers are simple (per-block absmax / range), not llama.cpp's search: any valid
encoding serves, since ropebench and the reference dequantise the same bytes.
Deterministic (seed 200).

Usage: tools/make_quantised_families.py OUT_DIR   (OUT_DIR = tests/fixtures/families/llama3-wide)
"""
import json
import os
import sys

import numpy as np

import make_tiny_families as mtf

GGML_Q8_0, GGML_Q4_K, GGML_Q6_K = 8, 12, 14


def f16(x):
    return np.asarray(x, dtype=np.float16)


def q8_0(a):
    """Blocks of 32: f16 d = absmax/127, int8 round(x/d)."""
    x = a.reshape(-1, 32).astype(np.float64)
    d = f16(np.abs(x).max(1) / 127)
    inv = np.where(d == 0, 0, 1 / np.maximum(d.astype(np.float64), 1e-30))
    q = np.clip(np.rint(x * inv[:, None]), -127, 127).astype(np.int8)
    out = np.zeros((x.shape[0], 34), np.uint8)
    out[:, 0:2] = d.view(np.uint8).reshape(-1, 2)
    out[:, 2:] = q.view(np.uint8)
    return out.tobytes()


def q4_k(a):
    """Super-blocks of 256 = 8 sub-blocks of 32: x ≈ d·sc_j·q − dmin·m_j, q in 0..15, sc/m 6-bit
    packed as ggml's get_scale_min_k4 reads them."""
    x = a.reshape(-1, 8, 32).astype(np.float64)
    lo = np.minimum(x.min(2), 0)
    scale = (x.max(2) - lo) / 15
    d = f16(scale.max(1) / 63)
    dmin = f16((-lo).max(1) / 63)
    dd, dm = d.astype(np.float64)[:, None], dmin.astype(np.float64)[:, None]
    sc = np.clip(np.rint(np.where(dd > 0, scale / np.where(dd > 0, dd, 1), 0)), 0, 63).astype(np.int64)
    m = np.clip(np.rint(np.where(dm > 0, -lo / np.where(dm > 0, dm, 1), 0)), 0, 63).astype(np.int64)
    step = dd * sc
    q = np.where(step[..., None] > 0,
                 np.rint((x + (dm * m)[..., None]) / np.where(step > 0, step, 1)[..., None]), 0)
    q = np.clip(q, 0, 15).astype(np.uint8)
    packed = np.zeros((x.shape[0], 12), np.uint8)
    for j in range(4):
        packed[:, j] = (sc[:, j] & 63) | ((sc[:, j + 4] >> 4) << 6)
        packed[:, j + 4] = (m[:, j] & 63) | ((m[:, j + 4] >> 4) << 6)
        packed[:, j + 8] = (sc[:, j + 4] & 15) | ((m[:, j + 4] & 15) << 4)
    qs = np.zeros((x.shape[0], 128), np.uint8)
    for c in range(4):  # 64 values per chunk: sub-block 2c in the low nibbles, 2c+1 in the high
        qs[:, 32 * c:32 * c + 32] = q[:, 2 * c] | (q[:, 2 * c + 1] << 4)
    out = np.concatenate([d.view(np.uint8).reshape(-1, 2), dmin.view(np.uint8).reshape(-1, 2), packed, qs], 1)
    return out.tobytes()


def q6_k(a):
    """Super-blocks of 256 = 16 sub-blocks of 16: x ≈ d·sc_j·(q − 32), q 6-bit, sc int8; laid
    out as ggml's dequantize_row_q6_K reads ql, qh, scales, d."""
    x = a.reshape(-1, 16, 16).astype(np.float64)
    scale = np.abs(x).max(2) / 31
    d = f16(scale.max(1) / 127)
    dd = d.astype(np.float64)[:, None]
    sc = np.clip(np.rint(np.where(dd > 0, scale / np.where(dd > 0, dd, 1), 0)), -128, 127).astype(np.int64)
    step = dd * sc
    q = np.where(step[..., None] > 0, np.rint(x / np.where(step > 0, step, 1)[..., None]), 0)
    q = (np.clip(q, -32, 31) + 32).astype(np.uint8).reshape(-1, 256)
    ql = np.zeros((x.shape[0], 128), np.uint8)
    qh = np.zeros((x.shape[0], 64), np.uint8)
    for h in range(2):  # halves of 128 values
        v = q[:, 128 * h:128 * h + 128]
        l = np.arange(32)
        ql[:, 64 * h + l] = (v[:, l] & 15) | ((v[:, l + 64] & 15) << 4)
        ql[:, 64 * h + 32 + l] = (v[:, l + 32] & 15) | ((v[:, l + 96] & 15) << 4)
        qh[:, 32 * h + l] = (v[:, l] >> 4) | ((v[:, l + 32] >> 4) << 2) | ((v[:, l + 64] >> 4) << 4) | (
            (v[:, l + 96] >> 4) << 6)
    out = np.concatenate([ql, qh, sc.astype(np.int8).view(np.uint8), d.view(np.uint8).reshape(-1, 2)], 1)
    return out.tobytes()


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    mtf.HIDDEN, mtf.INTER = 256, 256  # read by tensors_for / gguf_for at call time
    cls, mt, arch, extra = mtf.FAMILIES["llama3"]
    cfg = {"architectures": [cls], "model_type": mt, "hidden_size": mtf.HIDDEN, "intermediate_size": mtf.INTER,
           "num_hidden_layers": mtf.LAYERS, "num_attention_heads": mtf.HEADS, "num_key_value_heads": mtf.KV,
           "vocab_size": mtf.VOCAB, "rms_norm_eps": 1e-5, "bos_token_id": 1, "eos_token_id": 2,
           "torch_dtype": "float32", "head_dim": 64}
    cfg.update(extra)
    t = mtf.tensors_for("llama3", cfg, np.random.default_rng(200))
    json.dump(cfg, open(os.path.join(out, "config.json"), "w"), indent=1)
    kv, g = mtf.gguf_for("llama3", arch, cfg, t)
    for label, pick in (("q8_0", lambda n: (GGML_Q8_0, q8_0)),
                        ("q4_k", lambda n: (GGML_Q6_K, q6_k) if n == "token_embd.weight" else (GGML_Q4_K, q4_k))):
        gq = {}
        for n, a in g.items():
            if a.ndim == 2:
                typ, f = pick(n)
                gq[n] = (typ, a.shape, f(a))
            else:
                gq[n] = a
        kv["general.name"] = ("str", "tiny-llama3-wide-" + label)
        path = os.path.join(out, f"tiny-llama3-wide-{label}.gguf")
        mtf.write_gguf(path, kv, gq)
        print(path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
