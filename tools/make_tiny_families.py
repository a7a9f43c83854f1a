#!/usr/bin/python3
"""Tiny random-weight checkpoints, one per supported family (Llama 3.x, Qwen2, Qwen3, Phi-3,
Mistral), each as a Hugging Face folder (config.json + model.safetensors + tokenizer) and as
a GGUF file written the way llama.cpp's converter lays it out (arch name, tensor names,
llama's q/k row permutation, Phi-3's fused ffn_up and rope_factors tensors, Llama 3's
rope_freqs tensor). Deterministic (fixed seeds). The tokenizer of Llama 3 / Phi-3 / Mistral
is the shared stories260K SentencePiece model (vocab 512, adds BOS). Qwen2 and Qwen3 get
Qwen's own kind, with no BOS: the real Qwen3 tokenizer.json (tests/data/tokenizers/qwen3)
cut to its 256 byte tokens and first 253 merges (ids 0..508, the ids the full file gives
them) plus <|endoftext|>, <|im_start|>, <|im_end|> at 509..511, with Qwen's
tokenizer_config.json (add_bos_token false, bos_token null); their GGUF carries the same
vocabulary as llama.cpp's converter writes it (tokenizer.ggml.model gpt2, pre qwen2,
bos = eos = <|endoftext|>, add_bos_token false).

Usage: tools/make_tiny_families.py SHARED_DIR OUT_DIR      (OUT_DIR = tests/fixtures/families)
"""
import json
import math
import os
import shutil
import struct
import sys

import numpy as np

VOCAB, HIDDEN, INTER, LAYERS, HEADS, KV = 512, 64, 128, 2, 4, 2
QWEN_MERGES = 253
QWEN_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

FAMILIES = {
    # name: (HF class, model_type, GGUF arch, config extras)
    "llama3": ("LlamaForCausalLM", "llama", "llama", {
        "max_position_embeddings": 128, "rope_theta": 500000.0, "tie_word_embeddings": True,
        "rope_scaling": {"rope_type": "llama3", "factor": 4.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                         "original_max_position_embeddings": 32}}),
    "qwen2": ("Qwen2ForCausalLM", "qwen2", "qwen2", {
        "max_position_embeddings": 64, "rope_theta": 1000000.0, "tie_word_embeddings": True,
        "use_sliding_window": False, "sliding_window": 64, "max_window_layers": 2}),
    "qwen3": ("Qwen3ForCausalLM", "qwen3", "qwen3", {
        "max_position_embeddings": 64, "rope_theta": 1000000.0, "tie_word_embeddings": False, "head_dim": 32,
        "attention_bias": False, "use_sliding_window": False, "sliding_window": None}),
    "phi3": ("Phi3ForCausalLM", "phi3", "phi3", {
        "max_position_embeddings": 128, "original_max_position_embeddings": 32, "rope_theta": 10000.0,
        "tie_word_embeddings": False, "sliding_window": 48,
        "rope_scaling": {"type": "longrope",
                         "short_factor": [1.0 + 0.05 * i for i in range(8)],
                         "long_factor": [1.0 + 0.5 * i for i in range(8)]}}),
    "mistral": ("MistralForCausalLM", "mistral", "llama", {
        "max_position_embeddings": 64, "rope_theta": 10000.0, "tie_word_embeddings": False, "sliding_window": 24}),
}


def head_dim(cfg):
    return cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]


def tensors_for(name, cfg, rng):
    """HF-named float32 tensors."""
    hd = head_dim(cfg)
    t = {}

    def w(*shape, s=0.08):
        return (rng.standard_normal(shape) * s).astype(np.float32)

    def norm(n):
        return (1.0 + rng.standard_normal(n) * 0.1).astype(np.float32)

    t["model.embed_tokens.weight"] = w(VOCAB, HIDDEN, s=0.5)
    for l in range(LAYERS):
        p = f"model.layers.{l}."
        t[p + "input_layernorm.weight"] = norm(HIDDEN)
        t[p + "post_attention_layernorm.weight"] = norm(HIDDEN)
        q, k, v = w(HEADS * hd, HIDDEN), w(KV * hd, HIDDEN), w(KV * hd, HIDDEN)
        if name == "phi3":
            t[p + "self_attn.qkv_proj.weight"] = np.concatenate([q, k, v])
        else:
            t[p + "self_attn.q_proj.weight"], t[p + "self_attn.k_proj.weight"], t[p + "self_attn.v_proj.weight"] = q, k, v
        if name == "qwen2":
            for x, n in (("q", HEADS), ("k", KV), ("v", KV)):
                t[p + f"self_attn.{x}_proj.bias"] = w(n * hd, s=0.3)
        if name == "qwen3":
            t[p + "self_attn.q_norm.weight"] = norm(hd)
            t[p + "self_attn.k_norm.weight"] = norm(hd)
        t[p + "self_attn.o_proj.weight"] = w(HIDDEN, HEADS * hd)
        g, u = w(INTER, HIDDEN), w(INTER, HIDDEN)
        if name == "phi3":
            t[p + "mlp.gate_up_proj.weight"] = np.concatenate([g, u])
        else:
            t[p + "mlp.gate_proj.weight"], t[p + "mlp.up_proj.weight"] = g, u
        t[p + "mlp.down_proj.weight"] = w(HIDDEN, INTER)
    t["model.norm.weight"] = norm(HIDDEN)
    if not cfg["tie_word_embeddings"]:
        t["lm_head.weight"] = w(VOCAB, HIDDEN, s=0.5)
    return t


def write_safetensors(path, tensors):
    header, off = {}, 0
    for n, a in tensors.items():
        header[n] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        off += a.nbytes
    hb = json.dumps(header).encode()
    hb += b" " * ((8 - len(hb) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)) + hb)
        for a in tensors.values():
            f.write(a.tobytes())


# ---- GGUF v3 (F32 tensors) ----
def _s(x):
    b = x.encode()
    return struct.pack("<Q", len(b)) + b


def write_gguf(path, kv, tensors):
    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kv))
    for k, (typ, v) in kv.items():
        out += _s(k)
        if typ == "str":
            out += struct.pack("<I", 8) + _s(v)
        elif typ == "u32":
            out += struct.pack("<II", 4, v)
        elif typ == "f32":
            out += struct.pack("<If", 6, v)
        elif typ == "bool":
            out += struct.pack("<IB", 7, int(v))
        elif typ == "str[]":
            out += struct.pack("<IIQ", 9, 8, len(v)) + b"".join(_s(x) for x in v)
        elif typ == "i32[]":
            out += struct.pack("<IIQ", 9, 5, len(v)) + b"".join(struct.pack("<i", x) for x in v)
    data, infos = b"", b""
    for n, a in tensors.items():
        while len(data) % 32:
            data += b"\0"
        # An array is written as F32; (ggml type, shape, bytes) as given (quantised blocks).
        typ, shape, raw = (0, a.shape, a.astype(np.float32).tobytes()) if isinstance(a, np.ndarray) else a
        infos += _s(n) + struct.pack("<I", len(shape)) + b"".join(struct.pack("<Q", d) for d in reversed(shape))
        infos += struct.pack("<IQ", typ, len(data))
        data += raw
    out += infos
    while len(out) % 32:
        out += b"\0"
    with open(path, "wb") as f:
        f.write(out + data)


def llama_permute(w, n_head):
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def llama3_rope_freqs(cfg):
    """llama.cpp's converter: per-frequency divisors of the llama3 bands (float32 tensor)."""
    sc, hd, base = cfg["rope_scaling"], head_dim(cfg), cfg["rope_theta"]
    f, lo, hi, orig = sc["factor"], sc["low_freq_factor"], sc["high_freq_factor"], sc["original_max_position_embeddings"]
    out = []
    for i in range(0, hd, 2):
        wl = 2 * math.pi * base ** (i / hd)
        if wl < orig / hi:
            out.append(1.0)
        elif wl > orig / lo:
            out.append(f)
        else:
            sm = (orig / wl - lo) / (hi - lo)
            out.append(1.0 / ((1 - sm) / f + sm))
    return np.array(out, dtype=np.float32)


def qwen_tokenizer(d):
    """Writes the cut Qwen3 tokenizer.json + tokenizer_config.json into d; returns the GGUF
    tokenizer.ggml.* keys for the same vocabulary."""
    full = json.load(open(os.path.join(REPO, "tests/data/tokenizers/qwen3/tokenizer.json"), encoding="utf-8"))
    n = 256 + QWEN_MERGES
    vocab = {p: i for p, i in full["model"]["vocab"].items() if i < n}
    merges = full["model"]["merges"][:QWEN_MERGES]
    assert len(vocab) == n and all(vocab["".join(m)] == 256 + k for k, m in enumerate(merges))
    added = [{"id": n + k, "content": c, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False,
              "special": True} for k, c in enumerate(QWEN_SPECIALS)]
    tj = dict(full)
    tj["added_tokens"] = added
    tj["model"] = dict(full["model"], vocab=vocab, merges=merges)
    json.dump(tj, open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8"), ensure_ascii=False, indent=1)
    tc = {"add_bos_token": False, "add_prefix_space": False, "bos_token": None, "eos_token": "<|endoftext|>",
          "pad_token": "<|endoftext|>", "unk_token": None, "errors": "replace", "model_max_length": 131072,
          "split_special_tokens": False, "tokenizer_class": "Qwen2Tokenizer", "clean_up_tokenization_spaces": False}
    json.dump(tc, open(os.path.join(d, "tokenizer_config.json"), "w"), indent=1)
    tokens = sorted(vocab, key=vocab.get) + QWEN_SPECIALS
    return {"tokenizer.ggml.model": ("str", "gpt2"), "tokenizer.ggml.pre": ("str", "qwen2"),
            "tokenizer.ggml.tokens": ("str[]", tokens),
            "tokenizer.ggml.token_type": ("i32[]", [1] * n + [3] * len(QWEN_SPECIALS)),
            "tokenizer.ggml.merges": ("str[]", [" ".join(m) for m in merges]),
            "tokenizer.ggml.bos_token_id": ("u32", n), "tokenizer.ggml.eos_token_id": ("u32", n),
            "tokenizer.ggml.add_bos_token": ("bool", False)}


def gguf_for(name, arch, cfg, t):
    hd = head_dim(cfg)
    kv = {"general.architecture": ("str", arch), "general.name": ("str", "tiny-" + name),
          f"{arch}.context_length": ("u32", cfg["max_position_embeddings"]),
          f"{arch}.embedding_length": ("u32", HIDDEN), f"{arch}.block_count": ("u32", LAYERS),
          f"{arch}.feed_forward_length": ("u32", INTER), f"{arch}.attention.head_count": ("u32", HEADS),
          f"{arch}.attention.head_count_kv": ("u32", KV), f"{arch}.attention.key_length": ("u32", hd),
          f"{arch}.attention.value_length": ("u32", hd), f"{arch}.rope.dimension_count": ("u32", hd),
          f"{arch}.rope.freq_base": ("f32", cfg["rope_theta"]),
          f"{arch}.attention.layer_norm_rms_epsilon": ("f32", cfg["rms_norm_eps"]),
          f"{arch}.vocab_size": ("u32", VOCAB)}
    if cfg.get("sliding_window") and name in ("phi3", "mistral"):
        kv[f"{arch}.attention.sliding_window"] = ("u32", cfg["sliding_window"])
    g = {"token_embd.weight": t["model.embed_tokens.weight"]}
    if name == "phi3":
        kv["phi3.rope.scaling.original_context_length"] = ("u32", cfg["original_max_position_embeddings"])
        g["rope_factors_long.weight"] = np.array(cfg["rope_scaling"]["long_factor"], dtype=np.float32)
        g["rope_factors_short.weight"] = np.array(cfg["rope_scaling"]["short_factor"], dtype=np.float32)
    if name == "llama3":
        g["rope_freqs.weight"] = llama3_rope_freqs(cfg)
    names = {"input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm", "self_attn.q_proj": "attn_q",
             "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
             "self_attn.qkv_proj": "attn_qkv", "self_attn.q_norm": "attn_q_norm", "self_attn.k_norm": "attn_k_norm",
             "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.gate_up_proj": "ffn_up",
             "mlp.down_proj": "ffn_down"}
    for n, a in t.items():
        if not n.startswith("model.layers."):
            continue
        parts = n.split(".")
        l, rest = parts[2], ".".join(parts[3:])
        base, suffix = rest.rsplit(".", 1)
        if arch == "llama" and base == "self_attn.q_proj":
            a = llama_permute(a, HEADS)
        if arch == "llama" and base == "self_attn.k_proj":
            a = llama_permute(a, KV)
        g[f"blk.{l}.{names[base]}.{suffix}"] = a
    g["output_norm.weight"] = t["model.norm.weight"]
    if "lm_head.weight" in t:
        g["output.weight"] = t["lm_head.weight"]
    return kv, g


def main():
    shared, out = sys.argv[1], sys.argv[2]
    for i, (name, (cls, mt, arch, extra)) in enumerate(FAMILIES.items()):
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        cfg = {"architectures": [cls], "model_type": mt, "hidden_size": HIDDEN, "intermediate_size": INTER,
               "num_hidden_layers": LAYERS, "num_attention_heads": HEADS, "num_key_value_heads": KV,
               "vocab_size": VOCAB, "rms_norm_eps": 1e-5, "bos_token_id": 1, "eos_token_id": 2,
               "torch_dtype": "float32"}
        cfg.update(extra)
        if mt.startswith("qwen"):  # Qwen's configs name <|endoftext|> for both
            cfg["bos_token_id"] = cfg["eos_token_id"] = 256 + QWEN_MERGES
        t = tensors_for(name, cfg, np.random.default_rng(100 + i))
        json.dump(cfg, open(os.path.join(d, "config.json"), "w"), indent=1)
        write_safetensors(os.path.join(d, "model.safetensors"), t)
        kv, g = gguf_for(name, arch, cfg, t)
        if mt.startswith("qwen"):
            kv.update(qwen_tokenizer(d))
        else:
            shutil.copy(os.path.join(shared, "data/models/stories260K/tokenizer.model"), d)
        write_gguf(os.path.join(d, f"tiny-{name}-f32.gguf"), kv, g)
        print(d)


if __name__ == "__main__":
    main()
