#!/usr/bin/python3
"""Golden numbers for the compatibility protocols (issue 17, "Protocols that reproduce the
published tools"): tests/golden/protocols.json, read by tests/unit/eval/protocols_test.cpp.

Three parts, each an independent reimplementation of the published Python code (float64
torch forward of tools/ref/llama_ref.py; tokenization by the sentencepiece Python module):

1. python_random: CPython's own `random` (this interpreter) after random.seed(s):
   getrandbits(32) words and randint draws, for several seeds (0, small, > 2^32, 2^64 - 1).

2. passkey_yarn: jquesnelle/yarn eval/passkey.py (generate_prompt, lines 15-36; the length
   search in main(), lines 60-73; from epfml/landmark-attention llama/run_test.py,
   generate_prompt) with random.seed(seed) first, --min-tokens L --max-tokens L,
   --length-step 25, then `trials` prompts generate_prompt(n_garbage). tokenizer.encode
   counts BOS (HF Llama tokenizer = BOS + SentencePiece ids).

3. longppl_reference: PKU-ML/LongPPL compute_longppl (the `longppl` 0.3.0 package,
   longppl/longppl.py: merge_intervals lines 5-20, find_key_token 22-57, cal_overlap
   68-87, compute_longppl 104 to the end) and the aggregation of perplexity/perplexity.py
   (compute_perplexity: LongPPL = sum(longppl_i * n_key_i) / sum(n_key_i), PPL =
   sum(ppl_i * n_token_i) / sum(n_token_i)). The evaluated text of a document is the
   characters of its first L tokens (ropebench's `reference` convention, src/eval/longppl.h).
   HF offset mappings are rebuilt from SentencePiece's own alignment: character offsets,
   and each <0xXX> byte piece of a split character gets that character's span (as the
   `tokenizers` BPE model with byte_fallback gives every byte token the span of its
   character); the dummy-prefix "▁" keeps its (empty) span.

Usage: /usr/bin/python3 tools/ref/make_golden_protocols.py ../shared > tests/golden/protocols.json
(needs python3-torch, python3-numpy, python3-sentencepiece; about a minute).
"""
import hashlib
import json
import math
import random
import re
import sys

import numpy as np
import sentencepiece as spm
import torch

from llama_ref import Llama, plain_inv_freq

shared = sys.argv[1]
out = {"magic": "ropebench-golden", "version": 1,
       "generator": "tools/ref/make_golden_protocols.py (CPython random, python3-torch float64, sentencepiece)",
       "python": sys.version.split()[0]}

# 1. Python random -------------------------------------------------------------------
cases = []
for seed in [0, 1, 7, 1234, 2**32 + 5, 2**64 - 1]:
    random.seed(seed)
    words = [random.getrandbits(32) for _ in range(8)]
    random.seed(seed)
    draws = []
    for n in [0, 1, 25, 1000, 50000 - 1, 2**31]:
        draws.append([n, [random.randint(0, n) for _ in range(5)]])
    random.seed(seed)
    keys = [random.randint(1, 50000) for _ in range(700)]  # past one 624-word refill
    cases.append({"seed": seed, "getrandbits32": words, "randint0": draws, "randint_1_50000": keys})
out["python_random"] = cases

# 2. Passkey, yarn ---------------------------------------------------------------------
TASK = ("There is an important info hidden inside a lot of irrelevant text. Find it and memorize them. "
        "I will quiz you about the important information there.")
GARBAGE = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again."
QUESTION = "What is the pass key? The pass key is"


def generate_prompt(n_garbage):
    n_garbage_prefix = random.randint(0, n_garbage)
    n_garbage_suffix = n_garbage - n_garbage_prefix
    garbage_inf = " ".join([GARBAGE] * 2000)
    assert len(garbage_inf) >= n_garbage
    pass_key = random.randint(1, 50000)
    information_line = f"The pass key is {pass_key}. Remember it. {pass_key} is the pass key."
    lines = [TASK, garbage_inf[:n_garbage_prefix], information_line, garbage_inf[:n_garbage_suffix], QUESTION]
    return "\n".join(lines), pass_key, n_garbage_prefix


passkey = []
for tname, tpath in [("tok512", "data/models/stories260K/tokenizer.model"),
                     ("llama2", "data/tokenizers/llama2/tokenizer.model")]:
    sp = spm.SentencePieceProcessor(model_file=f"{shared}/{tpath}")
    encode_len = lambda t: 1 + len(sp.encode(t))  # tokenizer.encode: BOS + pieces
    for seed in [1234, 7, 42]:
        for L in [256, 1024]:
            random.seed(seed)
            num_tokens, n, last_n = 0, 0, 0
            while num_tokens < L:
                last_n = n
                n += 25
                num_tokens = encode_len(generate_prompt(n)[0])
            trials = []
            for _ in range(4):
                text, key, pre = generate_prompt(last_n)
                ids = [sp.bos_id()] + sp.encode(text)
                trials.append({"key": str(key), "n_prefix": pre, "prompt_tokens": len(ids),
                               "text_sha256": hashlib.sha256(text.encode()).hexdigest(),
                               "tokens_sha256": hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()})
            passkey.append({"tokenizer": tname, "seed": seed, "ctx": L, "n_garbage": last_n, "trials": trials})
            print("passkey", tname, seed, L, last_n, [t["key"] for t in trials], file=sys.stderr)
out["passkey_yarn"] = {"tokens_sha256": "sha256 of the prompt's token ids (BOS first) joined by ','",
                       "cases": passkey}

# 3. LongPPL, reference ----------------------------------------------------------------
BYTE_PIECE = re.compile(r"^<0x[0-9A-F]{2}>$")


def encode_hf(sp, text, add_bos):
    """input_ids and offset_mapping as a HF Llama tokenizer gives them (see the top)."""
    p = sp.encode(text, out_type="immutable_proto")
    ids, offs = [], []
    if add_bos:
        ids.append(sp.bos_id())
        offs.append((0, 0))
    for x in p.pieces:
        b, e = x.begin, x.end
        if b == e and BYTE_PIECE.match(x.piece) and b < len(text):
            e = b + 1
        ids.append(x.id)
        offs.append((b, e))
    return ids, torch.tensor(offs, dtype=torch.long)


class Hf:
    """The parts of a transformers causal LM the reference code uses: model(ids).logits."""

    def __init__(self, folder):
        self.m = Llama(folder)
        self.inv = plain_inv_freq(self.m.cfg.get("rope_theta", 10000.0), self.m.head_dim)

    def __call__(self, input_ids):
        class O:
            pass
        o = O()
        o.logits = self.m.forward(input_ids[0].tolist(), self.inv)[None]
        return o


def merge_intervals(intervals):  # longppl.py lines 5-20
    if intervals.size(0) == 0:
        return intervals
    start = intervals[:, 0]
    end = intervals[:, 1]
    adjacent = (start[1:] - end[:-1]) == 0
    keep_start_mask = torch.cat([torch.tensor([True]), ~adjacent])
    merged_start = start[keep_start_mask]
    keep_end_mask = torch.cat([~adjacent, torch.tensor([True])])
    merged_end = end[keep_end_mask]
    return torch.stack([merged_start, merged_end], dim=1)


def find_key_token(text, evaluator_model, ev_sp, trunc_len, sliding_window, alpha=2, beta=-2):  # lines 22-57
    input_ids, offset_mapping = encode_hf(ev_sp, text, add_bos=True)
    input_ids = torch.tensor([input_ids])
    output_full = evaluator_model(input_ids)
    loss_f = torch.nn.CrossEntropyLoss(reduction="none")
    _, max_len = input_ids.shape
    key_tokens, margins = [], []
    for start_token in range(0, max_len - trunc_len, sliding_window):
        if start_token + trunc_len + sliding_window > max_len:
            sliding_window = max_len - start_token - trunc_len
        input_ids_short = input_ids[:, start_token: start_token + trunc_len + sliding_window]
        output_short = evaluator_model(input_ids_short)
        loss_full = loss_f(output_full.logits[0, start_token + trunc_len - 1: start_token + trunc_len + sliding_window - 1, :],
                           input_ids[0, start_token + trunc_len: start_token + trunc_len + sliding_window])
        loss_short = loss_f(output_short.logits[0, trunc_len - 1: trunc_len + sliding_window - 1, :],
                            input_ids_short[0, trunc_len: trunc_len + sliding_window])
        loss_discrepancy = (torch.logical_and((loss_short - loss_full) > alpha, loss_full < (beta * -1))).squeeze()
        # Upstream: a last window of exactly one token squeezes to a 0-d tensor and the loop
        # below raises TypeError; the golden cases avoid it (ropebench scores that token).
        assert loss_discrepancy.dim() == 1, "upstream raises TypeError on a one-token last window"
        # distance of each decision from its threshold (how far float32 may move before it flips)
        margins.append(float(torch.minimum((loss_short - loss_full - alpha).abs(), (loss_full + beta).abs()).min()))
        for i, is_key in enumerate(loss_discrepancy):
            if is_key:
                key_tokens.append(start_token + trunc_len + i)
    key_text_intervals = merge_intervals(offset_mapping[key_tokens])
    return key_text_intervals, key_tokens, len(input_ids[0]), min(margins) if margins else None


def cal_overlap(offset_mapping, key_text_slices):  # lines 68-87
    key_tokens = []
    i, j = 0, 0
    while i < len(offset_mapping) and j < len(key_text_slices):
        a_start, a_end = offset_mapping[i]
        b_start, b_end = key_text_slices[j]
        if a_start >= b_start and a_end <= b_end:
            key_tokens.append(i - 1)
            i += 1
        elif a_start < b_start:
            i += 1
        else:
            j += 1
    return key_tokens


def compute_longppl(text, model, sp, evaluator_model, ev_sp, trunc_len, sliding_window):  # lines 104 to the end
    input_ids, offset_mapping = encode_hf(sp, text, add_bos=False)
    input_ids = torch.tensor([input_ids])
    key_text_slices, ev_keys, ev_n, margin = find_key_token(text, evaluator_model, ev_sp, trunc_len, sliding_window)
    key_tokens = cal_overlap(offset_mapping.tolist(), key_text_slices.tolist())
    output_full = model(input_ids)
    loss_f = torch.nn.CrossEntropyLoss(reduction="none")
    loss_overall = loss_f(output_full.logits[0, :-1, :], input_ids[0, 1:]).to(torch.float64).cpu().numpy()
    r = {"evaluator_tokens": ev_n, "evaluator_keys": ev_keys, "key_spans_chars": key_text_slices.tolist(),
         "key_tokens": [k + 1 for k in key_tokens], "n_token": input_ids.shape[-1],
         "ppl": float(np.exp(loss_overall.mean())), "decision_margin": margin}
    if len(key_tokens) == 0:
        r.update({"longppl": None, "n_key_token": None})
    else:
        r.update({"longppl": float(np.exp(loss_overall[key_tokens].mean())), "n_key_token": len(key_tokens)})
    return r


sp512 = spm.SentencePieceProcessor(model_file=f"{shared}/data/models/stories260K/tokenizer.model")
model = Hf(f"{shared}/data/models/stories260K")
longppl = []
L = 512
for ev_name, K, d in [("llama2xs-tok512-ctx256", 128, 56),
                      ("babyllama-tok105-ctx256", 128, 64)]:
    ev_folder = f"{shared}/data/models/{ev_name}"
    ev = Hf(ev_folder)
    ev_sp = spm.SentencePieceProcessor(model_file=ev_folder + "/tokenizer.model")
    docs, longppls, nkeys, ppls, ntoks = [], [], [], [], []
    for name in ["pg84_frankenstein.txt", "tinystories_valid_sample.txt"]:
        doc = open(f"{shared}/data/text/{name}", encoding="utf-8").read()
        p = sp512.encode(doc, out_type="immutable_proto").pieces
        text = doc[: p[L - 1].end]  # the characters of the first L tokens
        assert sp512.encode(text) == [x.id for x in p[:L]], "re-tokenizing the cut text changes its tokens"
        r = compute_longppl(text, model, sp512, ev, ev_sp, K, d)
        r["source"] = name
        r["text_chars"] = len(text)
        docs.append(r)
        if r["longppl"] is not None:
            longppls.append(r["longppl"])
            nkeys.append(r["n_key_token"])
        ppls.append(r["ppl"])
        ntoks.append(r["n_token"])
        print("longppl", ev_name, K, d, name, r["longppl"], r["n_key_token"], r["ppl"], "margin", r["decision_margin"],
              file=sys.stderr)
    agg = float((np.stack(longppls) * np.stack(nkeys)).sum() / np.stack(nkeys).sum()) if nkeys else None
    longppl.append({"model": "stories260K", "evaluator": ev_name, "ctx": L, "short_window": K, "stride": d,
                    "alpha": 2.0, "beta": -2.0, "longppl": agg,
                    "ppl": float((np.stack(ppls) * np.stack(ntoks)).sum() / np.stack(ntoks).sum()), "docs": docs})
out["longppl_reference"] = {
    "key_tokens": "indices i of the evaluated tokens cal_overlap marks (their loss is loss_overall[i - 1])",
    "evaluator_keys": "indices into the evaluator's input_ids (BOS at 0)",
    "key_spans_chars": "merged key spans, character offsets into the text",
    "decision_margin": "smallest distance of a key decision's two quantities from their thresholds",
    "cases": longppl}

# HF spans of a text with split characters (byte pieces), for hf_token_spans.
sample = "héllo 中 wörld — “quoted” 𝄞 end"
ids, offs = encode_hf(sp512, sample, add_bos=False)
out["hf_spans"] = {"tokenizer": "tok512", "text": sample, "ids": ids, "spans_chars": offs.tolist()}
json.dump(out, sys.stdout, indent=1)
print(file=sys.stdout)
