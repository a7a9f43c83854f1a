#!/usr/bin/python3
"""Writes a Llama checkpoint with random weights (config.json + model.safetensors) for
benchmarks. Default geometry = TinyLlama-1.1B (hidden 2048, 22 layers, 32/4 heads,
intermediate 5632, vocab 32000, trained context 2048). Not test data: never committed.

Usage: tools/make_random_model.py OUT_DIR [--dtype bf16|f32] [--layers N] [--seed S]
"""
import argparse
import json
import os
import struct

import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("--dtype", default="bf16", choices=["bf16", "f32"])
ap.add_argument("--hidden", type=int, default=2048)
ap.add_argument("--layers", type=int, default=22)
ap.add_argument("--heads", type=int, default=32)
ap.add_argument("--kv-heads", type=int, default=4)
ap.add_argument("--intermediate", type=int, default=5632)
ap.add_argument("--vocab", type=int, default=32000)
ap.add_argument("--ctx", type=int, default=2048)
ap.add_argument("--seed", type=int, default=0)
a = ap.parse_args()
os.makedirs(a.out, exist_ok=True)
hd = a.hidden // a.heads
shapes = [("model.embed_tokens.weight", [a.vocab, a.hidden])]
for l in range(a.layers):
    p = f"model.layers.{l}."
    shapes += [(p + "input_layernorm.weight", [a.hidden]),
               (p + "post_attention_layernorm.weight", [a.hidden]),
               (p + "self_attn.q_proj.weight", [a.heads * hd, a.hidden]),
               (p + "self_attn.k_proj.weight", [a.kv_heads * hd, a.hidden]),
               (p + "self_attn.v_proj.weight", [a.kv_heads * hd, a.hidden]),
               (p + "self_attn.o_proj.weight", [a.hidden, a.heads * hd]),
               (p + "mlp.gate_proj.weight", [a.intermediate, a.hidden]),
               (p + "mlp.up_proj.weight", [a.intermediate, a.hidden]),
               (p + "mlp.down_proj.weight", [a.hidden, a.intermediate])]
shapes += [("model.norm.weight", [a.hidden]), ("lm_head.weight", [a.vocab, a.hidden])]
esize = 2 if a.dtype == "bf16" else 4
header, off = {}, 0
for name, shp in shapes:
    n = int(np.prod(shp)) * esize
    header[name] = {"dtype": "BF16" if a.dtype == "bf16" else "F32", "shape": shp, "data_offsets": [off, off + n]}
    off += n
hb = json.dumps(header).encode()
hb += b" " * ((8 - len(hb) % 8) % 8)
rng = np.random.default_rng(a.seed)
with open(os.path.join(a.out, "model.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(hb)))
    f.write(hb)
    for name, shp in shapes:
        if len(shp) == 1:
            x = np.ones(shp, dtype=np.float32)
        else:
            x = (rng.standard_normal(shp, dtype=np.float32) * 0.02).astype(np.float32)
        if a.dtype == "bf16":
            u = x.view(np.uint32)
            u = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
            f.write(u.tobytes())
        else:
            f.write(x.tobytes())
cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": a.hidden,
       "intermediate_size": a.intermediate, "num_hidden_layers": a.layers, "num_attention_heads": a.heads,
       "num_key_value_heads": a.kv_heads, "vocab_size": a.vocab, "max_position_embeddings": a.ctx,
       "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "rope_scaling": None, "tie_word_embeddings": False,
       "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "bfloat16" if a.dtype == "bf16" else "float32"}
json.dump(cfg, open(os.path.join(a.out, "config.json"), "w"), indent=2)
print(a.out)
