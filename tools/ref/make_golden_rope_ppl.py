#!/usr/bin/python3
"""Golden perplexities for issue "RoPE scaling": the two checkpoints trained at 256 tokens,
at L = 1024 (protocol truncate: BOS + first 1023 tokens, all scored), on Frankenstein and
the TinyStories sample, for every method, with an independent float64 forward and an
independent implementation of each method (rope_ref.py).
Usage: tools/ref/make_golden_rope_ppl.py ../shared > tests/golden/rope_ppl.json
"""
import json
import math
import sys

import sentencepiece as spm

from llama_ref import Llama, nll_sum
from rope_ref import rope


def longrope_lists(half, factor):
    # Documented rule (docs/rope.md): short = 1.0 everywhere; long grows geometrically from
    # 1 (highest frequency) to `factor` (lowest frequency).
    return [1.0] * half, [factor ** (i / (half - 1)) for i in range(half)]


shared = sys.argv[1]
L = 1024
out = {"magic": "ropebench-golden", "version": 1,
       "generator": "tools/ref/make_golden_rope_ppl.py (python3-torch float64; tools/ref/rope_ref.py)",
       "protocol": "truncate", "ctx": L, "cases": []}
for model in ["llama2xs-tok512-ctx256", "babyllama-tok105-ctx256"]:
    folder = f"{shared}/data/models/{model}"
    m = Llama(folder)
    sp = spm.SentencePieceProcessor(model_file=folder + "/tokenizer.model")
    d, theta, mpe = m.head_dim, m.cfg.get("rope_theta", 10000.0), m.cfg["max_position_embeddings"]
    short, long_ = longrope_lists(d // 2, 4.0)
    methods = [
        None,
        {"rope_type": "linear", "factor": 4.0},
        {"rope_type": "dynamic", "factor": 4.0},
        {"rope_type": "yarn", "factor": 4.0},
        {"rope_type": "ntk", "factor": 4.0},
        {"rope_type": "ntk_by_parts", "factor": 4.0, "beta_fast": 32, "beta_slow": 1},
        {"rope_type": "llama3", "factor": 4.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0},
        {"rope_type": "longrope", "factor": 4.0, "short_factor": short, "long_factor": long_},
    ]
    for text in ["pg84_frankenstein.txt", "tinystories_valid_sample.txt"]:
        ids = sp.encode(open(f"{shared}/data/text/{text}", encoding="utf-8").read())
        window = [1] + ids[: L - 1]
        for sc in methods:
            inv, af = rope(d, theta, mpe, sc, L)
            s, n = nll_sum(m.forward(window, inv, af), window)
            out["cases"].append({"model": model, "text": text, "rope_scaling": sc, "tokens_scored": n,
                                 "ppl": math.exp(s / n), "attention_factor": af})
            print(model, text, (sc or {}).get("rope_type", "none"), round(math.exp(s / n), 4), file=sys.stderr)
json.dump(out, sys.stdout, indent=1)
