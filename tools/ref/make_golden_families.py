#!/usr/bin/python3
"""Golden logits for the tiny family checkpoints (tools/make_tiny_families.py): an
independent float64 PyTorch forward per family, written from the Hugging Face modeling code's
definitions (not from ropebench): Qwen2 q/k/v biases, Qwen3 per-head RMSNorm of q and k before
RoPE, Phi-3 fused qkv_proj / gate_up_proj and longrope switched on the sequence length,
Mistral/Phi-3 sliding windows (key j visible from query i when i - window < j <= i), Llama 3
`llama3` bands and tied embeddings. RoPE frequencies from tools/ref/rope_ref.py.

Usage: tools/ref/make_golden_families.py tests/fixtures/families tests/golden/families
Writes <family>.f32 (logits [len(positions), vocab] float32, rows = positions) and
<family>.json (magic, version, tokens, positions, argmax, and for phi3 the perplexity sums).
"""
import json
import math
import os
import sys

import numpy as np
import torch

from llama_ref import load_safetensors
from rope_ref import rope

N_TOKENS = 160  # past every family's trained length (64 or 128)


class Decoder:
    def __init__(self, folder):
        self.cfg = c = json.load(open(os.path.join(folder, "config.json")))
        self.w = load_safetensors(os.path.join(folder, "model.safetensors"))
        self.family = c["model_type"]
        self.H, self.KV = c["num_attention_heads"], c["num_key_value_heads"]
        self.hd = c.get("head_dim") or c["hidden_size"] // self.H
        self.eps = c["rms_norm_eps"]
        self.window = c.get("sliding_window") if self.family in ("mistral", "phi3") else None
        if "lm_head.weight" not in self.w:
            self.w["lm_head.weight"] = self.w["model.embed_tokens.weight"]

    def rms(self, x, g):
        return x / torch.sqrt((x * x).mean(-1, keepdim=True) + self.eps) * g

    def inv_freq(self, n):
        c = self.cfg
        sc = c.get("rope_scaling")
        if sc is not None:
            sc = dict(sc)
            if "type" in sc and "rope_type" not in sc:
                sc["rope_type"] = sc["type"]
            if "original_max_position_embeddings" in c:  # Phi-3: top-level
                sc["original_max_position_embeddings"] = c["original_max_position_embeddings"]
        return rope(self.hd, c.get("rope_theta", 10000.0), c["max_position_embeddings"], sc, n)

    def forward(self, tokens):
        w, n, hd, H, KV = self.w, len(tokens), self.hd, self.H, self.KV
        inv, af = self.inv_freq(n)
        ang = torch.arange(n, dtype=torch.float64)[:, None] * torch.tensor(inv, dtype=torch.float64)[None, :]
        cos = torch.cat([torch.cos(ang), torch.cos(ang)], -1) * af
        sin = torch.cat([torch.sin(ang), torch.sin(ang)], -1) * af

        def rot(x):
            h = x.shape[-1] // 2
            return x * cos + torch.cat([-x[..., h:], x[..., :h]], -1) * sin

        i = torch.arange(n)[:, None]
        j = torch.arange(n)[None, :]
        visible = j <= i
        if self.window:
            visible &= j > i - self.window
        mask = torch.where(visible, 0.0, float("-inf")).double()
        x = w["model.embed_tokens.weight"][tokens]
        for l in range(self.cfg["num_hidden_layers"]):
            p = f"model.layers.{l}."
            h = self.rms(x, w[p + "input_layernorm.weight"])
            if self.family == "phi3":
                qkv = h @ w[p + "self_attn.qkv_proj.weight"].T
                q, k, v = qkv.split([H * hd, KV * hd, KV * hd], -1)
            else:
                q = h @ w[p + "self_attn.q_proj.weight"].T
                k = h @ w[p + "self_attn.k_proj.weight"].T
                v = h @ w[p + "self_attn.v_proj.weight"].T
                if self.family == "qwen2":
                    q = q + w[p + "self_attn.q_proj.bias"]
                    k = k + w[p + "self_attn.k_proj.bias"]
                    v = v + w[p + "self_attn.v_proj.bias"]
            q = q.view(n, H, hd).transpose(0, 1)
            k = k.view(n, KV, hd).transpose(0, 1)
            v = v.view(n, KV, hd).transpose(0, 1)
            if self.family == "qwen3":
                q = self.rms(q, w[p + "self_attn.q_norm.weight"])
                k = self.rms(k, w[p + "self_attn.k_norm.weight"])
            q, k = rot(q), rot(k)
            k = k.repeat_interleave(H // KV, 0)
            v = v.repeat_interleave(H // KV, 0)
            a = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(hd) + mask, -1) @ v
            x = x + a.transpose(0, 1).reshape(n, -1) @ w[p + "self_attn.o_proj.weight"].T
            h = self.rms(x, w[p + "post_attention_layernorm.weight"])
            if self.family == "phi3":
                g, u = (h @ w[p + "mlp.gate_up_proj.weight"].T).chunk(2, -1)
            else:
                g = h @ w[p + "mlp.gate_proj.weight"].T
                u = h @ w[p + "mlp.up_proj.weight"].T
            x = x + (torch.nn.functional.silu(g) * u) @ w[p + "mlp.down_proj.weight"].T
        return self.rms(x, w["model.norm.weight"]) @ w["lm_head.weight"].T


def main():
    src, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(7)
    tokens = [1] + [int(t) for t in rng.integers(3, 512, N_TOKENS - 1)]
    positions = list(range(0, N_TOKENS, 5)) + [N_TOKENS - 1]
    for fam in sorted(os.listdir(src)):
        m = Decoder(os.path.join(src, fam))
        logits = m.forward(tokens)
        sel = logits[positions]
        sel.float().numpy().astype("<f4").tofile(os.path.join(out, fam + ".f32"))
        meta = {"magic": "ropebench-golden", "version": 1,
                "generator": "tools/ref/make_golden_families.py (python3-torch float64, independent forward)",
                "family": fam, "tokens": tokens, "positions": positions, "shape": list(sel.shape),
                "argmax": [int(a) for a in sel.argmax(-1)]}
        if fam == "phi3":
            # Perplexity windows on both sides of original_max_position_embeddings (32): BOS +
            # L-1 tokens, every next token scored; longrope switches to the long factors above 32.
            meta["nll"] = []
            for L in (24, 32, 33, 48):
                lp = torch.log_softmax(m.forward(tokens[:L]), -1)
                nll = -float(lp[torch.arange(L - 1), torch.tensor(tokens[1:L])].sum())
                meta["nll"].append({"ctx": L, "nll_sum": nll, "count": L - 1, "ppl": math.exp(nll / (L - 1))})
        json.dump(meta, open(os.path.join(out, fam + ".json"), "w"))
        print(fam, "logits", tuple(sel.shape), "max |logit|", float(sel.abs().max()))


main()
