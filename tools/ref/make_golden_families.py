#!/usr/bin/python3
"""Golden logits for the tiny family checkpoints (tools/make_tiny_families.py): an
independent float64 PyTorch forward per family, written from the Hugging Face modeling code's
definitions (not from ropebench): Qwen2 q/k/v biases, Qwen3 per-head RMSNorm of q and k before
RoPE, Phi-3 fused qkv_proj / gate_up_proj and longrope switched on the sequence length,
Mistral/Phi-3 sliding windows (key j visible from query i when i - window < j <= i), Llama 3
`llama3` bands and tied embeddings. RoPE frequencies from tools/ref/rope_ref.py.

Qwen2/Qwen3 have no BOS (their tokenizer.json adds none): for them the JSON also holds an
ASCII text, its ids by an independent byte-level BPE written here from the tokenizer.json's
vocabulary and merges (Qwen's Split regex on ASCII text), and the perplexity sums of the
three protocols on those ids with no BOS anywhere (the first token of a window unscored).

Quantised GGUFs (tools/make_quantised_families.py, in tests/fixtures/families/llama3-wide):
the same forward on the weights dequantised from the file's own blocks by tools/ref/gguf_ref.py
(element by element from ggml's definitions, float64), GGUF names mapped back to Hugging
Face's and llama's q/k row permutation undone; goldens llama3-wide-<quant>.{f32,json}.

Usage: tools/ref/make_golden_families.py tests/fixtures/families tests/golden/families
Writes <family>.f32 (logits [len(positions), vocab] float32, rows = positions) and
<family>.json (magic, version, tokens, positions, argmax, for phi3 the perplexity sums, for
qwen2/qwen3 the no-BOS text, ids and perplexity sums).
"""
import json
import math
import os
import re
import sys

import numpy as np
import torch

from gguf_ref import read_gguf_tensors
from llama_ref import load_safetensors
from rope_ref import rope

N_TOKENS = 160  # past every family's trained length (64 or 128)


class Decoder:
    def __init__(self, folder, weights=None):
        self.cfg = c = json.load(open(os.path.join(folder, "config.json")))
        self.w = weights if weights is not None else load_safetensors(os.path.join(folder, "model.safetensors"))
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


QWEN_TEXT = (
    "Once upon a time, in 1987, there was a little robot named Pip. Pip didn't like the rain;\n"
    "it made his gears squeak. \"We'll fix that,\" said the old tinker, and she oiled them twice.\n\n"
    "The next morning the sky was clear and the town's 42 clocks all struck seven together. "
    "Pip walked to the market, bought three apples (red, green and yellow) for $2.50, and "
    "counted his change: 7 coins!   Then he sat by the river and watched the boats go by, "
    "thinking about the tinker, the rain, and the long road home. It's a good day, he thought.\n"
    "Children were playing near the water; one of them asked him what time it was. "
    "Pip looked at the tower and answered: it is a quarter past ten, and the bells will ring soon."
)


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def qwen_bpe_ids(folder, text):
    """Byte-level BPE of an ASCII text: Qwen's Split regex (\\p{L} = [A-Za-z], \\p{N} = [0-9]
    on ASCII), GPT-2 byte map, lowest-rank merge first, every occurrence left to right."""
    assert text.isascii()
    tj = json.load(open(os.path.join(folder, "tokenizer.json"), encoding="utf-8"))
    vocab = tj["model"]["vocab"]
    ranks = {tuple(m): r for r, m in enumerate(tj["model"]["merges"])}
    pat = re.compile(r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\nA-Za-z0-9]?[A-Za-z]+|[0-9]| ?[^\sA-Za-z0-9]+[\r\n]*"
                     r"|\s*[\r\n]+|\s+(?!\S)|\s+")
    b2u = bytes_to_unicode()
    ids = []
    for chunk in pat.findall(text):
        w = [b2u[b] for b in chunk.encode()]
        while len(w) > 1:
            pairs = [(ranks.get((w[i], w[i + 1]), math.inf), i) for i in range(len(w) - 1)]
            r = min(pairs)[0]
            if r == math.inf:
                break
            a, b = tj["model"]["merges"][r]
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and w[i] == a and w[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            w = out
        ids += [vocab[p] for p in w]
    return ids


def window_nll(m, ids, first):
    """Σ −log p(ids[i+1] | ids[..i]) for i in [first, len−1): one forward of the window."""
    lp = torch.log_softmax(m.forward(ids), -1)
    return -float(sum(lp[i, ids[i + 1]] for i in range(first, len(ids) - 1))), len(ids) - 1 - first


def no_bos_ppl(m, ids):
    """The three protocols with no BOS anywhere (src/eval/perplexity.h), written out here:
    truncate = ids[:L], all L−1 predictions; chunks = ⌊N/L⌋ plain L-windows, positions
    L/2 … L−2; sliding = the Hugging Face strided recipe over ids."""
    out = []
    for L in (16, 64, 100):
        nll, n = window_nll(m, ids[:L], 0)
        out.append({"protocol": "truncate", "ctx": L, "nll_sum": nll, "count": n})
    L = 40
    tot, cnt = 0.0, 0
    for c in range(len(ids) // L):
        nll, n = window_nll(m, ids[c * L:(c + 1) * L], L // 2)
        tot, cnt = tot + nll, cnt + n
    out.append({"protocol": "chunks", "ctx": L, "nll_sum": tot, "count": cnt})
    L, S = 64, 24
    tot, cnt, prev_end, begin = 0.0, 0, 0, 0
    while True:
        end = min(begin + L, len(ids))
        trg = end - prev_end  # the HF recipe: score the last trg tokens of the window
        nll, n = window_nll(m, ids[begin:end], end - begin - 1 - min(trg, end - begin - 1))
        tot, cnt = tot + nll, cnt + n
        prev_end = end
        if end == len(ids):
            break
        begin += S
    out.append({"protocol": "sliding", "ctx": L, "stride": S, "nll_sum": tot, "count": cnt})
    return out


GGUF_TO_HF = {"attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm", "attn_q": "self_attn.q_proj",
              "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj",
              "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj"}
GGML_NAMES = {0: "f32", 8: "q8_0", 12: "q4_k", 14: "q6_k"}


def hf_weights_from_gguf(path, cfg):
    """Dequantised GGUF tensors under Hugging Face names (llama arch: q/k rows unpermuted);
    also the set of quantised types in the file."""
    H, KV = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    w, types = {}, set()

    def unpermute(a, n):  # inverse of the converter's permute (reshape(n, 2, hd/2, ...).swapaxes(1, 2))
        return a.reshape(n, a.shape[0] // n // 2, 2, *a.shape[1:]).swapaxes(1, 2).reshape(a.shape)

    for name, (typ, a) in read_gguf_tensors(path).items():
        if typ:
            types.add(GGML_NAMES[typ])
        if name == "token_embd.weight":
            w["model.embed_tokens.weight"] = a
        elif name == "output_norm.weight":
            w["model.norm.weight"] = a
        elif name == "output.weight":
            w["lm_head.weight"] = a
        elif name.startswith("blk."):
            _, l, base, suffix = name.split(".")
            if base == "attn_q":
                a = unpermute(a, H)
            if base == "attn_k":
                a = unpermute(a, KV)
            w[f"model.layers.{l}.{GGUF_TO_HF[base]}.{suffix}"] = a
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in w.items()}, sorted(types)


def golden(m, name, tokens, positions, out, extra):
    logits = m.forward(tokens)
    sel = logits[positions]
    sel.float().numpy().astype("<f4").tofile(os.path.join(out, name + ".f32"))
    meta = {"magic": "ropebench-golden", "version": 1,
            "generator": "tools/ref/make_golden_families.py (python3-torch float64, independent forward)",
            "family": name, "tokens": tokens, "positions": positions, "shape": list(sel.shape),
            "argmax": [int(a) for a in sel.argmax(-1)]}
    meta.update(extra)
    json.dump(meta, open(os.path.join(out, name + ".json"), "w"))
    print(name, "logits", tuple(sel.shape), "max |logit|", float(sel.abs().max()))


def main():
    src, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(7)
    tokens = [1] + [int(t) for t in rng.integers(3, 512, N_TOKENS - 1)]
    positions = list(range(0, N_TOKENS, 5)) + [N_TOKENS - 1]
    wide = os.path.join(src, "llama3-wide")
    for f in sorted(os.listdir(wide)):
        if f.endswith(".gguf"):
            label = f[len("tiny-llama3-wide-"):-len(".gguf")]
            w, types = hf_weights_from_gguf(os.path.join(wide, f), json.load(open(os.path.join(wide, "config.json"))))
            golden(Decoder(wide, w), "llama3-wide-" + label, tokens, positions, out,
                   {"file": f, "quantisation": "+".join(types)})
    for fam in sorted(os.listdir(src)):
        if fam == "llama3-wide":
            continue
        m = Decoder(os.path.join(src, fam))
        meta = {}
        if fam == "phi3":
            # Perplexity windows on both sides of original_max_position_embeddings (32): BOS +
            # L-1 tokens, every next token scored; longrope switches to the long factors above 32.
            meta["nll"] = []
            for L in (24, 32, 33, 48):
                lp = torch.log_softmax(m.forward(tokens[:L]), -1)
                nll = -float(lp[torch.arange(L - 1), torch.tensor(tokens[1:L])].sum())
                meta["nll"].append({"ctx": L, "nll_sum": nll, "count": L - 1, "ppl": math.exp(nll / (L - 1))})
        if m.family.startswith("qwen"):
            ids = qwen_bpe_ids(os.path.join(src, fam), QWEN_TEXT)
            meta["text"], meta["text_ids"], meta["nll_no_bos"] = QWEN_TEXT, ids, no_bos_ppl(m, ids)
        golden(m, fam, tokens, positions, out, meta)

main()
