#!/usr/bin/python3
"""Independent reference for ropebench: a plain PyTorch (float64) Llama forward in the
Hugging Face layout (rotate_half RoPE), reading config.json + model.safetensors directly,
plus an independent implementation of each RoPE method's inverse frequencies.

Used only to generate golden files under tests/golden; tests never run Python.
Needs Debian's python3-torch, python3-numpy, python3-sentencepiece.
"""
import json
import math
import struct

import numpy as np
import torch

DT = {"F32": np.float32, "F16": np.float16, "BF16": None}


def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (hlen,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + hlen])
    base = 8 + hlen
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        raw = data[base + b: base + e]
        if info["dtype"] == "BF16":
            u16 = np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16
            arr = u16.view(np.float32)
        else:
            arr = np.frombuffer(raw, dtype=DT[info["dtype"]]).astype(np.float32)
        out[name] = torch.from_numpy(arr.reshape(info["shape"]).copy()).double()
    return out


class Llama:
    def __init__(self, folder):
        self.cfg = json.load(open(folder + "/config.json"))
        self.w = load_safetensors(folder + "/model.safetensors")
        c = self.cfg
        self.hidden = c["hidden_size"]
        self.n_heads = c["num_attention_heads"]
        self.n_kv = c.get("num_key_value_heads", self.n_heads)
        self.head_dim = c.get("head_dim", self.hidden // self.n_heads)
        self.n_layers = c["num_hidden_layers"]
        self.eps = c["rms_norm_eps"]
        if "lm_head.weight" not in self.w:
            self.w["lm_head.weight"] = self.w["model.embed_tokens.weight"]

    def rms(self, x, g):
        return x / torch.sqrt((x * x).mean(-1, keepdim=True) + self.eps) * g

    def forward(self, tokens, inv_freq, attention_factor=1.0):
        """tokens: list[int] (one sequence at positions 0..n-1). inv_freq: float64 [rot/2].
        Returns float64 logits [n, vocab]."""
        w = self.w
        n = len(tokens)
        hd = self.head_dim
        inv = torch.tensor(inv_freq, dtype=torch.float64)
        rot = 2 * len(inv_freq)
        pos = torch.arange(n, dtype=torch.float64)
        ang = pos[:, None] * inv[None, :]
        cos = torch.cos(ang) * attention_factor
        sin = torch.sin(ang) * attention_factor
        cos = torch.cat([cos, cos], -1)  # [n, rot]
        sin = torch.cat([sin, sin], -1)

        def rope(x):  # x [heads, n, hd]
            xr, xp = x[..., :rot], x[..., rot:]
            half = rot // 2
            rh = torch.cat([-xr[..., half:], xr[..., :half]], -1)
            return torch.cat([xr * cos + rh * sin, xp], -1)

        x = w["model.embed_tokens.weight"][tokens]
        mask = torch.full((n, n), float("-inf"), dtype=torch.float64).triu(1)
        group = self.n_heads // self.n_kv
        for l in range(self.n_layers):
            p = f"model.layers.{l}."
            h = self.rms(x, w[p + "input_layernorm.weight"])
            q = (h @ w[p + "self_attn.q_proj.weight"].T).view(n, self.n_heads, hd).transpose(0, 1)
            k = (h @ w[p + "self_attn.k_proj.weight"].T).view(n, self.n_kv, hd).transpose(0, 1)
            v = (h @ w[p + "self_attn.v_proj.weight"].T).view(n, self.n_kv, hd).transpose(0, 1)
            q, k = rope(q), rope(k)
            k = k.repeat_interleave(group, 0)
            v = v.repeat_interleave(group, 0)
            s = q @ k.transpose(1, 2) / math.sqrt(hd) + mask
            a = torch.softmax(s, -1) @ v
            x = x + a.transpose(0, 1).reshape(n, -1) @ w[p + "self_attn.o_proj.weight"].T
            h = self.rms(x, w[p + "post_attention_layernorm.weight"])
            g = h @ w[p + "mlp.gate_proj.weight"].T
            u = h @ w[p + "mlp.up_proj.weight"].T
            x = x + (torch.nn.functional.silu(g) * u) @ w[p + "mlp.down_proj.weight"].T
        x = self.rms(x, w["model.norm.weight"])
        return x @ w["lm_head.weight"].T


def plain_inv_freq(base, dim):
    return [1.0 / (base ** (2 * i / dim)) for i in range(dim // 2)]


def nll_sum(logits, tokens):
    """Sum of -log p(tokens[i+1] | ..i) over i = 0..n-2, and the count."""
    lp = torch.log_softmax(logits, -1)
    t = torch.tensor(tokens[1:])
    return float(-lp[torch.arange(len(tokens) - 1), t].sum()), len(tokens) - 1
