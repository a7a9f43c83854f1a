#!/usr/bin/python3
"""Golden data for issue "Foundation": greedy 200 tokens of stories260K from BOS and the
truncate-protocol perplexity of stories260K on text/tinystories_valid_sample.txt at L=512.
Usage: tools/ref/make_golden_foundation.py ../shared > tests/golden/foundation.json
"""
import json
import math
import sys

import sentencepiece as spm
import torch

from llama_ref import Llama, nll_sum, plain_inv_freq

shared = sys.argv[1]
folder = shared + "/data/models/stories260K"
m = Llama(folder)
inv = plain_inv_freq(m.cfg.get("rope_theta", 10000.0), m.head_dim)

# Greedy decoding from BOS (full recompute each step: independent of any KV cache).
toks = [1]
for _ in range(200):
    logits = m.forward(toks, inv)
    toks.append(int(torch.argmax(logits[-1])))
sp = spm.SentencePieceProcessor(model_file=folder + "/tokenizer.model")

# Perplexity, protocol truncate: BOS + first L-1 tokens of the document, all L-1 scored.
L = 512
text = open(shared + "/data/text/tinystories_valid_sample.txt", encoding="utf-8").read()
ids = sp.encode(text)
window = [1] + ids[: L - 1]
s, n = nll_sum(m.forward(window, inv), window)
json.dump({
    "magic": "ropebench-golden", "version": 1,
    "generator": "tools/ref/make_golden_foundation.py (python3-torch float64, independent HF-layout forward)",
    "greedy_stories260K_bos_200": {"tokens": toks[1:], "text": sp.decode(toks[1:])},
    "ppl_stories260K_tinystories_512": {"protocol": "truncate", "ctx": L, "tokens_scored": n,
                                         "nll_sum": s, "ppl": math.exp(s / n)},
}, sys.stdout, indent=1)
