#!/usr/bin/python3
"""Independent float64 implementation of every RoPE method's inverse frequencies and
attention factor (shared/reference/rope-methods.md §3), for golden perplexities.
`rope(d, theta, mpe, scaling, L)` -> (inv_freq list, attention_factor)."""
import math


def _inv0(d, theta):
    return [1.0 / theta ** (2 * i / d) for i in range(d // 2)]


def _mscale(x, m=1.0):
    return 1.0 if x <= 1 else 0.1 * m * math.log(x) + 1.0


def _yarn(d, theta, orig, s, beta_fast, beta_slow, attention_factor, mscale=None, mscale_all_dim=None,
          truncate=True):
    if attention_factor is None:
        if mscale and mscale_all_dim:
            attention_factor = _mscale(s, mscale) / _mscale(s, mscale_all_dim)
        else:
            attention_factor = _mscale(s)

    def corr(r):
        return d * math.log(orig / (2 * math.pi * r)) / (2 * math.log(theta))

    low, high = corr(beta_fast), corr(beta_slow)
    if truncate:
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, d - 1)
    if low == high:
        high += 0.001
    inv0 = _inv0(d, theta)
    out = []
    for i, f in enumerate(inv0):
        ramp = min(max((i - low) / (high - low), 0.0), 1.0)
        w = 1 - ramp  # weight of the unscaled frequency
        out.append(f / s * (1 - w) + f * w)
    return out, attention_factor


def rope(d, theta, mpe, sc, L):
    t = (sc or {}).get("rope_type", (sc or {}).get("type", "default"))
    theta = (sc or {}).get("rope_theta", theta)
    if t == "default":
        return _inv0(d, theta), 1.0
    if t == "linear":
        return [f / sc["factor"] for f in _inv0(d, theta)], 1.0
    if t == "ntk":
        base = theta * sc["factor"] ** (d / (d - 2))
        return _inv0(d, base), 1.0
    if t == "dynamic":
        Ls = max(L, mpe)
        base = theta * (sc["factor"] * Ls / mpe - (sc["factor"] - 1)) ** (d / (d - 2))
        return _inv0(d, base), 1.0
    orig = sc.get("original_max_position_embeddings", mpe)
    if t == "yarn":
        return _yarn(d, theta, orig, sc["factor"], sc.get("beta_fast") or 32, sc.get("beta_slow") or 1,
                     sc.get("attention_factor"), sc.get("mscale"), sc.get("mscale_all_dim"), sc.get("truncate", True))
    if t == "ntk_by_parts":
        return _yarn(d, theta, orig, sc["factor"], sc.get("beta_fast") or 32, sc.get("beta_slow") or 1, 1.0)
    if t == "longrope":
        s = sc.get("factor", mpe / orig)
        af = sc.get("attention_factor")
        if af is None:
            af = 1.0 if s <= 1 else math.sqrt(1 + math.log(s) / math.log(orig))
        ext = sc["long_factor"] if L > orig else sc["short_factor"]
        return [1.0 / (e * theta ** (2 * i / d)) for i, e in enumerate(ext)], af
    if t == "llama3":
        f, lo, hi = sc["factor"], sc["low_freq_factor"], sc["high_freq_factor"]
        lam_low, lam_high = orig / lo, orig / hi
        out = []
        for inv in _inv0(d, theta):
            lam = 2 * math.pi / inv
            if lam < lam_high:
                out.append(inv)
            elif lam > lam_low:
                out.append(inv / f)
            else:
                sm = (orig / lam - lo) / (hi - lo)
                out.append((1 - sm) * inv / f + sm * inv)
        return out, 1.0
    raise ValueError(t)
